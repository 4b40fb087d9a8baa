-- A participant's public JWS key (FSPIOP-Signature verification,
-- docs/fspiop-api.md#signatures-jws), registered through the admin API (PUT
-- /participants/{name}/jwsKey). One current key per participant: a rotation replaces it. The API
-- adapter never reads this table on a request: it keeps every key in memory and reloads them when
-- the admin change epoch moves (every admin change bumps it, this one too).
CREATE TABLE participant_jws_key (
    participant_id INT UNSIGNED NOT NULL,
    -- SPKI or PKCS#1 PEM, RSA >= 2048 bits or P-256 (checked by the admin API before storing).
    public_key_pem TEXT NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_by VARCHAR(128) NOT NULL,
    PRIMARY KEY (participant_id),
    CONSTRAINT fk_participant_jws_key_participant FOREIGN KEY (participant_id) REFERENCES participant (participant_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
