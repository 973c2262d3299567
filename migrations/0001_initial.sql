-- Conversations, their events and the analytics log, plus the knowledge the
-- index is built from. The store is the source of truth: the tantivy index
-- can always be rebuilt from faq_entries and passages.

CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    language TEXT,
    locale TEXT,
    state TEXT NOT NULL DEFAULT 'bot' CHECK (state IN ('bot', 'queued', 'staff', 'resolved')),
    owner_staff_id TEXT,
    state_version INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    pending_order TEXT,
    failed_order_attempts INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'state', 'rating')),
    author TEXT NOT NULL CHECK (author IN ('buyer', 'bot', 'staff', 'system')),
    client_id TEXT,
    reply_id TEXT,
    text TEXT,
    language TEXT,
    machine_translated INTEGER NOT NULL DEFAULT 0,
    answer_source TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    reply_to INTEGER,
    state TEXT,
    reason TEXT,
    note TEXT,
    rating TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (conversation_id, seq)
);

CREATE UNIQUE INDEX events_client_id ON events (conversation_id, client_id)
    WHERE client_id IS NOT NULL;

-- One row per buyer message the bot handled: what it saw, found and sent.
CREATE TABLE turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    buyer_seq INTEGER NOT NULL,
    reply_seq INTEGER,
    detected_language TEXT,
    language_confidence REAL NOT NULL,
    reply_language TEXT NOT NULL,
    search_language TEXT,
    translated_query TEXT,
    hits TEXT NOT NULL DEFAULT '[]',
    answer_source TEXT NOT NULL,
    machine_translated INTEGER NOT NULL DEFAULT 0,
    check_failure TEXT,
    dropped INTEGER NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL,
    generated_tokens INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX turns_conversation ON turns (conversation_id);

CREATE TABLE state_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    version INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE ratings (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq INTEGER NOT NULL,
    value TEXT NOT NULL CHECK (value IN ('up', 'down')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (conversation_id, seq)
);

-- Every attempt to prove an order, for per-conversation and per-address limits.
CREATE TABLE order_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    address TEXT NOT NULL,
    order_number TEXT NOT NULL,
    success INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX order_attempts_address ON order_attempts (address, created_at);

CREATE TABLE faq_entries (
    id TEXT NOT NULL,
    language TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '',
    reviewed INTEGER NOT NULL DEFAULT 1,
    source TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (id, language)
);

-- Product documents split into passages.
CREATE TABLE passages (
    id TEXT PRIMARY KEY NOT NULL,
    document TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX passages_document ON passages (document);

CREATE TABLE orders (
    order_number TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    ordered_on TEXT NOT NULL DEFAULT '',
    shipped_on TEXT NOT NULL DEFAULT '',
    estimated_delivery TEXT NOT NULL DEFAULT '',
    destination_country TEXT NOT NULL DEFAULT '',
    items TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL
);

-- Machine translations, so one text is translated and checked once.
CREATE TABLE translations (
    source_hash TEXT NOT NULL,
    target_language TEXT NOT NULL,
    source_text TEXT NOT NULL,
    text TEXT NOT NULL,
    check_failure TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (source_hash, target_language)
);
