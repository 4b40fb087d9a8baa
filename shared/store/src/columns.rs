//! The store's edge for the domain's text types: a column read as text becomes a [`TransferId`],
//! a [`Currency`] or a [`RequestHash`] here, or a [`StoreError::InvalidColumn`] naming the column — never a panic.
//! Binding goes the other way through `as_str()`/`as_bytes()` (the domain crate stays free of
//! sqlx for these types; only the ledger ids bind as themselves, through core's `sqlx` feature).

use ferroloop_core::currency::Currency;
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use sqlx::Row;
use sqlx::mysql::MySqlRow;

use crate::{Result, StoreError};

fn invalid(column: &'static str, value: &str, expected: &'static str) -> StoreError {
    StoreError::InvalidColumn {
        column,
        value: value.to_owned(),
        expected,
    }
}

/// A transfer id column (`VARCHAR(36)`), read without allocating.
pub(crate) fn transfer_id(row: &MySqlRow, column: &'static str) -> Result<TransferId> {
    parse_transfer_id(column, row.try_get(column)?)
}

/// A nullable transfer id column (`VARCHAR(36)`), read without allocating.
pub(crate) fn optional_transfer_id(
    row: &MySqlRow,
    column: &'static str,
) -> Result<Option<TransferId>> {
    let text: Option<&str> = row.try_get(column)?;
    text.map(|text| parse_transfer_id(column, text)).transpose()
}

/// A transfer id read by a compile-checked statement (`sqlx::query!`), which yields the text.
pub(crate) fn parse_transfer_id(column: &'static str, text: &str) -> Result<TransferId> {
    TransferId::parse(text).map_err(|_| invalid(column, text, "transfer id"))
}

/// A currency column (`CHAR(3)`), read without allocating.
pub(crate) fn currency(row: &MySqlRow, column: &'static str) -> Result<Currency> {
    parse_currency(column, row.try_get(column)?)
}

/// A currency read by a compile-checked statement (`sqlx::query!`), which yields the text.
pub(crate) fn parse_currency(column: &'static str, text: &str) -> Result<Currency> {
    Currency::parse(text).map_err(|_| invalid(column, text, "currency"))
}

/// A nullable request hash column (`BINARY(32)`).
pub(crate) fn optional_request_hash(
    row: &MySqlRow,
    column: &'static str,
) -> Result<Option<RequestHash>> {
    let bytes: Option<&[u8]> = row.try_get(column)?;
    bytes
        .map(|bytes| parse_request_hash(column, bytes))
        .transpose()
}

fn parse_request_hash(column: &'static str, bytes: &[u8]) -> Result<RequestHash> {
    RequestHash::from_slice(bytes)
        .ok_or_else(|| invalid(column, &format!("{} bytes", bytes.len()), "SHA-256 hash"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_does_not_parse_is_an_error_naming_its_column() {
        let error = parse_currency("currency", "usd").unwrap_err();
        assert!(
            matches!(
                &error,
                StoreError::InvalidColumn { column: "currency", value, expected: "currency" }
                    if value == "usd"
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "currency holds \"usd\", which is not a valid currency"
        );
        assert!(!error.is_transient());
        assert_eq!(parse_currency("currency", "USD").unwrap().as_str(), "USD");

        let error = parse_transfer_id("transfer_id", "settlement-1").unwrap_err();
        assert!(matches!(
            error,
            StoreError::InvalidColumn {
                column: "transfer_id",
                expected: "transfer id",
                ..
            }
        ));
        let id = "01JEBS69VK6AEA8TGAJE3ZA9EH";
        assert_eq!(parse_transfer_id("transfer_id", id).unwrap().as_str(), id);

        let error = parse_request_hash("request_hash", &[0; 31]).unwrap_err();
        assert!(matches!(
            error,
            StoreError::InvalidColumn {
                column: "request_hash",
                ..
            }
        ));
        assert_eq!(
            parse_request_hash("request_hash", &[7; 32]).unwrap(),
            RequestHash::from_bytes([7; 32])
        );
    }
}
