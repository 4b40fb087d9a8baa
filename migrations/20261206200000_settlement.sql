-- Settlement (docs/settlement.md): windows, the committed money of each window, settlements
-- over closed windows and the accounts they settle. State names are central-settlement's.

CREATE TABLE settlement_window (
    settlement_window_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    created_at DATETIME(3) NOT NULL,
    changed_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_window_id),
    KEY ix_settlement_window_created (created_at),
    KEY ix_settlement_window_state (state),
    CONSTRAINT ck_settlement_window_state CHECK (state IN ('OPEN', 'CLOSED', 'PENDING_SETTLEMENT', 'SETTLED', 'ABORTED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only journal of every window's states.
CREATE TABLE settlement_window_state_change (
    settlement_window_state_change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    settlement_window_id BIGINT UNSIGNED NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_window_state_change_id),
    KEY ix_window_state_change_window (settlement_window_id),
    CONSTRAINT fk_window_state_change_window FOREIGN KEY (settlement_window_id) REFERENCES settlement_window (settlement_window_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The one OPEN window. A commit batch reads it under a shared lock (batches never wait for each
-- other); closing takes it exclusively, so every batch that recorded into the old window has
-- committed before the close reads the window's content, and every later one sees the new
-- window.
CREATE TABLE settlement_window_current (
    id TINYINT UNSIGNED NOT NULL,
    settlement_window_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_single_current_window CHECK (id = 1),
    CONSTRAINT fk_current_window FOREIGN KEY (settlement_window_id) REFERENCES settlement_window (settlement_window_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO settlement_window (settlement_window_id, state, reason, created_at, changed_at)
VALUES (1, 'OPEN', 'initial window', CURRENT_TIMESTAMP(3), CURRENT_TIMESTAMP(3));
INSERT INTO settlement_window_state_change (settlement_window_id, state, reason, created_at)
VALUES (1, 'OPEN', 'initial window', CURRENT_TIMESTAMP(3));
INSERT INTO settlement_window_current (id, settlement_window_id) VALUES (1, 1);

-- Committed money of a window between two POSITION accounts, aggregated by the position
-- handler inside each commit batch. The key starts with the payee's account, which is the
-- position message key, so one row is written by one partition's consumer only.
CREATE TABLE settlement_window_flow (
    settlement_window_id BIGINT UNSIGNED NOT NULL,
    payee_account_id INT UNSIGNED NOT NULL,
    payer_account_id INT UNSIGNED NOT NULL,
    currency CHAR(3) NOT NULL,
    amount DECIMAL(28, 4) NOT NULL,
    transfer_count BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (settlement_window_id, payee_account_id, payer_account_id),
    KEY ix_window_flow_payer (payer_account_id),
    CONSTRAINT ck_window_flow_amount CHECK (amount >= 0),
    CONSTRAINT fk_window_flow_window FOREIGN KEY (settlement_window_id) REFERENCES settlement_window (settlement_window_id),
    CONSTRAINT fk_window_flow_payee FOREIGN KEY (payee_account_id) REFERENCES account (account_id),
    CONSTRAINT fk_window_flow_payer FOREIGN KEY (payer_account_id) REFERENCES account (account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A closed window's content per ledger account type and currency, written by the close; a
-- settlement takes the contents its model covers.
CREATE TABLE settlement_window_content (
    settlement_window_content_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    settlement_window_id BIGINT UNSIGNED NOT NULL,
    ledger_account_type VARCHAR(32) NOT NULL,
    currency CHAR(3) NOT NULL,
    state VARCHAR(32) NOT NULL,
    settlement_id BIGINT UNSIGNED NULL,
    created_at DATETIME(3) NOT NULL,
    changed_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_window_content_id),
    UNIQUE KEY uq_window_content (settlement_window_id, ledger_account_type, currency),
    CONSTRAINT ck_window_content_state CHECK (state IN ('CLOSED', 'PENDING_SETTLEMENT', 'SETTLED', 'ABORTED')),
    CONSTRAINT fk_window_content_window FOREIGN KEY (settlement_window_id) REFERENCES settlement_window (settlement_window_id),
    CONSTRAINT fk_window_content_type FOREIGN KEY (ledger_account_type) REFERENCES ledger_account_type (ledger_account_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE settlement (
    settlement_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    settlement_model_id INT UNSIGNED NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    created_at DATETIME(3) NOT NULL,
    changed_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_id),
    KEY ix_settlement_created (created_at),
    CONSTRAINT ck_settlement_state CHECK (state IN ('PENDING_SETTLEMENT', 'PS_TRANSFERS_RECORDED', 'PS_TRANSFERS_RESERVED', 'PS_TRANSFERS_COMMITTED', 'SETTLING', 'SETTLED', 'ABORTED')),
    CONSTRAINT fk_settlement_model FOREIGN KEY (settlement_model_id) REFERENCES settlement_model (settlement_model_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE settlement_state_change (
    settlement_state_change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    settlement_id BIGINT UNSIGNED NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_state_change_id),
    KEY ix_settlement_state_change (settlement_id),
    CONSTRAINT fk_settlement_state_change FOREIGN KEY (settlement_id) REFERENCES settlement (settlement_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One settled POSITION (or INTERCHANGE_FEE) account of a settlement with its net amount (positive:
-- net sender) and, once recorded, the settlement transfer that moves it against its settlement
-- account. The unique transfer id makes a second settlement transfer for the same account and
-- settlement impossible.
CREATE TABLE settlement_participant_account (
    settlement_id BIGINT UNSIGNED NOT NULL,
    account_id INT UNSIGNED NOT NULL,
    participant_id INT UNSIGNED NOT NULL,
    settlement_account_id INT UNSIGNED NOT NULL,
    currency CHAR(3) NOT NULL,
    net_amount DECIMAL(28, 4) NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    external_reference VARCHAR(256) NULL,
    transfer_id VARCHAR(36) NULL,
    created_at DATETIME(3) NOT NULL,
    changed_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_id, account_id),
    UNIQUE KEY uq_settlement_account_transfer (transfer_id),
    KEY ix_settlement_account_participant (participant_id),
    CONSTRAINT ck_settlement_account_state CHECK (state IN ('PENDING_SETTLEMENT', 'PS_TRANSFERS_RECORDED', 'PS_TRANSFERS_RESERVED', 'PS_TRANSFERS_COMMITTED', 'SETTLED', 'ABORTED')),
    CONSTRAINT fk_settlement_account_settlement FOREIGN KEY (settlement_id) REFERENCES settlement (settlement_id),
    CONSTRAINT fk_settlement_account_account FOREIGN KEY (account_id) REFERENCES account (account_id),
    CONSTRAINT fk_settlement_account_settlement_account FOREIGN KEY (settlement_account_id) REFERENCES account (account_id),
    CONSTRAINT fk_settlement_account_transfer FOREIGN KEY (transfer_id) REFERENCES transfer (transfer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE settlement_account_state_change (
    settlement_account_state_change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    settlement_id BIGINT UNSIGNED NOT NULL,
    account_id INT UNSIGNED NOT NULL,
    state VARCHAR(32) NOT NULL,
    reason VARCHAR(512) NULL,
    external_reference VARCHAR(256) NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (settlement_account_state_change_id),
    KEY ix_settlement_account_state_change (settlement_id, account_id),
    CONSTRAINT fk_settlement_account_state_change FOREIGN KEY (settlement_id, account_id) REFERENCES settlement_participant_account (settlement_id, account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Settlement transfers walk the transfer state machine and position journal like funds in/out.
ALTER TABLE transfer DROP CONSTRAINT ck_transfer_kind;
ALTER TABLE transfer ADD CONSTRAINT ck_transfer_kind CHECK (kind IN ('TRANSFER', 'FUNDS_IN', 'FUNDS_OUT', 'SETTLEMENT'));
