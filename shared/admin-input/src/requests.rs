//! The admin API's request bodies, validated: each `parse_*` is what the route (and the approval
//! that later executes it) runs on the bytes received, before any database access.

use ferroloop_core::currency::Currency;
use ferroloop_core::error::FspiopError;
use ferroloop_core::hash::{RequestHash, request_hash};
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_fspiop::endpoint::{self, AddressPolicy};
use rust_decimal::Decimal;

use crate::input::{self, NumberRule, Obj, Sign};

pub const RECORD_FUNDS_IN: &str = "recordFundsIn";
pub const RECORD_FUNDS_OUT_PREPARE_RESERVE: &str = "recordFundsOutPrepareReserve";
pub const RECORD_FUNDS_OUT_COMMIT: &str = "recordFundsOutCommit";
pub const RECORD_FUNDS_OUT_ABORT: &str = "recordFundsOutAbort";
/// central-ledger's Joi label of `action`.
const ACTION_LABEL: &str = "action is missing or not supported";
/// central-ledger's Joi label of `amount`.
const AMOUNT_LABEL: &str = "No amount provided";
/// FSPIOP `ExtensionList` holds at most 16 extensions.
const MAX_EXTENSIONS: usize = 16;

pub const NET_DEBIT_CAP: &str = "NET_DEBIT_CAP";
/// Alarm percentage of a limit set by `initialPositionAndLimits` (the column default).
const DEFAULT_ALARM_PERCENTAGE: u32 = 10;
/// A net debit cap: ≥ 0, a DECIMAL(22,4).
const LIMIT_RULE: NumberRule = NumberRule::new(Sign::NonNegative, 4, 18);
/// An alarm percentage: 0–100 with two decimals.
const ALARM_RULE: NumberRule = NumberRule::new(Sign::NonNegative, 2, 3);
/// An opening position: ≥ 0 (a negative one would be headroom no funds-in paid for), within
/// the position column.
const OPENING_POSITION_RULE: NumberRule = NumberRule::new(Sign::NonNegative, 4, 24);

/// Settlement windows one `POST /settlements` may name.
pub const MAX_WINDOWS: usize = 1_000;
/// The state a window-close request must ask for (`WindowState::Closed`).
const CLOSED: &str = "CLOSED";

/// A validated funds-in or funds-out prepare request.
#[derive(Debug, Clone)]
pub struct RecordFunds {
    pub account_id: AccountId,
    pub transfer_id: TransferId,
    pub action: String,
    pub reason: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub extension_rows: Vec<(String, String)>,
    pub hash: RequestHash,
}

/// Validates `{transferId, externalReference, action, reason, amount: {amount, currency},
/// extensionList?}` with central-ledger's error contract.
pub fn parse_record(account_id: AccountId, body: &[u8]) -> Result<RecordFunds, FspiopError> {
    let obj = input::parse_body(body)?;
    let transfer_id = TransferId::parse(&obj.required_string("transferId")?)
        .map_err(|_| input::malformed("\"transferId\" must be a valid GUID"))?;
    let external_reference = obj.required_string("externalReference")?;
    let action = obj
        .one_of(
            "action",
            ACTION_LABEL,
            &[RECORD_FUNDS_IN, RECORD_FUNDS_OUT_PREPARE_RESERVE],
            true,
        )?
        .ok_or_else(|| input::required(ACTION_LABEL))?;
    let reason = obj.required_string("reason")?;
    let money = obj
        .object_labelled("amount", AMOUNT_LABEL, true)?
        .ok_or_else(|| input::required(AMOUNT_LABEL))?;
    let amount = money.required_number("amount", NumberRule::new(Sign::Positive, 4, 18))?;
    let currency = money.required_currency("currency")?;
    let mut extension_rows = vec![("externalReference".to_owned(), external_reference)];
    extension_rows.extend(extensions(&obj)?);
    let hash =
        request_hash(body).map_err(|_| input::malformed("Invalid request payload JSON format"))?;
    Ok(RecordFunds {
        account_id,
        transfer_id,
        action,
        reason,
        amount,
        currency,
        extension_rows,
        hash,
    })
}

/// `extensionList.extension` as (key, value) pairs.
fn extensions(obj: &Obj) -> Result<Vec<(String, String)>, FspiopError> {
    let Some(list) = obj.object_labelled("extensionList", "extensionList", false)? else {
        return Ok(Vec::new());
    };
    let items = list.objects("extension", false)?.unwrap_or_default();
    if items.len() > MAX_EXTENSIONS {
        return Err(input::invalid(format!(
            "\"{}\" must contain less than or equal to {MAX_EXTENSIONS} items",
            list.label("extension")
        )));
    }
    items
        .iter()
        .map(|item| Ok((item.required_string("key")?, item.required_string("value")?)))
        .collect()
}

/// A validated funds-out commit or abort.
#[derive(Debug, Clone)]
pub struct FinishFunds {
    pub account_id: AccountId,
    pub transfer_id: TransferId,
    pub action: String,
    pub reason: String,
}

