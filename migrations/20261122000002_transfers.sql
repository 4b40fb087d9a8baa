-- Transfers: duplicate-check records, the transfer with its current state, the append-only
-- state-change journal, fulfilments, errors, extensions, ILP packets, the timeout index and
-- the append-only position journal.

CREATE TABLE transfer_state (
    state VARCHAR(32) NOT NULL,
    enumeration VARCHAR(16) NOT NULL,
    is_final BOOLEAN NOT NULL,
    description VARCHAR(256) NOT NULL,
    PRIMARY KEY (state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO transfer_state (state, enumeration, is_final, description) VALUES
    ('RECEIVED_PREPARE', 'RECEIVED', FALSE, 'Valid prepare stored, not yet reserved'),
    ('INVALID', 'ABORTED', TRUE, 'Prepare failed validation (3100)'),
    ('RESERVED', 'RESERVED', FALSE, 'Payer position debited'),
    ('RECEIVED_FULFIL', 'RESERVED', FALSE, 'Valid fulfilment received, commit pending'),
    ('RECEIVED_REJECT', 'RESERVED', FALSE, 'Funds-out abort received, reversal pending'),
    ('RECEIVED_ERROR', 'RESERVED', FALSE, 'Payee or hub error received, reversal pending'),
    ('RESERVED_TIMEOUT', 'RESERVED', FALSE, 'Expired while reserved, reversal pending'),
    ('COMMITTED', 'COMMITTED', TRUE, 'Payee position credited'),
    ('ABORTED_REJECTED', 'ABORTED', TRUE, 'Rejected by the position check or a funds-out abort'),
    ('ABORTED_ERROR', 'ABORTED', TRUE, 'Aborted by an error, payer reversed'),
    ('EXPIRED_PREPARED', 'ABORTED', TRUE, 'Expired before reservation'),
    ('EXPIRED_RESERVED', 'ABORTED', TRUE, 'Expired after reservation, payer reversed');

-- Insert-first duplicate check for POST /transfers (and admin funds in/out): the primary key is
-- what makes two racing first requests produce exactly one transfer. request_hash is SHA-256 of
-- the canonical (sorted-key, compact) JSON body; source_event_id is the boundary message's
-- metadata.event.id, which tells a broker redelivery (same event) from a DFSP resend.
CREATE TABLE transfer_duplicate_check (
    transfer_id VARCHAR(36) NOT NULL,
    request_hash BINARY(32) NOT NULL,
    source_event_id VARCHAR(64) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The transfer and its current state (a denormalised copy of the newest journal row, so that
-- no read needs "latest state change" subqueries). For an INVALID prepare the participant and
-- account columns are NULL where the prepare named something unknown, and amount is NULL
-- only when the text did not match the FSPIOP amount pattern at all.
CREATE TABLE transfer (
    transfer_id VARCHAR(36) NOT NULL,
    kind VARCHAR(16) NOT NULL DEFAULT 'TRANSFER',
    payer_fsp VARCHAR(32) NOT NULL,
    payee_fsp VARCHAR(32) NOT NULL,
    payer_participant_id INT UNSIGNED NULL,
    payee_participant_id INT UNSIGNED NULL,
    payer_account_id INT UNSIGNED NULL,
    payee_account_id INT UNSIGNED NULL,
    amount DECIMAL(22, 4) NULL,
    currency CHAR(3) NOT NULL,
    ilp_condition VARCHAR(48) NULL,
    expiration DATETIME(3) NULL,
    state VARCHAR(32) NOT NULL,
    state_changed_at DATETIME(3) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id),
    KEY ix_transfer_payer (payer_participant_id),
    KEY ix_transfer_payee (payee_participant_id),
    CONSTRAINT ck_transfer_kind CHECK (kind IN ('TRANSFER', 'FUNDS_IN', 'FUNDS_OUT')),
    CONSTRAINT ck_transfer_amount CHECK (amount IS NULL OR amount >= 0),
    CONSTRAINT fk_transfer_duplicate_check FOREIGN KEY (transfer_id) REFERENCES transfer_duplicate_check (transfer_id),
    CONSTRAINT fk_transfer_state FOREIGN KEY (state) REFERENCES transfer_state (state),
    CONSTRAINT fk_transfer_payer FOREIGN KEY (payer_participant_id) REFERENCES participant (participant_id),
    CONSTRAINT fk_transfer_payee FOREIGN KEY (payee_participant_id) REFERENCES participant (participant_id),
    CONSTRAINT fk_transfer_payer_account FOREIGN KEY (payer_account_id) REFERENCES account (account_id),
    CONSTRAINT fk_transfer_payee_account FOREIGN KEY (payee_account_id) REFERENCES account (account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only state journal. The transfer state graph has no cycles, so a transfer enters each
-- state at most once: the unique key makes a doubly applied transition impossible.
CREATE TABLE transfer_state_change (
    transfer_state_change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    transfer_id VARCHAR(36) NOT NULL,
    from_state VARCHAR(32) NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (transfer_state_change_id),
    UNIQUE KEY uq_transfer_state_change (transfer_id, state),
    CONSTRAINT fk_state_change_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id),
    CONSTRAINT fk_state_change_state FOREIGN KEY (state) REFERENCES transfer_state (state),
    CONSTRAINT fk_state_change_from_state FOREIGN KEY (from_state) REFERENCES transfer_state (state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE transfer_fulfilment_duplicate_check (
    transfer_id VARCHAR(36) NOT NULL,
    request_hash BINARY(32) NULL,
    source_event_id VARCHAR(64) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id),
    CONSTRAINT fk_fulfilment_duplicate_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE transfer_error_duplicate_check (
    transfer_id VARCHAR(36) NOT NULL,
    request_hash BINARY(32) NULL,
    source_event_id VARCHAR(64) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id),
    CONSTRAINT fk_error_duplicate_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- requested_state is the payee's transferState (COMMITTED, or RESERVED for the flow that ends
-- with a PATCH to the payee): needed to finish the commit the same way if its message is lost.
CREATE TABLE transfer_fulfilment (
    transfer_id VARCHAR(36) NOT NULL,
    ilp_fulfilment VARCHAR(48) NULL,
    completed_at DATETIME(3) NOT NULL,
    requested_state VARCHAR(16) NOT NULL,
    is_valid BOOLEAN NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id),
    CONSTRAINT ck_fulfilment_requested_state CHECK (requested_state IN ('COMMITTED', 'RESERVED')),
    CONSTRAINT fk_fulfilment_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- At most one error per transfer: the one that decided its abort.
CREATE TABLE transfer_error (
    transfer_id VARCHAR(36) NOT NULL,
    state VARCHAR(32) NOT NULL,
    error_code SMALLINT UNSIGNED NOT NULL,
    error_description VARCHAR(128) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (transfer_id),
    CONSTRAINT ck_error_code CHECK (error_code BETWEEN 1000 AND 9999),
    CONSTRAINT fk_error_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id),
    CONSTRAINT fk_error_state FOREIGN KEY (state) REFERENCES transfer_state (state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE transfer_extension (
    transfer_extension_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    transfer_id VARCHAR(36) NOT NULL,
    phase VARCHAR(16) NOT NULL,
    position_in_list TINYINT UNSIGNED NOT NULL,
    ext_key VARCHAR(32) NOT NULL,
    ext_value VARCHAR(128) NOT NULL,
    PRIMARY KEY (transfer_extension_id),
    UNIQUE KEY uq_transfer_extension (transfer_id, phase, position_in_list),
    CONSTRAINT ck_extension_phase CHECK (phase IN ('PREPARE', 'FULFIL', 'ERROR')),
    CONSTRAINT fk_extension_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE ilp_packet (
    transfer_id VARCHAR(36) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (transfer_id),
    CONSTRAINT fk_ilp_packet_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- What the timeout handler scans: one row per transfer that is not final yet, written with the
-- prepare and deleted in the transaction that makes the transfer final. `due_at` starts as the
-- transfer's expiration; the handler pushes it forward when it re-drives a transfer whose
-- next step was lost, so a stuck transfer is retried without being rescanned every cycle.
CREATE TABLE transfer_timeout (
    transfer_id VARCHAR(36) NOT NULL,
    expiration DATETIME(3) NOT NULL,
    due_at DATETIME(3) NOT NULL,
    PRIMARY KEY (transfer_id),
    KEY ix_transfer_timeout_due (due_at),
    CONSTRAINT fk_timeout_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only position journal. A transfer touches an account at most once per phase:
--   RESERVE (debit side at reservation, +amount), COMMIT (credit side, -amount),
--   REVERSE (undo of the RESERVE on abort or expiry, -amount).
-- The unique key makes a doubly applied reservation, commit or reversal impossible (I2).
CREATE TABLE position_change (
    position_change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    account_id INT UNSIGNED NOT NULL,
    transfer_id VARCHAR(36) NOT NULL,
    phase VARCHAR(16) NOT NULL,
    change_amount DECIMAL(28, 4) NOT NULL,
    value_after DECIMAL(28, 4) NOT NULL,
    reserved_after DECIMAL(28, 4) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (position_change_id),
    UNIQUE KEY uq_position_change (transfer_id, account_id, phase),
    KEY ix_position_change_account (account_id, position_change_id),
    CONSTRAINT ck_position_change_phase CHECK (phase IN ('RESERVE', 'COMMIT', 'REVERSE')),
    CONSTRAINT fk_position_change_position FOREIGN KEY (account_id) REFERENCES participant_position (account_id),
    CONSTRAINT fk_position_change_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
