-- Participants, their accounts, positions, the position journal, limits and callback endpoints.
--
-- Conventions for the whole schema:
-- * identifiers compare exactly (utf8mb4_bin): FSPIOP ids and FSP names are case-sensitive;
-- * money is exact: DECIMAL(22,4) for a transfer amount or limit (an FSPIOP amount has at most
--   18 integer and 4 fractional digits), DECIMAL(28,4) for positions, which are sums of amounts;
-- * times are DATETIME(3) in UTC (FSPIOP timestamps carry milliseconds);
-- * journals are append-only and carry unique keys that make a double entry impossible.

CREATE TABLE participant (
    participant_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(32) NOT NULL,
    description VARCHAR(512) NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_hub BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_by VARCHAR(128) NOT NULL DEFAULT 'system',
    PRIMARY KEY (participant_id),
    UNIQUE KEY uq_participant_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The hub operator is a participant too (it owns the reconciliation and multilateral
-- settlement accounts that funds in/out move against). Its display name is configuration
-- (HUB_NAME); the row is found by is_hub, never by name.
INSERT INTO participant (participant_id, name, description, is_active, is_hub, created_by)
VALUES (1, 'Hub', 'Hub operator', TRUE, TRUE, 'migration');

CREATE TABLE ledger_account_type (
    ledger_account_type VARCHAR(32) NOT NULL,
    description VARCHAR(256) NOT NULL,
    PRIMARY KEY (ledger_account_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO ledger_account_type (ledger_account_type, description) VALUES
    ('POSITION', 'A DFSP''s net position in a currency: positive = net debtor'),
    ('SETTLEMENT', 'A DFSP''s settlement (liquidity) account: funds in make it negative'),
    ('HUB_RECONCILIATION', 'Hub account funds in/out move against'),
    ('HUB_MULTILATERAL_SETTLEMENT', 'Hub account used by multilateral settlement');

-- "Account" = central-ledger's participantCurrency: one per participant, currency and type.
CREATE TABLE account (
    account_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    participant_id INT UNSIGNED NOT NULL,
    currency CHAR(3) NOT NULL,
    ledger_account_type VARCHAR(32) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_by VARCHAR(128) NOT NULL DEFAULT 'system',
    PRIMARY KEY (account_id),
    UNIQUE KEY uq_account (participant_id, currency, ledger_account_type),
    CONSTRAINT fk_account_participant FOREIGN KEY (participant_id) REFERENCES participant (participant_id),
    CONSTRAINT fk_account_type FOREIGN KEY (ledger_account_type) REFERENCES ledger_account_type (ledger_account_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One position row per account (the primary key makes that structural, unlike central-ledger).
-- I1: value = opening_value + SUM(position_change.change_amount) for the account, at every commit.
CREATE TABLE participant_position (
    account_id INT UNSIGNED NOT NULL,
    value DECIMAL(28, 4) NOT NULL,
    reserved_value DECIMAL(28, 4) NOT NULL DEFAULT 0,
    opening_value DECIMAL(28, 4) NOT NULL,
    changed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (account_id),
    CONSTRAINT fk_position_account FOREIGN KEY (account_id) REFERENCES account (account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE participant_limit (
    account_id INT UNSIGNED NOT NULL,
    limit_type VARCHAR(32) NOT NULL,
    value DECIMAL(22, 4) NOT NULL,
    threshold_alarm_percentage DECIMAL(5, 2) NOT NULL DEFAULT 10,
    changed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    changed_by VARCHAR(128) NOT NULL DEFAULT 'system',
    PRIMARY KEY (account_id, limit_type),
    CONSTRAINT ck_limit_type CHECK (limit_type IN ('NET_DEBIT_CAP')),
    CONSTRAINT ck_limit_value CHECK (value >= 0),
    CONSTRAINT fk_limit_account FOREIGN KEY (account_id) REFERENCES account (account_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE participant_endpoint (
    participant_id INT UNSIGNED NOT NULL,
    endpoint_type VARCHAR(64) NOT NULL,
    value VARCHAR(512) NOT NULL,
    changed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    changed_by VARCHAR(128) NOT NULL DEFAULT 'system',
    PRIMARY KEY (participant_id, endpoint_type),
    CONSTRAINT fk_endpoint_participant FOREIGN KEY (participant_id) REFERENCES participant (participant_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Bumped in the same transaction as every admin change. Handlers compare it once per batch
-- and drop their participant/account/endpoint caches when it moved, so an admin change is
-- seen by the next batch without a restart and without a cache lookup per message.
CREATE TABLE admin_change_epoch (
    id TINYINT UNSIGNED NOT NULL,
    epoch BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_single_epoch_row CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO admin_change_epoch (id, epoch) VALUES (1, 0);
