//! Response bodies in central-ledger's shapes.
//!
//! central-ledger prints MySQL flags as numbers (`"isActive": 1`), money as JSON numbers
//! (`"value": -2000`) and dates as JavaScript does (`"2026-11-22T10:00:00.000Z"`). Money is
//! written here from the exact decimal text (normalised, no trailing zeros), never through
//! `f64`.

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_store::participants::views::{AccountView, ParticipantView};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use time::PrimitiveDateTime;
use time::macros::format_description;

/// Serialises a decimal as a JSON number with its exact digits.
pub fn decimal_number<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = RawValue::from_string(value.normalize().to_string())
        .map_err(<S::Error as serde::ser::Error>::custom)?;
    raw.serialize(serializer)
}

/// A stored UTC time as JavaScript's `Date.toISOString()` prints it.
pub fn js_date(at: PrimitiveDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

/// A MySQL boolean as central-ledger prints it.
pub fn flag(value: bool) -> u8 {
    u8::from(value)
}

/// One account in a participant entity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountEntity {
    pub id: AccountId,
    pub ledger_account_type: String,
    pub currency: Currency,
    pub is_active: u8,
    pub created_date: String,
    pub created_by: String,
}

#[derive(Debug, Serialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
}

/// central-ledger's participant entity (`POST/GET/PUT /participants…`, hub accounts).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantEntity {
    pub name: String,
    pub id: String,
    pub created: String,
    pub is_active: u8,
    pub links: Links,
    pub accounts: Vec<AccountEntity>,
    pub is_proxy: u8,
}

impl ParticipantEntity {
    pub fn new(participant: &ParticipantView, public_url: &str) -> Self {
        let link = format!(
            "{}/participants/{}",
            public_url.trim_end_matches('/'),
            participant.name
        );
        Self {
            name: participant.name.clone(),
            id: link.clone(),
            created: js_date(participant.created_at),
            is_active: flag(participant.is_active),
            links: Links { self_: link },
            accounts: participant
                .accounts
                .iter()
                .map(|a| AccountEntity {
                    id: a.account_id,
                    ledger_account_type: a.ledger_account_type.clone(),
                    currency: a.currency,
                    is_active: flag(a.is_active),
                    created_date: js_date(a.created_at),
                    created_by: a.created_by.clone(),
                })
                .collect(),
            is_proxy: flag(participant.is_proxy),
        }
    }
}

/// `GET /participants/{name}/accounts` item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalance {
    pub id: AccountId,
    pub ledger_account_type: String,
    pub currency: Currency,
    pub is_active: u8,
    #[serde(serialize_with = "decimal_number")]
    pub value: Decimal,
    #[serde(serialize_with = "decimal_number")]
    pub reserved_value: Decimal,
    pub changed_date: Option<String>,
}

impl From<&AccountView> for AccountBalance {
    fn from(a: &AccountView) -> Self {
        Self {
            id: a.account_id,
            ledger_account_type: a.ledger_account_type.clone(),
            currency: a.currency,
            is_active: flag(a.is_active),
            value: a.value,
            reserved_value: a.reserved_value,
            changed_date: a.changed_at.map(js_date),
        }
    }
}

/// `GET /participants/{name}/positions` item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub currency: Currency,
    #[serde(serialize_with = "decimal_number")]
    pub value: Decimal,
    pub changed_date: Option<String>,
}

impl From<&AccountView> for Position {
    fn from(a: &AccountView) -> Self {
        Self {
            currency: a.currency,
            value: a.value,
            changed_date: a.changed_at.map(js_date),
        }
    }
}

/// A limit: `{type, value, alarmPercentage}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    #[serde(rename = "type")]
    pub limit_type: String,
    #[serde(serialize_with = "decimal_number")]
    pub value: Decimal,
    #[serde(serialize_with = "decimal_number")]
    pub alarm_percentage: Decimal,
}

/// `{currency, limit}` (`GET /participants/{name}/limits`, `PUT …/limits`), with the
/// participant's name in `GET /participants/limits`.
#[derive(Debug, Serialize)]
pub struct CurrencyLimit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub currency: Currency,
    pub limit: Limit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_json_numbers() {
        let limit = Limit {
            limit_type: "NET_DEBIT_CAP".into(),
            value: "-123456789012345678.1200".parse().unwrap(),
            alarm_percentage: "10.00".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&limit).unwrap(),
            r#"{"type":"NET_DEBIT_CAP","value":-123456789012345678.12,"alarmPercentage":10}"#
        );
    }

    #[test]
    fn dates_print_like_javascript() {
        let at = time::macros::datetime!(2026-11-22 09:05:03.042);
        assert_eq!(js_date(at), "2026-11-22T09:05:03.042Z");
    }
}
