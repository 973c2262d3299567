-- Staff accounts and their sign-in sessions, the glossary of protected
-- terms, internal notes, and the fields staff replies add to events.

CREATE TABLE staff (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
    language TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    max_chats INTEGER NOT NULL DEFAULT 5 CHECK (max_chats > 0),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- `term_key` is the term in Unicode lower case, so terms are unique without
-- regard to case in every script (SQLite's NOCASE folds ASCII only).
CREATE TABLE glossary (
    term_key TEXT PRIMARY KEY NOT NULL,
    term TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Notes staff write about a conversation; buyers never receive them. Each
-- belongs after the event `after_seq` and is numbered per conversation.
CREATE TABLE notes (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    id INTEGER NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    client_id TEXT NOT NULL,
    text TEXT NOT NULL,
    after_seq INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (conversation_id, id),
    UNIQUE (conversation_id, client_id)
);

ALTER TABLE conversations ADD COLUMN queue_reason TEXT;
ALTER TABLE conversations ADD COLUMN queued_at TEXT;

CREATE INDEX conversations_state ON conversations (state, owner_staff_id);

-- A staff reply stores what the buyer received in `text` and what the agent
-- wrote in `original_text`.
ALTER TABLE events ADD COLUMN original_text TEXT;
ALTER TABLE events ADD COLUMN original_language TEXT;
ALTER TABLE events ADD COLUMN staff_id TEXT;
ALTER TABLE events ADD COLUMN author_name TEXT;
ALTER TABLE events ADD COLUMN check_failure TEXT;
