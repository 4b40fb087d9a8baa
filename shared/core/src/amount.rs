//! Exact money amounts.
//!
//! Two layers of rules apply, as in Mojaloop:
//! 1. the FSPIOP API syntax `^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$` — checked by
//!    [`Amount::parse_api`];
//! 2. the ledger's scale (≤ 4 decimal places) and precision (≤ 18 significant digits) — checked
//!    by [`Amount::from_decimal_checked`], whose errors print the exact reason texts of
//!    central-ledger's prepare validation.
//!
//! The syntax admits 18 integer plus 4 fractional digits (22 significant), so an amount can be
//! syntactically valid and still fail the ledger's precision rule. Money is never an `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::currency::Currency;

/// Largest number of decimal places the ledger stores (`AMOUNT.SCALE` in central-ledger).
pub const AMOUNT_SCALE_LIMIT: u32 = 4;
/// Largest number of significant digits the ledger accepts (`AMOUNT.PRECISION`).
pub const AMOUNT_PRECISION_LIMIT: u32 = 18;
/// Integer digits the FSPIOP amount pattern admits.
pub const API_AMOUNT_MAX_INTEGER_DIGITS: usize = 18;
/// Fractional digits the FSPIOP amount pattern admits.
pub const API_AMOUNT_MAX_FRACTION_DIGITS: usize = 4;
/// Longest string the FSPIOP amount pattern admits (`18 digits . 4 digits`).
pub const API_AMOUNT_MAX_LEN: usize =
    API_AMOUNT_MAX_INTEGER_DIGITS + 1 + API_AMOUNT_MAX_FRACTION_DIGITS;

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a string matching the FSPIOP `Amount` pattern.
    #[error("amount does not match the FSPIOP amount pattern")]
    Syntax,
    #[error("Amount {amount} exceeds allowed scale of {limit}", limit = AMOUNT_SCALE_LIMIT)]
    Scale { amount: Decimal },
    #[error("Amount {amount} exceeds allowed precision of {limit}", limit = AMOUNT_PRECISION_LIMIT)]
    Precision { amount: Decimal },
    #[error("Amount {amount} is negative")]
    Negative { amount: Decimal },
}

