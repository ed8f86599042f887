-- Silences (Prometheus Alertmanager's): the whole silence as JSON, and the columns queries
-- filter on. Times are RFC 3339 text of one width, as in incidents. Expiring a silence moves
-- its end to now: it is kept, with its history, until the retention deletes it.
-- matched_at is when it first muted an open incident; for it the column wins over the JSON.
CREATE TABLE silences (
    id TEXT PRIMARY KEY NOT NULL,
    starts_at TEXT COLLATE "C" NOT NULL,
    ends_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    matched_at TEXT COLLATE "C",
    silence TEXT NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- Notifications a silence keeps back: per incident, the first transition its receivers have
-- not heard of. When no silence mutes the incident any more and it is still open, the
-- transition goes to the outbox with the incident as it is then, once.
CREATE TABLE held (
    incident_id TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    transition TEXT NOT NULL,
    held_at TEXT COLLATE "C" NOT NULL
);
