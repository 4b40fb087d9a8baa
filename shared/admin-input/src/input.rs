//! Request validation with central-ledger's error contract.
//!
//! central-ledger validates admin requests with Joi and turns the first failure into an FSPIOP
//! error with `createFSPIOPErrorFromJoiError`: `any.required` → 3102 "Missing mandatory
//! element"; `string.*` (wrong type, empty, too long, not alphanumeric, not a GUID) and
//! `any.only` (not one of the allowed values) → 3101 "Malformed syntax"; everything else
//! (`number.*`, `boolean.base`, `object.base`, …) → 3100 "Generic validation error". The
//! description is the code's message, " - ", and Joi's message (`"limit.value" is required`);
//! for a path parameter it is `'<name>' URI path parameter`. A body that is not JSON at all gets
//! 3101 "Malformed syntax - Invalid request payload JSON format" (Hapi answers 3000 there; the
//! ferroloop contract asks for 3101).
//!
//! Numbers are read from the JSON text itself (never through `f64`), and — as Joi converts by
//! default — a numeric string is a number and `"true"`/`"false"` are booleans.

use std::collections::BTreeMap;

use ferroloop_core::currency::{CURRENCY_CODES, Currency};
use ferroloop_core::error::{ErrorCode, FspiopError};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

/// 3102 `"<label>" is required`.
pub fn required(label: &str) -> FspiopError {
    FspiopError::with_detail(
        ErrorCode::MISSING_ELEMENT,
        format!("\"{label}\" is required"),
    )
}

/// 3101 with a Joi message.
pub fn malformed(detail: impl Into<String>) -> FspiopError {
    FspiopError::with_detail(ErrorCode::MALFORMED_SYNTAX, detail)
}

/// 3100 with a Joi message.
pub fn invalid(detail: impl Into<String>) -> FspiopError {
    FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail)
}

/// 3101 `"<label>" must be one of [a, b]` (Joi `any.only`).
pub fn not_one_of(label: &str, allowed: &[&str]) -> FspiopError {
    malformed(format!(
        "\"{label}\" must be one of [{}]",
        allowed.join(", ")
    ))
}

/// A JSON object of a request body, its members kept as raw JSON text.
#[derive(Debug)]
pub struct Obj {
    /// Joi label prefix of the members (`limit` for `limit.value`), empty at the top level.
    path: String,
    fields: BTreeMap<String, Box<RawValue>>,
}

/// The JSON type of a raw value, from its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

fn kind(raw: &RawValue) -> Kind {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        _ => Kind::Number,
    }
}

/// Parses a request body: must be JSON (3101 otherwise) holding an object (3100 otherwise). An
/// empty body counts as `{}`, so its required members are reported as missing.
pub fn parse_body(bytes: &[u8]) -> Result<Obj, FspiopError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Obj {
            path: String::new(),
            fields: BTreeMap::new(),
        });
    }
    let raw: Box<RawValue> = serde_json::from_slice(bytes)
        .map_err(|_| malformed("Invalid request payload JSON format"))?;
    Obj::from_raw(&raw, "", "value")
}

