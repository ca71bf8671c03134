-- The events feed names who made each change (the same label as the audit log), and forgets
-- events past the retention window by time.
ALTER TABLE events ADD COLUMN actor TEXT;
CREATE INDEX events_at ON events (at);
