-- The append-only event log. `id` is the local arrival order (what `events --follow`
-- and replication stream); the fold order is (hlc, origin, seq).
CREATE TABLE events (
  id     INTEGER PRIMARY KEY,
  origin INTEGER NOT NULL,
  seq    INTEGER NOT NULL,
  hlc    INTEGER NOT NULL,
  type   TEXT    NOT NULL,
  data   TEXT    NOT NULL,
  prev   TEXT    NOT NULL,
  hash   TEXT    NOT NULL,
  idem   TEXT,
  UNIQUE (origin, seq)
);
CREATE INDEX events_fold_order ON events (hlc, origin, seq);
CREATE INDEX events_idem ON events (idem) WHERE idem IS NOT NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is forbidden'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is forbidden'); END;

-- Snapshots of the folded state: every event at or before the position (hlc, origin, seq)
-- in fold order, and no other. Derived data: a snapshot may be dropped and rebuilt.
CREATE TABLE snapshots (
  id          INTEGER PRIMARY KEY,
  hlc         INTEGER NOT NULL,
  origin      INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  state_hash  TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX snapshots_position ON snapshots (hlc, origin, seq);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
