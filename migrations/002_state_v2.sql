-- The folded state gained accounts and the keys of recently applied commands (state
-- version 2). Snapshots are derived data: the older ones are dropped, and the next
-- start folds the log from its beginning and takes new ones.
DELETE FROM snapshots WHERE json_extract(state, '$.v') IS NOT 2;
