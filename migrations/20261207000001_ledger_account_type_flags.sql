-- central-ledger's two flags of a ledger account type, so that `GET /ledgerAccountTypes` answers
-- what the admin API document promises and `POST /ledgerAccountTypes` can record them. A type
-- is settleable when a settlement model may settle its balances: POSITION and INTERCHANGE_FEE
-- among the seeded ones. Who created a type is in the audit log (docs/security.md).
ALTER TABLE ledger_account_type
    ADD COLUMN is_active BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN is_settleable BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE ledger_account_type SET is_settleable = TRUE
    WHERE ledger_account_type IN ('POSITION', 'INTERCHANGE_FEE');
