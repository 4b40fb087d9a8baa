//! Semantic validation of a prepare (docs/fspiop-api.md#semantic-checks-of-a-prepare), as one pure
//! function.
//!
//! Rules run in central-ledger's order and stop at the first failure, whose reason text is the
//! one central-ledger sends (inside `3100 Generic validation error - <reason>`). Unlike
//! central-ledger's default, the payee's account in the currency is validated here too
//! (docs/mojaloop-differences.md#payee-account-validated-at-prepare): a payee without one would
//! otherwise make the commit fail after the payer's funds were reserved.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::amount::{Amount, AmountError};
use crate::api::PrepareBody;
use crate::currency::Currency;
use crate::ilp::decode_condition;
use crate::ledger_id::{AccountId, ParticipantId};

/// What validation needs to know about a participant named in a prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    pub participant_id: ParticipantId,
    pub is_active: bool,
    /// The participant's POSITION account in the transfer currency, if it has one.
    pub position_account: Option<AccountView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: AccountId,
    pub is_active: bool,
}

/// Everything the rules look at.
#[derive(Debug, Clone)]
pub struct PrepareCheck<'a> {
    pub body: &'a PrepareBody,
    /// The `FSPIOP-Source` header.
    pub source: Option<&'a str>,
    /// Looked up by `body.payer_fsp` / `body.payee_fsp`; `None` = unknown.
    pub payer: Option<&'a ParticipantView>,
    pub payee: Option<&'a ParticipantView>,
    pub now: OffsetDateTime,
    /// Scheme rule `ENABLE_ON_US_TRANSFERS` (off by default).
    pub allow_on_us: bool,
    /// How far ahead an expiration may lie (`TRANSFER_MAX_EXPIRY_SECONDS`): a payer must not
    /// hold a reservation, and the payee a pending transfer, practically forever.
    pub max_expiry: time::Duration,
}

/// The default of `TRANSFER_MAX_EXPIRY_SECONDS`: one day.
pub const DEFAULT_MAX_EXPIRY_SECONDS: u32 = 86_400;

/// A prepare that passed every rule, with its parsed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPrepare {
    pub amount: Amount,
    pub currency: Currency,
    pub expiration: OffsetDateTime,
    pub payer_participant_id: ParticipantId,
    pub payee_participant_id: ParticipantId,
    pub payer_account_id: AccountId,
    pub payee_account_id: AccountId,
}

/// Why a prepare is INVALID, plus what could be parsed (stored with the INVALID transfer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareRejection {
    /// central-ledger's reason text.
    pub reason: String,
    /// The amount, when it was at least syntactically an amount (kept for the record).
    pub amount: Option<Decimal>,
    pub expiration: Option<OffsetDateTime>,
}

/// Validates a prepare. `Ok` means it may be stored as `RECEIVED_PREPARE` and sent to the
/// position handler; `Err` means `INVALID` with 3100 and the reason.
pub fn validate_prepare(check: &PrepareCheck<'_>) -> Result<ValidPrepare, PrepareRejection> {
    let body = check.body;
    let raw_amount = Amount::parse_api(&body.amount.amount).ok();
    let expiration = crate::fspiop_time::parse(&body.expiration).ok();
    let reject = |reason: String| PrepareRejection {
        reason,
        amount: raw_amount,
        expiration,
    };

    // 1. The sender must be the payer (exact, case-sensitive).
    if check.source != Some(body.payer_fsp.as_str()) {
        return Err(reject("FSPIOP-Source header should match Payer".to_owned()));
    }
    let (amount, currency) = amount_and_currency(body).map_err(reject)?;
    // 3./4. Both participants exist and are active.
    let payer = participant(check.payer, &body.payer_fsp).map_err(reject)?;
    let payee = participant(check.payee, &body.payee_fsp).map_err(reject)?;
    condition(body).map_err(reject)?;
    let expiration = checked_expiration(check, expiration).map_err(reject)?;
    // 7. Payer and payee differ (case-insensitively), unless the scheme allows on-us transfers.
    if !check.allow_on_us && body.payer_fsp.eq_ignore_ascii_case(&body.payee_fsp) {
        // "tranfers" is central-ledger's own spelling; DFSPs may match on it.
        return Err(reject(
            "Payer FSP and Payee FSP should be different, unless on-us tranfers are allowed by the Scheme"
                .to_owned(),
        ));
    }
    // 8. Both have an active POSITION account in the currency.
    let payer_account = account(payer, &body.payer_fsp, currency).map_err(reject)?;
    let payee_account = account(payee, &body.payee_fsp, currency).map_err(reject)?;
    Ok(ValidPrepare {
        amount,
        currency,
        expiration,
        payer_participant_id: payer.participant_id,
        payee_participant_id: payee.participant_id,
        payer_account_id: payer_account.account_id,
        payee_account_id: payee_account.account_id,
    })
}