/// A ledger amount: exact, ≥ 0, at most 4 decimal places and 18 significant digits.
///
/// Held normalised (no trailing fractional zeros) so that equal values have equal
/// representations and print canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Checks the FSPIOP amount syntax with hand-written byte checks (no regex) and returns the
    /// value. Does **not** apply the ledger's precision rule: use [`Amount::from_decimal_checked`]
    /// (or [`Amount::parse`] for both) so that the reason text can be the ledger's.
    pub fn parse_api(s: &str) -> Result<Decimal, AmountError> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > API_AMOUNT_MAX_LEN {
            return Err(AmountError::Syntax);
        }
        let (int, frac) = match b.iter().position(|&c| c == b'.') {
            Some(dot) => (&b[..dot], Some(&b[dot + 1..])),
            None => (b, None),
        };
        let int_ok = match int {
            [b'0'] => true,
            [first, rest @ ..] => {
                (b'1'..=b'9').contains(first)
                    && rest.len() < API_AMOUNT_MAX_INTEGER_DIGITS
                    && rest.iter().all(u8::is_ascii_digit)
            }
            [] => false,
        };
        if !int_ok {
            return Err(AmountError::Syntax);
        }
        if let Some(frac) = frac {
            // `[.][0-9]{0,3}[1-9]`: 1 to 4 digits, the last one non-zero (no trailing zeros).
            let last_ok = frac.last().is_some_and(|c| (b'1'..=b'9').contains(c));
            if !last_ok
                || frac.len() > API_AMOUNT_MAX_FRACTION_DIGITS
                || !frac.iter().all(u8::is_ascii_digit)
            {
                return Err(AmountError::Syntax);
            }
        }
        // At most 22 digits: the mantissa fits an i128 and a Decimal (28 digits) exactly.
        let mut mantissa: i128 = 0;
        for &c in int.iter().chain(frac.unwrap_or_default()) {
            mantissa = mantissa * 10 + i128::from(c - b'0');
        }
        let scale = frac.map_or(0, <[u8]>::len);
        let scale = u32::try_from(scale).map_err(|_| AmountError::Syntax)?;
        debug_assert!(scale <= AMOUNT_SCALE_LIMIT);
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| AmountError::Syntax)
    }

    /// Applies the ledger rules (≥ 0, scale ≤ 4, precision ≤ 18, both measured after
    /// normalisation as decimal.js does in central-ledger). The error's `Display` is the exact
    /// reason text of central-ledger's prepare validation, with the amount as given.
    pub fn from_decimal_checked(amount: Decimal) -> Result<Amount, AmountError> {
        let normalized = amount.normalize();
        if normalized.is_sign_negative() && !normalized.is_zero() {
            return Err(AmountError::Negative { amount });
        }
        if normalized.scale() > AMOUNT_SCALE_LIMIT {
            return Err(AmountError::Scale { amount });
        }
        if significant_digits(normalized) > AMOUNT_PRECISION_LIMIT {
            return Err(AmountError::Precision { amount });
        }
        // `normalize` turns -0 into 0, so the stored value is never negative.
        let value = normalized.abs();
        debug_assert!(!value.is_sign_negative());
        Ok(Amount(value))
    }

    /// [`Amount::parse_api`] followed by [`Amount::from_decimal_checked`].
    pub fn parse(s: &str) -> Result<Amount, AmountError> {
        Self::from_decimal_checked(Self::parse_api(s)?)
    }

    /// The exact value.
    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The canonical FSPIOP form: no trailing zeros, no exponent, `0` for zero. Always matches
    /// the FSPIOP amount pattern.
    pub fn to_api_string(self) -> String {
        // Normalised decimals print without trailing zeros; rust_decimal never prints exponents.
        self.0.to_string()
    }

    /// `self + rhs`, `None` on overflow of the 96-bit decimal mantissa.
    pub fn checked_add(self, rhs: Amount) -> Option<Decimal> {
        self.0.checked_add(rhs.0)
    }

    /// `self − rhs` (may be negative), `None` on overflow.
    pub fn checked_sub(self, rhs: Amount) -> Option<Decimal> {
        self.0.checked_sub(rhs.0)
    }
}

