BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS events (
    seq                   INTEGER PRIMARY KEY, -- the order written (= emitted, per client)
    request_id            TEXT    NOT NULL,    -- call: pf-...; attempt: pf-....N
    parent_id             TEXT,                -- attempt: its call's id; call: its fusion's
    level                 TEXT    NOT NULL,    -- attempt | call
    started_at_ms         INTEGER NOT NULL,    -- ms since the Unix epoch
    model                 TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    route                 TEXT,
    outcome               TEXT    NOT NULL,    -- ok | error | cancelled
    error_kind            TEXT,                -- rate_limited, server, timeout, cancelled, ...
    streamed              INTEGER NOT NULL,    -- 0 | 1
    attempt               INTEGER,             -- attempt: its number in the call (1-based)
    hedge                 INTEGER NOT NULL,    -- attempt: started as a hedge's backup
    fallback              INTEGER NOT NULL,    -- attempt: not the call's first target; call: answered by one
    input_tokens          INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    cached_input_tokens   INTEGER NOT NULL,
    cache_write_tokens    INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    reasoning_tokens      INTEGER NOT NULL,
    total_tokens          INTEGER NOT NULL,
    cost_usd              REAL,                -- NULL: unknown (never a made-up 0)
    usage_source          TEXT    NOT NULL,    -- reported | estimated | unknown | none
    latency_ms            REAL    NOT NULL,
    ttft_ms               REAL,
    tags                  TEXT    NOT NULL,    -- JSON object ({} when none)
    event                 TEXT    NOT NULL     -- the whole event as JSON
);
CREATE INDEX IF NOT EXISTS events_started_at ON events (started_at_ms);
CREATE INDEX IF NOT EXISTS events_model ON events (model, started_at_ms);
CREATE INDEX IF NOT EXISTS events_level ON events (level, started_at_ms);
CREATE INDEX IF NOT EXISTS events_request_id ON events (request_id);
PRAGMA user_version = 1;
COMMIT;
