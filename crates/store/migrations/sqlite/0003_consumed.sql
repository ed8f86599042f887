-- Messages of the shared stream whose events are counted in stored windows: how many of each
-- message's events were, written in the transaction of the windows that hold them. A message
-- delivered again (its instance died before acknowledging it) skips what is already counted.
CREATE TABLE consumed (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    events INTEGER NOT NULL,
    -- When the row was last written, for the retention.
    at TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE INDEX consumed_at ON consumed (at);
