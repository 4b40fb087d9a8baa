//! The FSPIOP error catalogue, generated once from `fspiop/error-codes.json` (plus central-ledger's
//! 6000, docs/fspiop-api.md#error-codes-and-http-status). A test compares it with the file entry by
//! entry; do not edit by hand without updating the file.

use super::{CatalogueEntry, EntryOrigin, ErrorCode, entry};

impl ErrorCode {
    pub const COMMUNICATION_ERROR: ErrorCode = ErrorCode(1000);
    pub const DESTINATION_COMMUNICATION_ERROR: ErrorCode = ErrorCode(1001);
    pub const SERVER_ERROR: ErrorCode = ErrorCode(2000);
    pub const INTERNAL_SERVER_ERROR: ErrorCode = ErrorCode(2001);
    pub const NOT_IMPLEMENTED: ErrorCode = ErrorCode(2002);
    pub const SERVICE_CURRENTLY_UNAVAILABLE: ErrorCode = ErrorCode(2003);
    pub const SERVER_TIMED_OUT: ErrorCode = ErrorCode(2004);
    pub const SERVER_BUSY: ErrorCode = ErrorCode(2005);
    pub const METHOD_NOT_ALLOWED: ErrorCode = ErrorCode(3000);
    pub const CLIENT_ERROR: ErrorCode = ErrorCode(3000);
    pub const UNACCEPTABLE_VERSION: ErrorCode = ErrorCode(3001);
    pub const UNKNOWN_URI: ErrorCode = ErrorCode(3002);
    pub const ADD_PARTY_INFO_ERROR: ErrorCode = ErrorCode(3003);
    pub const DELETE_PARTY_INFO_ERROR: ErrorCode = ErrorCode(3040);
    pub const VALIDATION_ERROR: ErrorCode = ErrorCode(3100);
    pub const MALFORMED_SYNTAX: ErrorCode = ErrorCode(3101);
    pub const MISSING_ELEMENT: ErrorCode = ErrorCode(3102);
    pub const TOO_MANY_ELEMENTS: ErrorCode = ErrorCode(3103);
    pub const TOO_LARGE_PAYLOAD: ErrorCode = ErrorCode(3104);
    pub const INVALID_SIGNATURE: ErrorCode = ErrorCode(3105);
    pub const MODIFIED_REQUEST: ErrorCode = ErrorCode(3106);
    pub const MISSING_MANDATORY_EXTENSION: ErrorCode = ErrorCode(3107);
    pub const ID_NOT_FOUND: ErrorCode = ErrorCode(3200);
    pub const DESTINATION_FSP_ERROR: ErrorCode = ErrorCode(3201);
    pub const PAYER_FSP_ID_NOT_FOUND: ErrorCode = ErrorCode(3202);
    pub const PAYEE_FSP_ID_NOT_FOUND: ErrorCode = ErrorCode(3203);
    pub const PARTY_NOT_FOUND: ErrorCode = ErrorCode(3204);
    pub const QUOTE_ID_NOT_FOUND: ErrorCode = ErrorCode(3205);
    pub const TXN_REQUEST_ID_NOT_FOUND: ErrorCode = ErrorCode(3206);
    pub const TXN_ID_NOT_FOUND: ErrorCode = ErrorCode(3207);
    pub const TRANSFER_ID_NOT_FOUND: ErrorCode = ErrorCode(3208);
    pub const BULK_QUOTE_ID_NOT_FOUND: ErrorCode = ErrorCode(3209);
    pub const BULK_TRANSFER_ID_NOT_FOUND: ErrorCode = ErrorCode(3210);
    pub const EXPIRED_ERROR: ErrorCode = ErrorCode(3300);
    pub const TXN_REQUEST_EXPIRED: ErrorCode = ErrorCode(3301);
    pub const QUOTE_EXPIRED: ErrorCode = ErrorCode(3302);
    pub const TRANSFER_EXPIRED: ErrorCode = ErrorCode(3303);
    pub const PAYER_ERROR: ErrorCode = ErrorCode(4000);
    pub const PAYER_FSP_INSUFFICIENT_LIQUIDITY: ErrorCode = ErrorCode(4001);
    pub const PAYER_REJECTION: ErrorCode = ErrorCode(4100);
    pub const PAYER_REJECTED_TXN_REQUEST: ErrorCode = ErrorCode(4101);
    pub const PAYER_FSP_UNSUPPORTED_TXN_TYPE: ErrorCode = ErrorCode(4102);
    pub const PAYER_UNSUPPORTED_CURRENCY: ErrorCode = ErrorCode(4103);
    pub const PAYER_LIMIT_ERROR: ErrorCode = ErrorCode(4200);
    pub const PAYER_PERMISSION_ERROR: ErrorCode = ErrorCode(4300);
    pub const PAYER_BLOCKED_ERROR: ErrorCode = ErrorCode(4400);
    pub const PAYEE_ERROR: ErrorCode = ErrorCode(5000);
    pub const PAYEE_FSP_INSUFFICIENT_LIQUIDITY: ErrorCode = ErrorCode(5001);
    pub const PAYEE_REJECTION: ErrorCode = ErrorCode(5100);
    pub const PAYEE_REJECTED_QUOTE: ErrorCode = ErrorCode(5101);
    pub const PAYEE_FSP_UNSUPPORTED_TXN_TYPE: ErrorCode = ErrorCode(5102);
    pub const PAYEE_FSP_REJECTED_QUOTE: ErrorCode = ErrorCode(5103);
    pub const PAYEE_REJECTED_TXN: ErrorCode = ErrorCode(5104);
    pub const PAYEE_FSP_REJECTED_TXN: ErrorCode = ErrorCode(5105);
    pub const PAYEE_UNSUPPORTED_CURRENCY: ErrorCode = ErrorCode(5106);
    pub const PAYEE_IDENTIFIER_NOT_VALID: ErrorCode = ErrorCode(5107);
    pub const PAYEE_LIMIT_ERROR: ErrorCode = ErrorCode(5200);
    pub const PAYEE_PERMISSION_ERROR: ErrorCode = ErrorCode(5300);
    pub const GENERIC_PAYEE_BLOCKED_ERROR: ErrorCode = ErrorCode(5400);
    pub const TP_ERROR: ErrorCode = ErrorCode(7000);
    pub const TP_TRANSACTION_ERROR: ErrorCode = ErrorCode(7100);
    pub const TP_FSP_TRANSACTION_REQUEST_NOT_VALID: ErrorCode = ErrorCode(7101);
    pub const TP_FSP_TRANSACTION_UPDATE_FAILED: ErrorCode = ErrorCode(7102);
    pub const TP_FSP_TRANSACTION_REQUEST_QUOTE_FAILED: ErrorCode = ErrorCode(7103);
    pub const TP_FSP_TRANSACTION_REQUEST_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(7104);
    pub const TP_FSP_TRANSACTION_AUTHORIZATION_NOT_VALID: ErrorCode = ErrorCode(7105);
    pub const TP_FSP_TRANSACTION_AUTHORIZATION_REJECTED_BY_USER: ErrorCode = ErrorCode(7106);
    pub const TP_FSP_TRANSACTION_AUTHORIZATION_UNEXPECTED: ErrorCode = ErrorCode(7107);
    pub const TP_FSP_TRANSACTION_TRANSFER_FAILED: ErrorCode = ErrorCode(7108);
    pub const TP_FSP_TRANSACTION_NOTIFICATION_FAILED: ErrorCode = ErrorCode(7109);
    pub const TP_ACCOUNT_LINKING_ERROR: ErrorCode = ErrorCode(7200);
    pub const TP_NO_SERVICE_PROVIDERS_FOUND: ErrorCode = ErrorCode(7201);
    pub const TP_NO_ACCOUNTS_FOUND: ErrorCode = ErrorCode(7202);
    pub const TP_NO_SUPPORTED_AUTH_CHANNELS: ErrorCode = ErrorCode(7203);
    pub const TP_NO_SUPPORTED_SCOPE_ACTIONS: ErrorCode = ErrorCode(7204);
    pub const TP_OTP_VALIDATION_ERROR: ErrorCode = ErrorCode(7205);
    pub const TP_FSP_OTP_VALIDATION_ERROR: ErrorCode = ErrorCode(7206);
    pub const TP_FSP_CONSENT_SCOPES_ERROR: ErrorCode = ErrorCode(7207);
    pub const TP_CONSENT_REQ_VALIDATION_ERROR: ErrorCode = ErrorCode(7208);
    pub const TP_FSP_CONSENT_REQ_NO_SCOPES: ErrorCode = ErrorCode(7209);
    pub const TP_NO_TRUSTED_CALLBACK_URI: ErrorCode = ErrorCode(7210);
    pub const TP_CONSENT_REQ_USER_NOT_ALLOWED: ErrorCode = ErrorCode(7211);
    pub const TP_SIGNED_CHALLENGE_MISMATCH: ErrorCode = ErrorCode(7212);
    pub const TP_CONSENT_INVALID: ErrorCode = ErrorCode(7213);
    pub const TP_FAILED_REG_ACCOUNT_LINKS: ErrorCode = ErrorCode(7214);
    pub const TP_AUTH_SERVICE_ERROR: ErrorCode = ErrorCode(7300);
    pub const GENERIC_SETTLEMENT_ERROR: ErrorCode = ErrorCode(6000);
}