impl Obj {
    fn from_raw(raw: &RawValue, path: &str, label: &str) -> Result<Obj, FspiopError> {
        if kind(raw) != Kind::Object {
            return Err(invalid(format!("\"{label}\" must be of type object")));
        }
        let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get())
            .map_err(|_| invalid(format!("\"{label}\" must be of type object")))?;
        Ok(Obj {
            path: path.to_owned(),
            fields,
        })
    }

    /// Joi's label of a member: its full path.
    pub fn label(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(
        &self,
        key: &str,
        label: &str,
        required_: bool,
    ) -> Result<Option<&RawValue>, FspiopError> {
        match self.fields.get(key) {
            Some(raw) => Ok(Some(raw)),
            None if required_ => Err(required(label)),
            None => Ok(None),
        }
    }

    /// A string member (non-empty). `label` overrides the Joi label (central-ledger's `.label()`).
    pub fn string_labelled(
        &self,
        key: &str,
        label: &str,
        required_: bool,
    ) -> Result<Option<String>, FspiopError> {
        let Some(raw) = self.get(key, label, required_)? else {
            return Ok(None);
        };
        if kind(raw) != Kind::String {
            return Err(malformed(format!("\"{label}\" must be a string")));
        }
        let text: String = serde_json::from_str(raw.get())
            .map_err(|_| malformed(format!("\"{label}\" must be a string")))?;
        if text.is_empty() {
            return Err(malformed(format!("\"{label}\" is not allowed to be empty")));
        }
        Ok(Some(text))
    }

    pub fn string(&self, key: &str, required_: bool) -> Result<Option<String>, FspiopError> {
        self.string_labelled(key, &self.label(key), required_)
    }

    /// A required string member.
    pub fn required_string(&self, key: &str) -> Result<String, FspiopError> {
        let label = self.label(key);
        self.string_labelled(key, &label, true)?
            .ok_or_else(|| required(&label))
    }

    /// A string member that must be one of `allowed` (3101 otherwise).
    pub fn one_of(
        &self,
        key: &str,
        label: &str,
        allowed: &[&str],
        required_: bool,
    ) -> Result<Option<String>, FspiopError> {
        let Some(value) = self.string_labelled(key, label, required_)? else {
            return Ok(None);
        };
        if allowed.contains(&value.as_str()) {
            Ok(Some(value))
        } else {
            Err(not_one_of(label, allowed))
        }
    }

    /// A currency member (one of the FSPIOP ISO-4217 codes).
    pub fn currency(&self, key: &str, required_: bool) -> Result<Option<Currency>, FspiopError> {
        let label = self.label(key);
        let Some(value) = self.string_labelled(key, &label, required_)? else {
            return Ok(None);
        };
        parse_currency(&label, &value).map(Some)
    }

    pub fn required_currency(&self, key: &str) -> Result<Currency, FspiopError> {
        let label = self.label(key);
        self.currency(key, true)?.ok_or_else(|| required(&label))
    }

    /// A boolean member (`true`/`false`, or those words as strings, as Joi converts).
    pub fn boolean(&self, key: &str, required_: bool) -> Result<Option<bool>, FspiopError> {
        let label = self.label(key);
        let Some(raw) = self.get(key, &label, required_)? else {
            return Ok(None);
        };
        let text = match kind(raw) {
            Kind::Bool => raw.get().trim().to_owned(),
            Kind::String => serde_json::from_str::<String>(raw.get())
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
            _ => String::new(),
        };
        match text.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(invalid(format!("\"{label}\" must be a boolean"))),
        }
    }

    pub fn required_boolean(&self, key: &str) -> Result<bool, FspiopError> {
        let label = self.label(key);
        self.boolean(key, true)?.ok_or_else(|| required(&label))
    }

    /// A number member, exact — the JSON number's text or a numeric string — that satisfies
    /// `rule` (3100 Joi-style otherwise).
    pub fn number(
        &self,
        key: &str,
        rule: NumberRule,
        required_: bool,
    ) -> Result<Option<Decimal>, FspiopError> {
        let label = self.label(key);
        let Some(raw) = self.get(key, &label, required_)? else {
            return Ok(None);
        };
        let text = match kind(raw) {
            // Whitespace around a JSON number token is JSON's, not the number's.
            Kind::Number => raw.get().trim().to_owned(),
            // Inside a string it is the operator's: " 10" is not a number.
            Kind::String => serde_json::from_str::<String>(raw.get()).unwrap_or_default(),
            _ => String::new(),
        };
        let value = parse_number(&text).map_err(|e| rule.refusal(&label, e))?;
        check_number(&label, value, rule).map(Some)
    }

    pub fn required_number(&self, key: &str, rule: NumberRule) -> Result<Decimal, FspiopError> {
        let label = self.label(key);
        self.number(key, rule, true)?
            .ok_or_else(|| required(&label))
    }

    /// An object member; `label` overrides the Joi label.
    pub fn object_labelled(
        &self,
        key: &str,
        label: &str,
        required_: bool,
    ) -> Result<Option<Obj>, FspiopError> {
        let Some(raw) = self.get(key, label, required_)? else {
            return Ok(None);
        };
        Obj::from_raw(raw, &self.label(key), label).map(Some)
    }

    /// An array member whose items are objects.
    pub fn objects(&self, key: &str, required_: bool) -> Result<Option<Vec<Obj>>, FspiopError> {
        let label = self.label(key);
        let Some(raw) = self.get(key, &label, required_)? else {
            return Ok(None);
        };
        if kind(raw) != Kind::Array {
            return Err(invalid(format!("\"{label}\" must be an array")));
        }
        let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get())
            .map_err(|_| invalid(format!("\"{label}\" must be an array")))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_label = format!("{label}[{i}]");
                Obj::from_raw(item, &item_label, &item_label)
            })
            .collect::<Result<Vec<Obj>, FspiopError>>()
            .map(Some)
    }
}

