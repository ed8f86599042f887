-- The incident each window was folded into (its fingerprint; NULL for a window no incident
-- counts) and the lines it added there: an incident's counts are the sums over its windows.
ALTER TABLE windows ADD COLUMN incident TEXT;
ALTER TABLE windows ADD COLUMN incident_lines BIGINT NOT NULL DEFAULT 0;
