-- What the admin API keeps beyond participants, accounts, limits and endpoints: settlement
-- models (central-ledger's settlementModel) and the participant's proxy flag.

-- A settlement model says which account pair a participant gets per currency: the ledger
-- account (POSITION) and the settlement (liquidity) account (SETTLEMENT). `currency` NULL is the
-- default model, used for a currency that has none of its own. Stored so that onboarding scripts
-- that create one (e.g. DEFERREDNET) keep working and `POST /participants` can require one, as
-- central-ledger does; the transfer flow itself only ever uses POSITION/SETTLEMENT pairs.
CREATE TABLE settlement_model (
    settlement_model_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(50) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    settlement_granularity VARCHAR(16) NOT NULL,
    settlement_interchange VARCHAR(16) NOT NULL,
    settlement_delay VARCHAR(16) NOT NULL,
    currency CHAR(3) NULL,
    require_liquidity_check BOOLEAN NOT NULL,
    ledger_account_type VARCHAR(32) NOT NULL,
    settlement_account_type VARCHAR(32) NOT NULL,
    auto_position_reset BOOLEAN NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_by VARCHAR(128) NOT NULL DEFAULT 'system',
    PRIMARY KEY (settlement_model_id),
    UNIQUE KEY uq_settlement_model_name (name),
    -- central-ledger's unique key: one model per currency and ledger account type.
    UNIQUE KEY uq_settlement_model_currency (currency, ledger_account_type),
    CONSTRAINT ck_settlement_granularity CHECK (settlement_granularity IN ('GROSS', 'NET')),
    CONSTRAINT ck_settlement_interchange CHECK (settlement_interchange IN ('BILATERAL', 'MULTILATERAL')),
    CONSTRAINT ck_settlement_delay CHECK (settlement_delay IN ('IMMEDIATE', 'DEFERRED')),
    CONSTRAINT fk_settlement_model_ledger_type FOREIGN KEY (ledger_account_type) REFERENCES ledger_account_type (ledger_account_type),
    CONSTRAINT fk_settlement_model_settlement_type FOREIGN KEY (settlement_account_type) REFERENCES ledger_account_type (ledger_account_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- central-ledger's participant.isProxy (POST /participants {isProxy}): stored and reported only.
ALTER TABLE participant ADD COLUMN is_proxy BOOLEAN NOT NULL DEFAULT FALSE;