/// A currency code, 3101 Joi-style when it is not one of the FSPIOP codes.
pub fn parse_currency(label: &str, value: &str) -> Result<Currency, FspiopError> {
    Currency::parse(value).map_err(|_| not_one_of(label, &CURRENCY_CODES))
}

/// Why a text is not a number the ledger can take exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Not `[+-]digits[.digits][e±digits]`.
    NotANumber,
    /// More digits after the point than a `Decimal` holds (28): refused rather than rounded.
    TooManyDecimals,
    /// More digits before the point than a `Decimal` holds.
    TooManyDigits,
}

/// Most digits a `Decimal` holds on either side of the point.
const DECIMAL_DIGITS: i64 = 28;

/// Parses a number as Joi's conversion would accept it (`[+-]digits[.digits][e±digits]`, no
/// whitespace), exactly: the value is the one the text denotes, never a rounded one. An
/// exponent is applied by moving the point in the digits (so `1e-30` is refused, not rounded to
/// 0, and `1e999999999` is refused without expanding it). Negative zero is zero.
pub fn parse_number(text: &str) -> Result<Decimal, NumberError> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return Err(NumberError::NotANumber);
    }
    let exponent = match exponent {
        None => 0,
        Some(exp) => parse_exponent(exp).ok_or(NumberError::NotANumber)?,
    };
    // The significant digits and where the point sits among them.
    let all = format!("{int}{frac}");
    let leading = all.bytes().take_while(|b| *b == b'0').count();
    let digits = all[leading..].trim_end_matches('0');
    if digits.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let len = i64::try_from(digits.len()).map_err(|_| NumberError::TooManyDigits)?;
    let point = i64::try_from(int.len()).map_err(|_| NumberError::TooManyDigits)?
        - i64::try_from(leading).map_err(|_| NumberError::TooManyDigits)?
        + exponent;
    if point > DECIMAL_DIGITS {
        return Err(NumberError::TooManyDigits);
    }
    if len - point > DECIMAL_DIGITS {
        return Err(NumberError::TooManyDecimals);
    }
    let plain = place_point(digits, point);
    let value = Decimal::from_str_exact(&plain).map_err(|_| NumberError::TooManyDecimals)?;
    Ok(if negative { -value } else { value })
}

/// An exponent's value, saturated far beyond any representable number (so a huge one is
/// refused by size, never expanded). `None` when it is not `[+-]digits`.
fn parse_exponent(exp: &str) -> Option<i64> {
    let (negative, digits) = match exp.as_bytes().first() {
        Some(b'-') => (true, &exp[1..]),
        Some(b'+') => (false, &exp[1..]),
        _ => (false, exp),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX).min(1_000_000);
    Some(if negative { -magnitude } else { magnitude })
}

/// `0.digits × 10^point` written out (|point| is at most [`DECIMAL_DIGITS`] plus the digits).
fn place_point(digits: &str, point: i64) -> String {
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let zeros = |n: i64| "0".repeat(usize::try_from(n).unwrap_or(0));
    if point <= 0 {
        format!("0.{}{digits}", zeros(-point))
    } else if point >= len {
        format!("{digits}{}", zeros(point - len))
    } else {
        let split = usize::try_from(point).unwrap_or(0);
        format!("{}.{}", &digits[..split], &digits[split..])
    }
}