/// Rule 2: the amount's syntax, scale and precision, and a currency the API knows.
fn amount_and_currency(body: &PrepareBody) -> Result<(Amount, Currency), String> {
    let amount = match Amount::parse(&body.amount.amount) {
        Ok(amount) => amount,
        Err(AmountError::Syntax) => {
            return Err(format!(
                "Amount {} is not a valid amount",
                body.amount.amount
            ));
        }
        Err(error) => return Err(error.to_string()),
    };
    let Ok(currency) = Currency::parse(&body.amount.currency) else {
        return Err(format!(
            "Currency {} is not supported",
            body.amount.currency
        ));
    };
    Ok((amount, currency))
}

/// Rule 5: a condition of exactly 32 bytes.
fn condition(body: &PrepareBody) -> Result<(), String> {
    if body.condition.is_empty() {
        return Err("Condition is required for a conditional transfer".to_owned());
    }
    if decode_condition(&body.condition).is_err() {
        return Err("Condition validation failed".to_owned());
    }
    Ok(())
}

/// Rule 6: an expiration (`parsed` from the body, if it parsed) that is not in the past — equal
/// passes, compared in milliseconds — and not further ahead than the scheme allows.
fn checked_expiration(
    check: &PrepareCheck<'_>,
    parsed: Option<OffsetDateTime>,
) -> Result<OffsetDateTime, String> {
    let body = check.body;
    if body.expiration.is_empty() {
        return Err("Expiration is required for conditional transfer".to_owned());
    }
    let Some(expiration) = parsed else {
        return Err(format!(
            "Expiration date {} is not a valid date",
            body.expiration
        ));
    };
    if expiration < truncate_to_millis(check.now) {
        return Err(format!(
            "Expiration date {} is already in the past",
            crate::fspiop_time::format(expiration)
        ));
    }
    if expiration > check.now + check.max_expiry {
        return Err(format!(
            "Expiration date {} is more than {} seconds ahead",
            crate::fspiop_time::format(expiration),
            check.max_expiry.whole_seconds()
        ));
    }
    Ok(expiration)
}

fn participant<'a>(
    view: Option<&'a ParticipantView>,
    name: &str,
) -> Result<&'a ParticipantView, String> {
    match view {
        None => Err(format!("Participant {name} not found")),
        Some(view) if !view.is_active => Err(format!("Participant {name} is inactive")),
        Some(view) => Ok(view),
    }
}

fn account(view: &ParticipantView, name: &str, currency: Currency) -> Result<AccountView, String> {
    match view.position_account {
        None => Err(format!(
            "Participant {name} {} account not found",
            currency.as_str()
        )),
        Some(account) if !account.is_active => Err(format!(
            "Participant {name} {} account is inactive",
            currency.as_str()
        )),
        Some(account) => Ok(account),
    }
}

fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let millis = t.millisecond();
    t.replace_nanosecond(u32::from(millis) * 1_000_000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MoneyBody;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00.000 UTC);

    fn body() -> PrepareBody {
        PrepareBody {
            amount: MoneyBody {
                amount: "100.5".into(),
                currency: "USD".into(),
            },
            condition: crate::ilp::condition_for(&[7; 32]),
            expiration: "2026-11-22T10:00:30.000Z".into(),
            extension_list: None,
            ilp_packet: "AYIBgQAAAAAAAASw".into(),
            payee_fsp: "payeefsp".into(),
            payer_fsp: "payerfsp".into(),
            transfer_id: "b51ec534-ee48-4575-b6a9-ead2955b8069".into(),
        }
    }

    fn dfsp(id: u32) -> ParticipantView {
        ParticipantView {
            participant_id: ParticipantId(id),
            is_active: true,
            position_account: Some(AccountView {
                account_id: AccountId(id * 10),
                is_active: true,
            }),
        }
    }

    fn check<'a>(
        body: &'a PrepareBody,
        payer: Option<&'a ParticipantView>,
        payee: Option<&'a ParticipantView>,
    ) -> PrepareCheck<'a> {
        PrepareCheck {
            body,
            source: Some("payerfsp"),
            payer,
            payee,
            now: NOW,
            allow_on_us: false,
            max_expiry: time::Duration::seconds(i64::from(DEFAULT_MAX_EXPIRY_SECONDS)),
        }
    }

    fn reason(result: Result<ValidPrepare, PrepareRejection>) -> String {
        result.expect_err("must be rejected").reason
    }

    #[test]
    fn a_valid_prepare_yields_both_accounts() {
        let (payer, payee) = (dfsp(1), dfsp(2));
        let body = body();
        let valid = validate_prepare(&check(&body, Some(&payer), Some(&payee))).unwrap();
        assert_eq!(valid.payer_account_id, AccountId(10));
        assert_eq!(valid.payee_account_id, AccountId(20));
        assert_eq!(valid.amount.to_api_string(), "100.5");
        assert_eq!(valid.currency.as_str(), "USD");
    }

    #[test]
    fn each_rule_gives_the_reference_reason() {
        let (payer, payee) = (dfsp(1), dfsp(2));
        let body0 = body();

        let mut c = check(&body0, Some(&payer), Some(&payee));
        c.source = Some("other");
        assert_eq!(
            reason(validate_prepare(&c)),
            "FSPIOP-Source header should match Payer"
        );
        c.source = None;
        assert_eq!(
            reason(validate_prepare(&c)),
            "FSPIOP-Source header should match Payer"
        );

        let mut b = body();
        b.amount.amount = "123456789012345678.5".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Amount 123456789012345678.5 exceeds allowed precision of 18"
        );
        b.amount.amount = "01".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Amount 01 is not a valid amount"
        );

        assert_eq!(
            reason(validate_prepare(&check(&body0, None, Some(&payee)))),
            "Participant payerfsp not found"
        );
        let inactive = ParticipantView {
            is_active: false,
            ..dfsp(2)
        };
        assert_eq!(
            reason(validate_prepare(&check(
                &body0,
                Some(&payer),
                Some(&inactive)
            ))),
            "Participant payeefsp is inactive"
        );

        let mut b = body();
        b.condition = String::new();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Condition is required for a conditional transfer"
        );
        b.condition = "c2hvcnQ".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Condition validation failed"
        );

        let mut b = body();
        b.expiration = "2026-11-22T09:59:59.999Z".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Expiration date 2026-11-22T09:59:59.999Z is already in the past"
        );
        b.expiration = "2026-11-22T10:00:00.000Z".into();
        assert!(
            validate_prepare(&check(&b, Some(&payer), Some(&payee))).is_ok(),
            "an expiration equal to now passes"
        );

        let mut b = body();
        b.payee_fsp = "PAYERFSP".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Payer FSP and Payee FSP should be different, unless on-us tranfers are allowed by the Scheme"
        );
        let mut c = check(&b, Some(&payer), Some(&payee));
        c.allow_on_us = true;
        assert!(validate_prepare(&c).is_ok());

        let no_account = ParticipantView {
            position_account: None,
            ..dfsp(2)
        };
        assert_eq!(
            reason(validate_prepare(&check(
                &body0,
                Some(&payer),
                Some(&no_account)
            ))),
            "Participant payeefsp USD account not found"
        );
        let inactive_account = ParticipantView {
            position_account: Some(AccountView {
                account_id: AccountId(10),
                is_active: false,
            }),
            ..dfsp(1)
        };
        assert_eq!(
            reason(validate_prepare(&check(
                &body0,
                Some(&inactive_account),
                Some(&payee)
            ))),
            "Participant payerfsp USD account is inactive"
        );
    }

    #[test]
    fn an_expiration_beyond_the_maximum_is_refused_and_one_at_it_passes() {
        let (payer, payee) = (dfsp(1), dfsp(2));
        let mut b = body();
        b.expiration = "2026-11-23T10:00:00.001Z".into();
        assert_eq!(
            reason(validate_prepare(&check(&b, Some(&payer), Some(&payee)))),
            "Expiration date 2026-11-23T10:00:00.001Z is more than 86400 seconds ahead"
        );
        b.expiration = "2026-11-23T10:00:00.000Z".into();
        assert!(validate_prepare(&check(&b, Some(&payer), Some(&payee))).is_ok());
        b.expiration = "9999-12-31T23:59:59.999Z".into();
        assert!(validate_prepare(&check(&b, Some(&payer), Some(&payee))).is_err());
    }

    #[test]
    fn the_first_failing_rule_wins() {
        // Wrong source and unknown payee: the source rule comes first.
        let body = body();
        let mut c = check(&body, None, None);
        c.source = Some("x");
        assert_eq!(
            reason(validate_prepare(&c)),
            "FSPIOP-Source header should match Payer"
        );
    }
}
