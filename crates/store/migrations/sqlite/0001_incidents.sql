-- Incidents: the whole incident as JSON, and the columns the queries filter and sort on.
-- Times are RFC 3339 text with nine fractional digits (one width, so text order is time
-- order); severity is a rank (0 Info, 1 Warning, 2 Critical). The store changes status,
-- resolved_at and acknowledged_at in place: for those the columns win over the JSON. updated_at is when
-- the row was last written (wall clock).
CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    severity INTEGER NOT NULL,
    root_service TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    resolved_at TEXT,
    acknowledged_at TEXT,
    updated_at TEXT NOT NULL,
    incident TEXT NOT NULL
);

-- One open incident per fingerprint, whichever instance opens it.
CREATE UNIQUE INDEX incidents_one_open_per_fingerprint ON incidents (fingerprint)
    WHERE status = 'open';
CREATE INDEX incidents_last_seen ON incidents (last_seen);
CREATE INDEX incidents_opened_at ON incidents (opened_at);
CREATE INDEX incidents_resolved ON incidents (status, resolved_at);
CREATE INDEX incidents_root_service ON incidents (root_service);

-- The services an incident impacted, so that a filter by service needs no JSON function.
CREATE TABLE incident_services (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    PRIMARY KEY (incident_id, service)
);
CREATE INDEX incident_services_service ON incident_services (service);

-- Every opening, escalation, reopening and resolve (not the updates), in order.
CREATE TABLE transitions (
    seq INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    transition TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX transitions_incident ON transitions (incident_id, seq);
