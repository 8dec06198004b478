-- A snapshot's state is stored in parts of at most 1 MiB of text (snapshot_parts), so
-- that the tracker can write a big one a part at a time, between commands: a million
-- events' state (13 MB) written in one transaction held its event loop 60-250 ms. The
-- parts are written first; the snapshots row, written last, makes the snapshot visible.
-- Parts without a row are an unfinished write (the tracker stopped meanwhile), dropped
-- at the next start. Deleting a snapshot's row deletes its parts.
CREATE TABLE snapshot_parts (
  snapshot INTEGER NOT NULL,
  part     INTEGER NOT NULL,
  text     TEXT    NOT NULL,
  PRIMARY KEY (snapshot, part)
);
INSERT INTO snapshot_parts (snapshot, part, text) SELECT id, 0, state FROM snapshots;
ALTER TABLE snapshots DROP COLUMN state;

CREATE TRIGGER snapshots_delete_parts AFTER DELETE ON snapshots
BEGIN DELETE FROM snapshot_parts WHERE snapshot = old.id; END;
