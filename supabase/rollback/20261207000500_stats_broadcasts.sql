-- No broadcasts from the database.
drop trigger stats_dirty_keys_broadcast on private.stats_dirty_keys;
drop function private.broadcast_changed_chapter();
drop function private.broadcast_days_cap();
drop index private.stats_dirty_keys_transaction;