/// Validates `{action, reason}` of a funds-out commit or abort.
pub fn parse_finish(
    account_id: AccountId,
    transfer_id: &str,
    body: &[u8],
) -> Result<FinishFunds, FspiopError> {
    let transfer_id = TransferId::parse(transfer_id)
        .map_err(|_| input::malformed("'transferId' URI path parameter"))?;
    let obj = input::parse_body(body)?;
    let action = obj
        .one_of(
            "action",
            ACTION_LABEL,
            &[RECORD_FUNDS_OUT_COMMIT, RECORD_FUNDS_OUT_ABORT],
            true,
        )?
        .ok_or_else(|| input::required(ACTION_LABEL))?;
    let reason = obj.required_string("reason")?;
    Ok(FinishFunds {
        account_id,
        transfer_id,
        action,
        reason,
    })
}

/// Validates `{isActive}` of an activation change.
pub fn parse_activation(body: &[u8]) -> Result<bool, FspiopError> {
    input::parse_body(body)?.required_boolean("isActive")
}

/// A validated `POST /participants`.
#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub name: String,
    pub currency: Currency,
    pub is_proxy: bool,
}

/// Validates `{name, currency, isProxy?}`.
pub fn parse_participant(body: &[u8]) -> Result<NewParticipant, FspiopError> {
    let obj = input::parse_body(body)?;
    let name = obj.required_string("name")?;
    input::check_name("name", &name)?;
    let currency = obj.required_currency("currency")?;
    let is_proxy = obj.boolean("isProxy", false)?.unwrap_or(false);
    Ok(NewParticipant {
        name,
        currency,
        is_proxy,
    })
}

/// The limit object of a request: `{type, value}` (+ `alarmPercentage` when `with_alarm`).
struct LimitInput {
    value: Decimal,
    alarm_percentage: Option<Decimal>,
}

fn limit_input(obj: &Obj, with_alarm: bool) -> Result<LimitInput, FspiopError> {
    let Some(limit) = obj.object_labelled("limit", "limit", true)? else {
        return Err(input::required("limit"));
    };
    let limit_type = limit.required_string("type")?;
    let value = limit.required_number("value", LIMIT_RULE)?;
    let alarm = if with_alarm {
        Some(limit.required_number("alarmPercentage", ALARM_RULE)?)
    } else {
        None
    };
    if limit_type != NET_DEBIT_CAP {
        return Err(input::not_one_of(&limit.label("type"), &[NET_DEBIT_CAP]));
    }
    if let Some(alarm) = alarm
        && alarm > Decimal::ONE_HUNDRED
    {
        return Err(input::invalid(format!(
            "\"{}\" must be less than or equal to 100",
            limit.label("alarmPercentage")
        )));
    }
    Ok(LimitInput {
        value,
        alarm_percentage: alarm,
    })
}

/// A validated `initialPositionAndLimits` request.
#[derive(Debug, Clone)]
pub struct InitialPosition {
    pub currency: Currency,
    pub net_debit_cap: Decimal,
    pub position: Decimal,
}

/// Validates `{currency, limit: {type: "NET_DEBIT_CAP", value}, initialPosition?}`. A negative
/// opening position is refused (3100): it would let the DFSP reserve against cover nobody paid
/// in. central-ledger accepts any sign.
pub fn parse_initial(body: &[u8]) -> Result<InitialPosition, FspiopError> {
    let obj = input::parse_body(body)?;
    let currency = obj.required_currency("currency")?;
    let limit = limit_input(&obj, false)?;
    let position = obj
        .number("initialPosition", OPENING_POSITION_RULE, false)?
        .unwrap_or(Decimal::ZERO);
    Ok(InitialPosition {
        currency,
        net_debit_cap: limit.value,
        position,
    })
}

/// A validated net debit cap change.
#[derive(Debug, Clone)]
pub struct LimitChange {
    pub currency: Currency,
    pub value: Decimal,
    pub alarm_percentage: Decimal,
}

/// Validates `{currency, limit: {type, value, alarmPercentage}}`.
pub fn parse_limit_change(body: &[u8]) -> Result<LimitChange, FspiopError> {
    let obj = input::parse_body(body)?;
    let currency = obj.required_currency("currency")?;
    let limit = limit_input(&obj, true)?;
    Ok(LimitChange {
        currency,
        value: limit.value,
        alarm_percentage: limit
            .alarm_percentage
            .unwrap_or(Decimal::from(DEFAULT_ALARM_PERCENTAGE)),
    })
}

/// A validated endpoint.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub endpoint_type: String,
    pub value: String,
}