/// Digits before the decimal point of a (normalised) value.
fn integer_digits(value: Decimal) -> u32 {
    let int = value.trunc().abs();
    if int.is_zero() {
        0
    } else {
        int.to_string().len().try_into().unwrap_or(u32::MAX)
    }
}

/// Sign rule of a money-like number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// > 0 (Joi `positive()`).
    Positive,
    /// ≥ 0 (Joi `positive().allow(0)` / `min(0)`).
    NonNegative,
    /// Any sign.
    Any,
}

/// What a money-like number must be: its sign, at most `scale` decimal places and
/// `max_integer_digits` digits before the point (the ledger's columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberRule {
    pub sign: Sign,
    pub scale: u32,
    pub max_integer_digits: u32,
}

impl NumberRule {
    pub const fn new(sign: Sign, scale: u32, max_integer_digits: u32) -> Self {
        Self {
            sign,
            scale,
            max_integer_digits,
        }
    }

    fn too_many_decimals(&self, label: &str) -> FspiopError {
        invalid(format!(
            "\"{label}\" must have no more than {} decimal places",
            self.scale
        ))
    }

    fn too_many_digits(&self, label: &str) -> FspiopError {
        invalid(format!(
            "\"{label}\" must have at most {} digits before the decimal point",
            self.max_integer_digits
        ))
    }

    /// The 3100 for a text [`parse_number`] refused: one the rule would refuse too, since
    /// anything a `Decimal` cannot hold exceeds every rule's scale or digits.
    fn refusal(&self, label: &str, error: NumberError) -> FspiopError {
        match error {
            NumberError::NotANumber => invalid(format!("\"{label}\" must be a number")),
            NumberError::TooManyDecimals => self.too_many_decimals(label),
            NumberError::TooManyDigits => self.too_many_digits(label),
        }
    }
}

/// Checks a number against `rule`. 3100 Joi-style otherwise. The result is normalised (no
/// trailing zeros, and never a negative zero).
pub fn check_number(label: &str, value: Decimal, rule: NumberRule) -> Result<Decimal, FspiopError> {
    let value = value.normalize();
    match rule.sign {
        Sign::Positive if value <= Decimal::ZERO => {
            return Err(invalid(format!("\"{label}\" must be a positive number")));
        }
        Sign::NonNegative if value < Decimal::ZERO => {
            return Err(invalid(format!(
                "\"{label}\" must be greater than or equal to 0"
            )));
        }
        _ => {}
    }
    if value.scale() > rule.scale {
        return Err(rule.too_many_decimals(label));
    }
    if integer_digits(value) > rule.max_integer_digits {
        return Err(rule.too_many_digits(label));
    }
    Ok(value)
}

/// A positive integer path parameter (`id`), 3100 `'<name>' URI path parameter` otherwise.
pub fn path_id(name: &str, value: &str) -> Result<u32, FspiopError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| invalid(format!("'{name}' URI path parameter")))
}

/// central-ledger's participant name rule (Joi `string().alphanum().min(2).max(30)`), 3101.
pub fn check_name(label: &str, name: &str) -> Result<(), FspiopError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(malformed(format!(
            "\"{label}\" must only contain alpha-numeric characters"
        )));
    }
    check_name_length(label, name)
}

/// 2 to 30 characters, as central-ledger's names (3101).
fn check_name_length(label: &str, name: &str) -> Result<(), FspiopError> {
    let chars = name.chars().count();
    if chars < 2 {
        return Err(malformed(format!(
            "\"{label}\" length must be at least 2 characters long"
        )));
    }
    if chars > 30 {
        return Err(malformed(format!(
            "\"{label}\" length must be less than or equal to 30 characters long"
        )));
    }
    Ok(())
}

/// A name of word characters (letters, digits, `_`), 2 to 30 long: the admin document's
/// `^\w+$` for ledger account type names (3101).
pub fn check_word(label: &str, name: &str) -> Result<(), FspiopError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(malformed(format!(
            "\"{label}\" must only contain letters, digits and underscores"
        )));
    }
    check_name_length(label, name)
}

