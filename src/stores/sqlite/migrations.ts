/**
 * The SQLite store's schema as versioned migrations: the position in `SQLITE_MIGRATIONS` is the
 * version that migration brings the database to, recorded in `PRAGMA user_version` (0 = a new,
 * empty file). Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the
 * version bump, so a crash leaves the old or the new version, never half of one; running the
 * list twice is the same as running it once, because a migration whose version is already
 * recorded is skipped (re-checked inside the transaction, so concurrent openers do not race).
 *
 * Never edit a released migration: append a new one.
 *
 * Columns marked (json) hold the JSON text made by `encodeJson` — payloads and free text such as
 * errors — so NUL, lone surrogates and every other string round-trip byte-exactly (SQLite's UTF-8
 * TEXT would turn a lone surrogate into U+FFFD).
 */

/** `PRAGMA application_id` of a crewstate database: "crws". */
export const SQLITE_APPLICATION_ID = 0x63727773;

export const SQLITE_MIGRATIONS: readonly string[] = [
  // 0: the empty database.
  "",
  // 1: runs, task records, the event log and the call journal.
  `
  CREATE TABLE runs (
    run_id     TEXT PRIMARY KEY NOT NULL,
    crew       TEXT NOT NULL,               -- (json) string
    inputs     TEXT NOT NULL,               -- (json) object of JSON values
    status     TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    error      TEXT NOT NULL,               -- (json) string or null
    created_at TEXT NOT NULL,
    -- A task commit writes only its task and its event, not this row: the run's updatedAt is the
    -- \`at\` of its last event when that event came after updated_seq, else updated_at.
    updated_at  TEXT NOT NULL,
    updated_seq INTEGER NOT NULL            -- seq of the run's last event when updated_at was set
  ) STRICT;
  CREATE INDEX runs_newest ON runs (created_at DESC, run_id DESC);

  CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,   -- grows with each new record: first-recorded order
    run_id           TEXT NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    input_hash       TEXT,
    output           TEXT NOT NULL,         -- (json) string or null
    structured       TEXT NOT NULL,         -- (json)
    output_hash      TEXT,
    started_at       TEXT,
    completed_at     TEXT,
    attempts         INTEGER NOT NULL,
    error            TEXT NOT NULL,         -- (json) string or null
    usage            TEXT NOT NULL,         -- (json) token usage or null
    model            TEXT NOT NULL,         -- (json) string or null
    worker           TEXT NOT NULL,         -- (json) string or null
    fencing_token    INTEGER NOT NULL,
    lease_expires_at TEXT,
    UNIQUE (run_id, name)                   -- also how a run's tasks are found (then sorted by id)
  ) STRICT;

  CREATE TABLE events (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,                -- 1, 2, 3… per run: the next is max(seq) + 1
    task   TEXT,
    type   TEXT NOT NULL,
    at     TEXT NOT NULL,
    data   TEXT NOT NULL,                   -- (json) object or null
    PRIMARY KEY (run_id, seq)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE calls (
    run_id       TEXT NOT NULL,
    task         TEXT NOT NULL,
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,             -- (json)
    usage        TEXT NOT NULL,             -- (json) token usage or null
    at           TEXT NOT NULL,
    PRIMARY KEY (run_id, task, position)
  ) STRICT;

  PRAGMA application_id = ${SQLITE_APPLICATION_ID};
  `,
  // 2: what a run runs (a crew or a flow) and where it came from. Rows written before read as crew
  // runs without a parent.
  `
  ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'crew' CHECK (kind IN ('crew', 'flow'));
  ALTER TABLE runs ADD COLUMN parent_run_id TEXT;      -- null: no parent
  ALTER TABLE runs ADD COLUMN parent_task TEXT;        -- null: the whole parent run
  `,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length - 1;