/// Validates `{type, value}`. Values of the FSPIOP callback types must be http(s) URLs (with
/// Mojaloop's `{{…}}` placeholders) whose host is not a link-local or cloud metadata address
/// unless `policy` allows it (3100): the hub sends signed requests there. Other types (alarm
/// e-mail addresses and the like) are free text, as in Mojaloop.
pub fn parse_endpoint(body: &[u8], policy: &AddressPolicy) -> Result<NewEndpoint, FspiopError> {
    let obj = input::parse_body(body)?;
    let endpoint_type = obj.required_string("type")?;
    let value = obj.required_string("value")?;
    input::check_length("type", &endpoint_type, 64)?;
    input::check_length("value", &value, 512)?;
    endpoint::validate(&endpoint_type, &value, policy).map_err(|e| {
        input::invalid(format!(
            "\"value\" is not a callback URL the hub may call: {e}"
        ))
    })?;
    Ok(NewEndpoint {
        endpoint_type,
        value,
    })
}

/// A validated close request.
#[derive(Debug, Clone)]
pub struct CloseRequest {
    pub window_id: u64,
    pub reason: String,
}

/// Validates `{state: "CLOSED", reason}`.
pub fn parse_close(window_id: u64, body: &[u8]) -> Result<CloseRequest, FspiopError> {
    let obj = input::parse_body(body)?;
    obj.one_of("state", "state", &[CLOSED], true)?
        .ok_or_else(|| input::required("state"))?;
    let reason = obj.required_string("reason")?;
    input::check_length("reason", &reason, 512)?;
    Ok(CloseRequest { window_id, reason })
}

/// A validated `POST /settlements`.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub model: String,
    pub reason: String,
    pub windows: Vec<u64>,
}

/// Validates `{settlementModel, reason, settlementWindows: [{id}]}` (at least one, unique).
pub fn parse_create(body: &[u8]) -> Result<CreateRequest, FspiopError> {
    let obj = input::parse_body(body)?;
    let model = obj.required_string("settlementModel")?;
    let reason = obj.required_string("reason")?;
    input::check_length("reason", &reason, 512)?;
    let items = obj.objects("settlementWindows", true)?.unwrap_or_default();
    if items.is_empty() || items.len() > MAX_WINDOWS {
        return Err(input::invalid(format!(
            "\"settlementWindows\" must contain between 1 and {MAX_WINDOWS} items"
        )));
    }
    let mut windows = Vec::with_capacity(items.len());
    for item in &items {
        let id = window_id_of(item)?;
        if windows.contains(&id) {
            return Err(input::invalid(
                "\"settlementWindows\" contains a duplicate value",
            ));
        }
        windows.push(id);
    }
    Ok(CreateRequest {
        model,
        reason,
        windows,
    })
}

fn window_id_of(item: &Obj) -> Result<u64, FspiopError> {
    let id = item.required_number("id", NumberRule::new(Sign::Positive, 0, 18))?;
    u64::try_from(id).map_err(|_| input::invalid("\"id\" must be an integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroloop_core::settlement::WindowState;

    fn code(error: &FspiopError) -> u16 {
        error.code().as_u16()
    }

    #[test]
    fn the_close_state_is_the_ledgers() {
        assert_eq!(CLOSED, WindowState::Closed.as_str());
        assert_eq!(
            parse_close(3, br#"{"state":"CLOSED","reason":"eod"}"#)
                .unwrap()
                .reason,
            "eod"
        );
        assert_eq!(
            code(&parse_close(3, br#"{"state":"OPEN","reason":"r"}"#).unwrap_err()),
            3101
        );
    }

    #[test]
    fn a_funds_in_is_read_with_its_extensions() {
        let body = br#"{"transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069","externalReference":"x","action":"recordFundsIn","reason":"r","amount":{"amount":"10.5","currency":"USD"},"extensionList":{"extension":[{"key":"k","value":"v"}]}}"#;
        let record = parse_record(AccountId(7), body).unwrap();
        assert_eq!(record.account_id, AccountId(7));
        assert_eq!(
            record.transfer_id.as_str(),
            "b51ec534-ee48-4575-b6a9-ead2955b8069"
        );
        assert_eq!(record.currency.as_str(), "USD");
        assert_eq!(record.amount, Decimal::new(105, 1));
        assert_eq!(record.extension_rows.len(), 2);
        let negative = String::from_utf8_lossy(body).replace("10.5", "-1");
        assert!(parse_record(AccountId(7), negative.as_bytes()).is_err());
    }

    #[test]
    fn limits_and_settlements_are_bounded() {
        let alarm = br#"{"currency":"USD","limit":{"type":"NET_DEBIT_CAP","value":1,"alarmPercentage":101}}"#;
        assert_eq!(code(&parse_limit_change(alarm).unwrap_err()), 3100);
        let duplicate =
            br#"{"settlementModel":"m","reason":"r","settlementWindows":[{"id":1},{"id":1}]}"#;
        assert_eq!(code(&parse_create(duplicate).unwrap_err()), 3100);
        let none = br#"{"settlementModel":"m","reason":"r","settlementWindows":[]}"#;
        assert_eq!(code(&parse_create(none).unwrap_err()), 3100);
    }
}