/// A string no longer than `max` characters (Joi `string.max`, 3101).
pub fn check_length(label: &str, value: &str, max: usize) -> Result<(), FspiopError> {
    if value.chars().count() > max {
        return Err(malformed(format!(
            "\"{label}\" length must be less than or equal to {max} characters long"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &FspiopError) -> u16 {
        e.code().as_u16()
    }

    const ANY: NumberRule = NumberRule::new(Sign::Any, 4, 18);

    #[test]
    fn numbers_are_exact_and_accept_numeric_strings() {
        let obj = parse_body(
            br#"{"a": 1234567890123456.1234, "b": "42.5", "c": 1e3, "d": "x", "e": true, "f": -0.0001}"#,
        )
        .unwrap();
        assert_eq!(
            obj.number("a", ANY, true).unwrap(),
            Some("1234567890123456.1234".parse().unwrap())
        );
        assert_eq!(
            obj.number("b", ANY, true).unwrap(),
            Some("42.5".parse().unwrap())
        );
        assert_eq!(
            obj.number("c", ANY, true).unwrap(),
            Some(Decimal::from(1000))
        );
        assert_eq!(code(&obj.number("d", ANY, true).unwrap_err()), 3100);
        assert_eq!(code(&obj.number("e", ANY, true).unwrap_err()), 3100);
        assert_eq!(
            obj.number("f", ANY, true).unwrap(),
            Some("-0.0001".parse().unwrap())
        );
        let missing = obj.number("z", ANY, true).unwrap_err();
        assert_eq!(code(&missing), 3102);
        assert_eq!(
            missing.description(),
            "Missing mandatory element - \"z\" is required"
        );
        for bad in [
            "", ".", "1.2.3", "--1", "1e", "0x10", "NaN", "Infinity", " ", "1e+", "1e1.5", "e5",
        ] {
            assert_eq!(parse_number(bad), Err(NumberError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_never_rounded() {
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        // Beyond 28 decimal places `Decimal::from_str` rounds; here it is refused.
        assert_eq!(
            parse_number("1.00000000000000000000000000001"),
            Err(NumberError::TooManyDecimals)
        );
        // Trailing zeros add no precision: exactly 1.
        assert_eq!(
            parse_number("1.000000000000000000000000000000000"),
            Ok(d("1"))
        );
        // Exponents move the point, exactly.
        assert_eq!(parse_number("1.5e2"), Ok(d("150")));
        assert_eq!(parse_number("15E-4"), Ok(d("0.0015")));
        assert_eq!(parse_number("+2.50e+1"), Ok(d("25")));
        assert_eq!(
            parse_number("1e-28"),
            Ok(d("0.0000000000000000000000000001"))
        );
        assert_eq!(parse_number("1e-29"), Err(NumberError::TooManyDecimals));
        assert_eq!(parse_number("1e28"), Err(NumberError::TooManyDigits));
        assert_eq!(
            parse_number("1e999999999999999999999"),
            Err(NumberError::TooManyDigits)
        );
        assert_eq!(parse_number("0e999999999"), Ok(Decimal::ZERO));
        // Negative zero is zero (never stored or echoed as "-0").
        let zero = parse_number("-0.000").unwrap();
        assert!(zero.is_zero() && !zero.is_sign_negative());
        // Whitespace is not part of a number.
        for spaced in [" 10", "10 ", "1 0", "\t1", "1\n"] {
            assert_eq!(
                parse_number(spaced),
                Err(NumberError::NotANumber),
                "{spaced:?}"
            );
        }
        // A JSON number token may have JSON whitespace around it; a numeric string may not.
        let obj = parse_body(b"{\"a\":  7 , \"b\": \" 7\"}").unwrap();
        assert_eq!(obj.number("a", ANY, true).unwrap(), Some(d("7")));
        assert_eq!(
            obj.number("b", ANY, true).unwrap_err().description(),
            "Generic validation error - \"b\" must be a number"
        );
        // Refusals name the rule that the text breaks.
        let obj = parse_body(br#"{"p": "1e-30", "q": "1e40", "r": "-0"}"#).unwrap();
        let rule = NumberRule::new(Sign::Positive, 2, 3);
        let message = |key: &str| {
            obj.number(key, rule, true)
                .unwrap_err()
                .description()
                .to_owned()
        };
        assert_eq!(
            message("p"),
            "Generic validation error - \"p\" must have no more than 2 decimal places"
        );
        assert_eq!(
            message("q"),
            "Generic validation error - \"q\" must have at most 3 digits before the decimal point"
        );
        assert_eq!(
            message("r"),
            "Generic validation error - \"r\" must be a positive number"
        );
    }

    #[test]
    fn joi_codes_for_strings_booleans_and_objects() {
        let obj =
            parse_body(br#"{"s": 5, "e": "", "b": "TRUE", "n": null, "o": {"x": 1}, "c": "usd"}"#)
                .unwrap();
        assert_eq!(code(&obj.string("s", true).unwrap_err()), 3101);
        assert_eq!(code(&obj.string("e", true).unwrap_err()), 3101);
        assert_eq!(code(&obj.string("n", false).unwrap_err()), 3101);
        assert_eq!(obj.boolean("b", true).unwrap(), Some(true));
        assert_eq!(code(&obj.boolean("s", true).unwrap_err()), 3100);
        let inner = obj.object_labelled("o", "o", true).unwrap().unwrap();
        let err = inner.required_string("y").unwrap_err();
        assert_eq!(
            err.description(),
            "Missing mandatory element - \"o.y\" is required"
        );
        assert_eq!(
            code(&obj.object_labelled("s", "s", true).unwrap_err()),
            3100
        );
        assert_eq!(code(&obj.currency("c", true).unwrap_err()), 3101);
    }

    #[test]
    fn body_must_be_a_json_object() {
        let err = parse_body(b"{\"a\":").unwrap_err();
        assert_eq!(code(&err), 3101);
        assert_eq!(
            err.description(),
            "Malformed syntax - Invalid request payload JSON format"
        );
        assert_eq!(code(&parse_body(b"[1]").unwrap_err()), 3100);
        assert!(
            parse_body(b"  ")
                .unwrap()
                .string("x", false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn money_rules() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let rule = |sign| NumberRule::new(sign, 4, 18);
        assert_eq!(
            check_number("a", d("10.5000"), rule(Sign::Positive)).unwrap(),
            d("10.5")
        );
        assert!(check_number("a", d("0"), rule(Sign::Positive)).is_err());
        assert!(check_number("a", d("0"), rule(Sign::NonNegative)).is_ok());
        assert!(check_number("a", d("-1"), rule(Sign::NonNegative)).is_err());
        assert!(check_number("a", d("-1"), rule(Sign::Any)).is_ok());
        assert!(check_number("a", d("1.00001"), rule(Sign::Any)).is_err());
        assert!(check_number("a", d("1234567890123456789"), rule(Sign::Any)).is_err());
        assert!(check_number("a", d("123456789012345678.1234"), rule(Sign::Any)).is_ok());
        let negative_zero = -Decimal::ZERO;
        let checked = check_number("a", negative_zero, rule(Sign::NonNegative)).unwrap();
        assert!(!checked.is_sign_negative());
        assert_eq!(checked.to_string(), "0");
    }

    #[test]
    fn names_and_path_ids() {
        assert!(check_name("name", "dfsp1").is_ok());
        for bad in ["d", "dfsp-1", "a234567890123456789012345678901", ""] {
            assert_eq!(code(&check_name("name", bad).unwrap_err()), 3101, "{bad}");
        }
        assert_eq!(path_id("id", "12").unwrap(), 12);
        for bad in ["0", "-1", "x", "1.5", ""] {
            let err = path_id("id", bad).unwrap_err();
            assert_eq!(code(&err), 3100);
            assert_eq!(
                err.description(),
                "Generic validation error - 'id' URI path parameter"
            );
        }
    }
}