/// Every catalogue entry, in the file's order (sorted by code), then central-ledger's extras.
#[rustfmt::skip]
pub static CATALOGUE: [CatalogueEntry; 87] = [
    entry(1000, "COMMUNICATION_ERROR", "Communication error", None, EntryOrigin::ErrorCodesJson),
    entry(1001, "DESTINATION_COMMUNICATION_ERROR", "Destination communication error", None, EntryOrigin::ErrorCodesJson),
    entry(2000, "SERVER_ERROR", "Generic server error", None, EntryOrigin::ErrorCodesJson),
    entry(2001, "INTERNAL_SERVER_ERROR", "Internal server error", None, EntryOrigin::ErrorCodesJson),
    entry(2002, "NOT_IMPLEMENTED", "Not implemented", Some(501), EntryOrigin::ErrorCodesJson),
    entry(2003, "SERVICE_CURRENTLY_UNAVAILABLE", "Service currently unavailable", Some(503), EntryOrigin::ErrorCodesJson),
    entry(2004, "SERVER_TIMED_OUT", "Server timed out", None, EntryOrigin::ErrorCodesJson),
    entry(2005, "SERVER_BUSY", "Server busy", None, EntryOrigin::ErrorCodesJson),
    entry(3000, "METHOD_NOT_ALLOWED", "Generic client error - Method Not Allowed", Some(405), EntryOrigin::ErrorCodesJson),
    entry(3000, "CLIENT_ERROR", "Generic client error", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3001, "UNACCEPTABLE_VERSION", "Unacceptable version requested", Some(406), EntryOrigin::ErrorCodesJson),
    entry(3002, "UNKNOWN_URI", "Unknown URI", Some(404), EntryOrigin::ErrorCodesJson),
    entry(3003, "ADD_PARTY_INFO_ERROR", "Add Party information error", None, EntryOrigin::ErrorCodesJson),
    entry(3040, "DELETE_PARTY_INFO_ERROR", "Delete Party information error", None, EntryOrigin::ErrorCodesJson),
    entry(3100, "VALIDATION_ERROR", "Generic validation error", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3101, "MALFORMED_SYNTAX", "Malformed syntax", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3102, "MISSING_ELEMENT", "Missing mandatory element", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3103, "TOO_MANY_ELEMENTS", "Too many elements", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3104, "TOO_LARGE_PAYLOAD", "Too large payload", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3105, "INVALID_SIGNATURE", "Invalid signature", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3106, "MODIFIED_REQUEST", "Modified request", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3107, "MISSING_MANDATORY_EXTENSION", "Missing mandatory extension parameter", Some(400), EntryOrigin::ErrorCodesJson),
    entry(3200, "ID_NOT_FOUND", "Generic ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3201, "DESTINATION_FSP_ERROR", "Destination FSP Error", None, EntryOrigin::ErrorCodesJson),
    entry(3202, "PAYER_FSP_ID_NOT_FOUND", "Payer FSP ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3203, "PAYEE_FSP_ID_NOT_FOUND", "Payee FSP ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3204, "PARTY_NOT_FOUND", "Party not found", None, EntryOrigin::ErrorCodesJson),
    entry(3205, "QUOTE_ID_NOT_FOUND", "Quote ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3206, "TXN_REQUEST_ID_NOT_FOUND", "Transaction request ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3207, "TXN_ID_NOT_FOUND", "Transaction ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3208, "TRANSFER_ID_NOT_FOUND", "Transfer ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3209, "BULK_QUOTE_ID_NOT_FOUND", "Bulk quote ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3210, "BULK_TRANSFER_ID_NOT_FOUND", "Bulk transfer ID not found", None, EntryOrigin::ErrorCodesJson),
    entry(3300, "EXPIRED_ERROR", "Generic expired error", None, EntryOrigin::ErrorCodesJson),
    entry(3301, "TXN_REQUEST_EXPIRED", "Transaction request expired", None, EntryOrigin::ErrorCodesJson),
    entry(3302, "QUOTE_EXPIRED", "Quote expired", None, EntryOrigin::ErrorCodesJson),
    entry(3303, "TRANSFER_EXPIRED", "Transfer expired", None, EntryOrigin::ErrorCodesJson),
    entry(4000, "PAYER_ERROR", "Generic Payer error", None, EntryOrigin::ErrorCodesJson),
    entry(4001, "PAYER_FSP_INSUFFICIENT_LIQUIDITY", "Payer FSP insufficient liquidity", None, EntryOrigin::ErrorCodesJson),
    entry(4100, "PAYER_REJECTION", "Generic Payer rejection", None, EntryOrigin::ErrorCodesJson),
    entry(4101, "PAYER_REJECTED_TXN_REQUEST", "Payer rejected transaction request", None, EntryOrigin::ErrorCodesJson),
    entry(4102, "PAYER_FSP_UNSUPPORTED_TXN_TYPE", "Payer FSP unsupported transaction type", None, EntryOrigin::ErrorCodesJson),
    entry(4103, "PAYER_UNSUPPORTED_CURRENCY", "Payer unsupported currency", None, EntryOrigin::ErrorCodesJson),
    entry(4200, "PAYER_LIMIT_ERROR", "Payer limit error", None, EntryOrigin::ErrorCodesJson),
    entry(4300, "PAYER_PERMISSION_ERROR", "Payer permission error", None, EntryOrigin::ErrorCodesJson),
    entry(4400, "PAYER_BLOCKED_ERROR", "Generic Payer blocked error", None, EntryOrigin::ErrorCodesJson),
    entry(5000, "PAYEE_ERROR", "Generic Payee error", None, EntryOrigin::ErrorCodesJson),
    entry(5001, "PAYEE_FSP_INSUFFICIENT_LIQUIDITY", "Payee FSP insufficient liquidity", None, EntryOrigin::ErrorCodesJson),
    entry(5100, "PAYEE_REJECTION", "Generic Payee rejection", None, EntryOrigin::ErrorCodesJson),
    entry(5101, "PAYEE_REJECTED_QUOTE", "Payee rejected quote", None, EntryOrigin::ErrorCodesJson),
    entry(5102, "PAYEE_FSP_UNSUPPORTED_TXN_TYPE", "Payee FSP unsupported transaction type", None, EntryOrigin::ErrorCodesJson),
    entry(5103, "PAYEE_FSP_REJECTED_QUOTE", "Payee FSP rejected quote", None, EntryOrigin::ErrorCodesJson),
    entry(5104, "PAYEE_REJECTED_TXN", "Payee rejected transaction", None, EntryOrigin::ErrorCodesJson),
    entry(5105, "PAYEE_FSP_REJECTED_TXN", "Payee FSP rejected transaction", None, EntryOrigin::ErrorCodesJson),
    entry(5106, "PAYEE_UNSUPPORTED_CURRENCY", "Payee unsupported currency", None, EntryOrigin::ErrorCodesJson),
    entry(5107, "PAYEE_IDENTIFIER_NOT_VALID", "Payee identifier no-longer valid", None, EntryOrigin::ErrorCodesJson),
    entry(5200, "PAYEE_LIMIT_ERROR", "Payee limit error", None, EntryOrigin::ErrorCodesJson),
    entry(5300, "PAYEE_PERMISSION_ERROR", "Payee permission error", None, EntryOrigin::ErrorCodesJson),
    entry(5400, "GENERIC_PAYEE_BLOCKED_ERROR", "Generic Payee blocked error", None, EntryOrigin::ErrorCodesJson),
    entry(7000, "TP_ERROR", "Generic Thirdparty error", None, EntryOrigin::ErrorCodesJson),
    entry(7100, "TP_TRANSACTION_ERROR", "Generic Thirdparty transaction error", None, EntryOrigin::ErrorCodesJson),
    entry(7101, "TP_FSP_TRANSACTION_REQUEST_NOT_VALID", "Transaction request failed DFSP validation", None, EntryOrigin::ErrorCodesJson),
    entry(7102, "TP_FSP_TRANSACTION_UPDATE_FAILED", "Transaction request PUT update send to PISP failed", None, EntryOrigin::ErrorCodesJson),
    entry(7103, "TP_FSP_TRANSACTION_REQUEST_QUOTE_FAILED", "Transaction request quote send to payee DFSP failed", None, EntryOrigin::ErrorCodesJson),
    entry(7104, "TP_FSP_TRANSACTION_REQUEST_AUTHORIZATION_FAILED", "Transaction request for user authorization send to PISP failed", None, EntryOrigin::ErrorCodesJson),
    entry(7105, "TP_FSP_TRANSACTION_AUTHORIZATION_NOT_VALID", "Authorization received from PISP failed DFSP validation", None, EntryOrigin::ErrorCodesJson),
    entry(7106, "TP_FSP_TRANSACTION_AUTHORIZATION_REJECTED_BY_USER", "DFSP received reject by user authorization, so transaction cancelled", None, EntryOrigin::ErrorCodesJson),
    entry(7107, "TP_FSP_TRANSACTION_AUTHORIZATION_UNEXPECTED", "DFSP received unexpected authorization responseType", None, EntryOrigin::ErrorCodesJson),
    entry(7108, "TP_FSP_TRANSACTION_TRANSFER_FAILED", "Transaction request transfer failed", None, EntryOrigin::ErrorCodesJson),
    entry(7109, "TP_FSP_TRANSACTION_NOTIFICATION_FAILED", "Transaction request notification failed", None, EntryOrigin::ErrorCodesJson),
    entry(7200, "TP_ACCOUNT_LINKING_ERROR", "Generic Thirdparty account linking error", None, EntryOrigin::ErrorCodesJson),
    entry(7201, "TP_NO_SERVICE_PROVIDERS_FOUND", "No thirdparty enabled FSP found", None, EntryOrigin::ErrorCodesJson),
    entry(7202, "TP_NO_ACCOUNTS_FOUND", "No accounts found for generic ID", None, EntryOrigin::ErrorCodesJson),
    entry(7203, "TP_NO_SUPPORTED_AUTH_CHANNELS", "FSP does not support any requested authentication channels", None, EntryOrigin::ErrorCodesJson),
    entry(7204, "TP_NO_SUPPORTED_SCOPE_ACTIONS", "FSP does not support any requested scope actions", None, EntryOrigin::ErrorCodesJson),
    entry(7205, "TP_OTP_VALIDATION_ERROR", "OTP failed validation", None, EntryOrigin::ErrorCodesJson),
    entry(7206, "TP_FSP_OTP_VALIDATION_ERROR", "FSP failed to validate OTP", None, EntryOrigin::ErrorCodesJson),
    entry(7207, "TP_FSP_CONSENT_SCOPES_ERROR", "FSP failed retrieve scopes for consent request", None, EntryOrigin::ErrorCodesJson),
    entry(7208, "TP_CONSENT_REQ_VALIDATION_ERROR", "FSP failed to validate consent request", None, EntryOrigin::ErrorCodesJson),
    entry(7209, "TP_FSP_CONSENT_REQ_NO_SCOPES", "FSP does not find scopes suitable", None, EntryOrigin::ErrorCodesJson),
    entry(7210, "TP_NO_TRUSTED_CALLBACK_URI", "FSP does not trust PISP callback URI", None, EntryOrigin::ErrorCodesJson),
    entry(7211, "TP_CONSENT_REQ_USER_NOT_ALLOWED", "FSP does not allow consent requests for specified username", None, EntryOrigin::ErrorCodesJson),
    entry(7212, "TP_SIGNED_CHALLENGE_MISMATCH", "Signed challenge does not match derived challenge", None, EntryOrigin::ErrorCodesJson),
    entry(7213, "TP_CONSENT_INVALID", "Consent is invalid", None, EntryOrigin::ErrorCodesJson),
    entry(7214, "TP_FAILED_REG_ACCOUNT_LINKS", "Failed to register account links with oracle", None, EntryOrigin::ErrorCodesJson),
    entry(7300, "TP_AUTH_SERVICE_ERROR", "Generic Thirdparty auth service error", None, EntryOrigin::ErrorCodesJson),
    // Not in error-codes.json (which is the SDK's list); central-ledger uses it when no settlement
    // model matches (docs/fspiop-api.md#error-codes-and-http-status).
    entry(6000, "GENERIC_SETTLEMENT_ERROR", "Generic Settlement Error", None, EntryOrigin::Reference),
];
