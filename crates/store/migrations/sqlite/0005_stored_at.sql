-- The retention counts from when a row was written, not from the time of its lines.
CREATE INDEX windows_stored_at ON windows (stored_at);
CREATE INDEX incidents_updated_at ON incidents (updated_at);
