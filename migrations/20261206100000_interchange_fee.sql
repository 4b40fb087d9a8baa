-- central-ledger's ledger account types for interchange fees. A settlement model may name them
-- (`ledgerAccountType: INTERCHANGE_FEE`, `settlementAccountType: INTERCHANGE_FEE_SETTLEMENT`), as
-- Mojaloop's onboarding collections do; participants created afterwards get accounts of both
-- types in the model's currency. No transfer moves money on them yet (no fee is charged), so
-- their balances stay zero. INSERT IGNORE: a schema that has them already is left as it is.
INSERT IGNORE INTO ledger_account_type (ledger_account_type, description) VALUES
    ('INTERCHANGE_FEE', 'A DFSP''s interchange fee position in a currency'),
    ('INTERCHANGE_FEE_SETTLEMENT', 'A DFSP''s settlement account for interchange fees');
