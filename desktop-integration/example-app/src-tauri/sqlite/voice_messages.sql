-- One row per final transcript message of a voice conversation (both sides).
-- (room, segment_id) is unique: the frontend hands each final segment over once,
-- and the insert ignores a repeat.
CREATE TABLE IF NOT EXISTS voice_messages (
    id             INTEGER PRIMARY KEY,
    room           TEXT    NOT NULL,              -- LiveKit room: one per conversation
    segment_id     TEXT    NOT NULL,              -- lk.segment_id
    role           TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    text           TEXT    NOT NULL,
    interrupted    INTEGER NOT NULL DEFAULT 0,    -- 1: the reply was cut off (barge-in)
    started_at_ms  INTEGER NOT NULL,              -- sender's clock, ms since the Unix epoch
    saved_at_ms    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    UNIQUE (room, segment_id)
);
CREATE INDEX IF NOT EXISTS voice_messages_by_time ON voice_messages (started_at_ms);
