-- Operator security of the admin API: maker/checker requests and the tamper-evident audit log.

-- A money or limit change asked for by a maker, executed only when a different person (the
-- checker) approves it before `expires_at`. `status` moves once, PENDING → EXECUTED | FAILED |
-- REJECTED | EXPIRED, with a conditional UPDATE (`WHERE status = 'PENDING'`) in the transaction
-- that executes the change, so racing or retried approvals execute it exactly once.
-- The original request (path parameters and body bytes) is kept and re-validated at execution.
CREATE TABLE admin_approval (
    approval_id CHAR(36) NOT NULL,
    -- recordFundsIn, recordFundsOutPrepareReserve, recordFundsOutCommit, recordFundsOutAbort,
    -- adjustLimit
    action VARCHAR(32) NOT NULL,
    participant_name VARCHAR(128) NOT NULL,
    account_id INT UNSIGNED NULL,
    transfer_id VARCHAR(36) NULL,
    request_path VARCHAR(512) NOT NULL,
    request_body MEDIUMTEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'PENDING',
    maker VARCHAR(128) NOT NULL,
    checker VARCHAR(128) NULL,
    created_at DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    decided_at DATETIME(3) NULL,
    decision_reason VARCHAR(512) NULL,
    -- The executed action's answer: HTTP status and body.
    result_status SMALLINT UNSIGNED NULL,
    result_body MEDIUMTEXT NULL,
    PRIMARY KEY (approval_id),
    KEY ix_admin_approval_status (status, created_at),
    CONSTRAINT ck_admin_approval_status CHECK (status IN ('PENDING', 'EXECUTED', 'FAILED', 'REJECTED', 'EXPIRED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every admin action, appended in the action's own transaction (refusals in one of their own),
-- each row hash-chained to the previous one: row_hash = SHA-256(prev_hash ‖ canonical content),
-- the canonical form being ferroloop_core::audit's. `seq` is assigned by the appender (head + 1),
-- not AUTO_INCREMENT, so a missing number means a deleted row.
CREATE TABLE admin_audit (
    seq BIGINT UNSIGNED NOT NULL,
    at DATETIME(3) NOT NULL,
    actor VARCHAR(128) NOT NULL,
    roles VARCHAR(512) NOT NULL,
    method VARCHAR(8) NOT NULL,
    route VARCHAR(128) NOT NULL,
    path VARCHAR(512) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    http_status SMALLINT UNSIGNED NOT NULL,
    approval_id CHAR(36) NULL,
    request MEDIUMTEXT NULL,
    before_state MEDIUMTEXT NULL,
    after_state MEDIUMTEXT NULL,
    detail TEXT NULL,
    prev_hash BINARY(32) NOT NULL,
    row_hash BINARY(32) NOT NULL,
    PRIMARY KEY (seq),
    KEY ix_admin_audit_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The chain head: the last appended row. Appenders lock this one row (SELECT … FOR UPDATE), so
-- concurrent admin requests append one after the other and the chain never forks.
CREATE TABLE admin_audit_head (
    id TINYINT UNSIGNED NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    row_hash BINARY(32) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_admin_audit_head_single CHECK (id = 1)
) ENGINE = InnoDB;

INSERT INTO admin_audit_head (id, seq, row_hash) VALUES (1, 0, UNHEX(REPEAT('00', 32)));
