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
use std::str::FromStr;

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

    /// A number member, exact: the JSON number's text or a numeric string.
    pub fn number(&self, key: &str, required_: bool) -> Result<Option<Decimal>, FspiopError> {
        let label = self.label(key);
        let Some(raw) = self.get(key, &label, required_)? else {
            return Ok(None);
        };
        let text = match kind(raw) {
            Kind::Number => raw.get().trim().to_owned(),
            Kind::String => serde_json::from_str::<String>(raw.get()).unwrap_or_default(),
            _ => String::new(),
        };
        parse_number(&text)
            .map(Some)
            .ok_or_else(|| invalid(format!("\"{label}\" must be a number")))
    }

    pub fn required_number(&self, key: &str) -> Result<Decimal, FspiopError> {
        let label = self.label(key);
        self.number(key, true)?.ok_or_else(|| required(&label))
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

/// Parses a number as Joi's conversion would accept it (`[+-]digits[.digits][e±digits]`),
/// exactly. `None` for anything else, or for values outside `Decimal`'s range.
pub fn parse_number(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (mantissa, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return None;
    }
    if let Some(exp) = exponent {
        let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if exp_digits.is_empty() || !digits_ok(exp_digits) {
            return None;
        }
    }
    let normalised = text.strip_prefix('+').unwrap_or(text);
    let value = if exponent.is_some() {
        Decimal::from_scientific(normalised).ok()?
    } else {
        Decimal::from_str(normalised).ok()?
    };
    Some(value)
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

/// Checks a money-like number against the ledger's columns: at most `scale` decimal places and
/// `max_integer_digits` digits before the point, with the sign rule. 3100 Joi-style otherwise.
pub fn check_number(
    label: &str,
    value: Decimal,
    sign: Sign,
    scale: u32,
    max_integer_digits: u32,
) -> Result<Decimal, FspiopError> {
    let value = value.normalize();
    match sign {
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
    if value.scale() > scale {
        return Err(invalid(format!(
            "\"{label}\" must have no more than {scale} decimal places"
        )));
    }
    if integer_digits(value) > max_integer_digits {
        return Err(invalid(format!(
            "\"{label}\" must have at most {max_integer_digits} digits before the decimal point"
        )));
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

    #[test]
    fn numbers_are_exact_and_accept_numeric_strings() {
        let obj = parse_body(
            br#"{"a": 1234567890123456.1234, "b": "42.5", "c": 1e3, "d": "x", "e": true, "f": -0.0001}"#,
        )
        .unwrap();
        assert_eq!(
            obj.number("a", true).unwrap(),
            Some("1234567890123456.1234".parse().unwrap())
        );
        assert_eq!(
            obj.number("b", true).unwrap(),
            Some("42.5".parse().unwrap())
        );
        assert_eq!(obj.number("c", true).unwrap(), Some(Decimal::from(1000)));
        assert_eq!(code(&obj.number("d", true).unwrap_err()), 3100);
        assert_eq!(code(&obj.number("e", true).unwrap_err()), 3100);
        assert_eq!(
            obj.number("f", true).unwrap(),
            Some("-0.0001".parse().unwrap())
        );
        let missing = obj.number("z", true).unwrap_err();
        assert_eq!(code(&missing), 3102);
        assert_eq!(
            missing.description(),
            "Missing mandatory element - \"z\" is required"
        );
        for bad in [
            "", ".", "1.2.3", "--1", "1e", "0x10", "NaN", "Infinity", " ",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
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
        assert_eq!(
            check_number("a", d("10.5000"), Sign::Positive, 4, 18).unwrap(),
            d("10.5")
        );
        assert!(check_number("a", d("0"), Sign::Positive, 4, 18).is_err());
        assert!(check_number("a", d("0"), Sign::NonNegative, 4, 18).is_ok());
        assert!(check_number("a", d("-1"), Sign::NonNegative, 4, 18).is_err());
        assert!(check_number("a", d("-1"), Sign::Any, 4, 18).is_ok());
        assert!(check_number("a", d("1.00001"), Sign::Any, 4, 18).is_err());
        assert!(check_number("a", d("1234567890123456789"), Sign::Any, 4, 18).is_err());
        assert!(check_number("a", d("123456789012345678.1234"), Sign::Any, 4, 18).is_ok());
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
