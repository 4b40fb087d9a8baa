-- The state columns of the two hottest tables are checked against the list of transfer states
-- by CHECK constraints instead of foreign keys to transfer_state. A foreign key makes InnoDB keep
-- a secondary index on the column and look the value up in transfer_state on every insert and
-- update: three index entries moved and three lookups per transfer for `transfer.state` (it
-- changes three times in a committed transfer), and for its four journal rows eight entries in
-- two indexes and seven lookups (the first row has no from_state). Nothing reads by those
-- indexes. A CHECK refuses the same unknown states without
-- either (measured: docs/performance.md, "The state columns checked without foreign keys").
-- transfer_state stays the reference table (descriptions, which states are final); a migration
-- that adds a state adds it to it and to these three lists, and the store's schema test fails
-- until it does.
ALTER TABLE transfer DROP FOREIGN KEY fk_transfer_state;
ALTER TABLE transfer DROP INDEX fk_transfer_state,
    ADD CONSTRAINT ck_transfer_state CHECK (state IN (
        'RECEIVED_PREPARE', 'INVALID', 'RESERVED', 'RECEIVED_FULFIL', 'RECEIVED_REJECT',
        'RECEIVED_ERROR', 'RESERVED_TIMEOUT', 'COMMITTED', 'ABORTED_REJECTED', 'ABORTED_ERROR',
        'EXPIRED_PREPARED', 'EXPIRED_RESERVED'));

ALTER TABLE transfer_state_change
    DROP FOREIGN KEY fk_state_change_state,
    DROP FOREIGN KEY fk_state_change_from_state;
ALTER TABLE transfer_state_change
    DROP INDEX fk_state_change_state,
    DROP INDEX fk_state_change_from_state,
    ADD CONSTRAINT ck_state_change_state CHECK (state IN (
        'RECEIVED_PREPARE', 'INVALID', 'RESERVED', 'RECEIVED_FULFIL', 'RECEIVED_REJECT',
        'RECEIVED_ERROR', 'RESERVED_TIMEOUT', 'COMMITTED', 'ABORTED_REJECTED', 'ABORTED_ERROR',
        'EXPIRED_PREPARED', 'EXPIRED_RESERVED')),
    ADD CONSTRAINT ck_state_change_from_state CHECK (from_state IS NULL OR from_state IN (
        'RECEIVED_PREPARE', 'INVALID', 'RESERVED', 'RECEIVED_FULFIL', 'RECEIVED_REJECT',
        'RECEIVED_ERROR', 'RESERVED_TIMEOUT', 'COMMITTED', 'ABORTED_REJECTED', 'ABORTED_ERROR',
        'EXPIRED_PREPARED', 'EXPIRED_RESERVED'));
