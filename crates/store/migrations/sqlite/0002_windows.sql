-- Every analyzed window, by the instance that analyzed it: what `stats` sums across
-- instances. A window's id is its instance and its number in that instance's run; an LLM's
-- revision of a report rewrites its row, never adds one.
CREATE TABLE windows (
    id TEXT PRIMARY KEY NOT NULL,
    instance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    log_count INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    flush TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE INDEX windows_end_at ON windows (end_at);
