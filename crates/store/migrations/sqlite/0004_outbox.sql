-- Incident transitions waiting for the webhooks, written in the transaction that made them.
-- Whichever instance takes a row first sends it (taking deletes it), so each transition is
-- sent once across every instance, and a transition whose instance died before taking it is
-- sent by another one. A row taken waits in that instance's webhook queue, which a crash
-- loses, as it would without the outbox.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL,
    -- The transition and the incident as it was then, as JSON.
    event TEXT NOT NULL,
    created_at TEXT NOT NULL
);
