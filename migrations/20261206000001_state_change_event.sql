-- The event (a DFSP request or a hub message) that made a state change. A handler meeting a
-- transfer already in the state its step leads to tells a redelivery of its own message (same
-- event: produce the same output again) from another request or a re-drive copy (another event:
-- answer as a duplicate, or say nothing more), docs/duplicates-and-replays.md#who-decided.
-- NULL for changes made before this column existed and for admin funds transfers.
ALTER TABLE transfer_state_change ADD COLUMN event_id VARCHAR(64) NULL;