/// Number of significant digits of a normalised decimal (`0` has one, as in decimal.js).
fn significant_digits(d: Decimal) -> u32 {
    let mantissa = d.mantissa().unsigned_abs();
    if mantissa == 0 {
        1
    } else {
        mantissa.ilog10() + 1
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<Amount> for Decimal {
    fn from(a: Amount) -> Decimal {
        a.0
    }
}

impl TryFrom<Decimal> for Amount {
    type Error = AmountError;

    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Self::from_decimal_checked(d)
    }
}

/// Serialised as the canonical FSPIOP string; deserialised with the FSPIOP syntax and the ledger
/// rules (the canonical form always satisfies both, so values round-trip).
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_api_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Amount::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency (FSPIOP `Money`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Amount, currency: Currency) -> Self {
        Self { amount, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn api_syntax_accepts_pattern_examples() {
        for (s, v) in [
            ("0", "0"),
            ("1", "1"),
            ("100", "100"),
            ("0.5", "0.5"),
            ("123.45", "123.45"),
            ("0.0001", "0.0001"),
            ("10.0501", "10.0501"),
            ("123456789012345678", "123456789012345678"),
            ("123456789012345678.9999", "123456789012345678.9999"),
        ] {
            assert_eq!(Amount::parse_api(s), Ok(dec(v)), "{s}");
        }
    }

    #[test]
    fn api_syntax_rejects_everything_else() {
        for s in [
            "",
            "00",
            "01",
            "-1",
            "+1",
            "1.",
            ".5",
            "1.0",
            "1.50",
            "1.00001",
            "1.12345",
            "1e3",
            " 1",
            "1 ",
            "1,5",
            "1..5",
            "1.5.1",
            "0x10",
            "1234567890123456789",
            "NaN",
            "１",
            "0.",
            "0.0",
        ] {
            assert_eq!(Amount::parse_api(s), Err(AmountError::Syntax), "{s:?}");
        }
    }

    #[test]
    fn ledger_rules_use_the_reference_reason_texts() {
        let e = Amount::from_decimal_checked(dec("1.12345")).unwrap_err();
        assert_eq!(e.to_string(), "Amount 1.12345 exceeds allowed scale of 4");
        let e = Amount::parse("123456789012345678.1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Amount 123456789012345678.1 exceeds allowed precision of 18"
        );
        let e = Amount::from_decimal_checked(dec("-1")).unwrap_err();
        assert_eq!(e, AmountError::Negative { amount: dec("-1") });
    }

    #[test]
    fn ledger_rules_measure_after_normalisation() {
        // Trailing zeros are not decimal places of the value.
        let a = Amount::from_decimal_checked(dec("1.500000")).unwrap();
        assert_eq!(a.to_api_string(), "1.5");
        // 18 significant digits, integer zeros included, is the largest allowed precision.
        assert!(Amount::parse("100000000000000000").is_ok());
        assert!(Amount::parse("12345678901234.5678").is_ok());
        assert!(Amount::parse("123456789012345.5678").is_err());
        assert_eq!(
            Amount::from_decimal_checked(dec("-0")).unwrap(),
            Amount::ZERO
        );
        assert_eq!(Amount::ZERO.to_api_string(), "0");
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        let a: Amount = serde_json::from_str("\"10.25\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"10.25\"");
        assert!(serde_json::from_str::<Amount>("\"10.250\"").is_err());
        assert!(serde_json::from_str::<Amount>("10.25").is_err());
        let m: Money = serde_json::from_str(r#"{"currency":"USD","amount":"100"}"#).unwrap();
        assert_eq!(m.currency.as_str(), "USD");
        assert_eq!(m.amount, Amount::parse("100").unwrap());
    }

    #[test]
    fn checked_arithmetic() {
        let a = Amount::parse("1.5").unwrap();
        let b = Amount::parse("2").unwrap();
        assert_eq!(a.checked_add(b), Some(dec("3.5")));
        assert_eq!(a.checked_sub(b), Some(dec("-0.5")));
    }

    proptest! {
        /// Every ledger amount prints in a form the API pattern accepts and parses back to itself.
        #[test]
        fn canonical_form_round_trips(mantissa in 0i64..=999_999_999_999_999_999, scale in 0u32..=4) {
            let d = Decimal::new(mantissa, scale);
            let a = Amount::from_decimal_checked(d).unwrap();
            let s = a.to_api_string();
            prop_assert_eq!(Amount::parse_api(&s), Ok(a.value()));
            prop_assert_eq!(Amount::parse(&s), Ok(a));
            prop_assert_eq!(a.value(), d);
        }

        /// The hand-written syntax check agrees with a straightforward reading of the pattern.
        #[test]
        fn syntax_matches_pattern(s in "[0-9.]{0,24}") {
            prop_assert_eq!(Amount::parse_api(&s).is_ok(), pattern_model(&s));
        }
    }

    /// `^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$`, written differently from the parser.
    fn pattern_model(s: &str) -> bool {
        let mut parts = s.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let int_ok = int == "0"
            || (!int.is_empty()
                && int.len() <= 18
                && !int.starts_with('0')
                && int.chars().all(|c| c.is_ascii_digit()));
        let frac_ok = frac.is_none_or(|f| {
            (1..=4).contains(&f.len()) && f.chars().all(|c| c.is_ascii_digit()) && !f.ends_with('0')
        });
        int_ok && frac_ok
    }
}
