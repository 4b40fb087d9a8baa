//! The duplicate-request hash (docs/duplicates-and-replays.md#the-request-hash).
//!
//! `SHA-256(canonical JSON of the body)`, where the canonical form is compact and has every
//! object's keys sorted, so that a resend with re-ordered keys or different whitespace is a
//! duplicate rather than a "modified request" (Mojaloop hashes the key order as received, which
//! its users report as a bug — docs/duplicates-and-replays.md#why-not-mojaloops-hash).
//!
//! Keys are sorted here, explicitly, by their UTF-8 bytes: serde_json's map type is a `BTreeMap`
//! by default but an insertion-ordered map when any crate in the build enables its
//! `preserve_order` feature, and the hash must not change with the feature set.
//!
//! Strings and numbers are printed as serde_json prints them. Note that if some crate enables
//! serde_json's `arbitrary_precision`, numbers keep their original text (`1.50` stays `1.50`);
//! the hash is then still deterministic for a given build, just stricter about number spelling.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bytes of a SHA-256 digest.
pub const REQUEST_HASH_LEN: usize = 32;

/// Why a body could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("request body is not JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
}

/// SHA-256 of a request's canonical JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHash([u8; REQUEST_HASH_LEN]);

impl RequestHash {
    /// SHA-256 of exactly these bytes (no canonicalisation); [`request_hash`] canonicalises first.
    pub fn digest(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub const fn from_bytes(bytes: [u8; REQUEST_HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// From a stored `BINARY(32)` column; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub const fn as_bytes(&self) -> &[u8; REQUEST_HASH_LEN] {
        &self.0
    }

    /// Mojaloop's textual form: standard base64 without the `=` padding (43 characters).
    pub fn to_base64(&self) -> String {
        let text = STANDARD_NO_PAD.encode(self.0);
        debug_assert_eq!(text.len(), 43);
        text
    }
}

impl fmt::Debug for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestHash({})", self.to_base64())
    }
}

impl fmt::Display for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Parses `body` as JSON and hashes its canonical form.
pub fn request_hash(body: &[u8]) -> Result<RequestHash, HashError> {
    let value: Value = serde_json::from_slice(body)?;
    Ok(hash_value(&value))
}

/// Hashes an already parsed body.
pub fn hash_value(value: &Value) -> RequestHash {
    RequestHash::digest(canonical_json(value).as_bytes())
}

/// Compact JSON with every object's keys sorted by their UTF-8 bytes.
///
/// Recursion depth equals the value's nesting depth, which serde_json's parser caps at 128.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's own escaping, so strings hash as serde_json prints them.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        // Serialising a &str into a String cannot fail.
        Err(e) => unreachable!("serde_json failed to print a string: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_at_every_level_and_is_compact() {
        let body =
            br#" { "b" : 1, "a" : { "z" : [ 3, { "y": null, "x": true } ], "c": "\u00e9" } } "#;
        let value: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":"é","z":[3,{"x":true,"y":null}]},"b":1}"#
        );
    }

    #[test]
    fn reordered_keys_and_whitespace_hash_the_same() {
        let a = br#"{"transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069","amount":{"currency":"USD","amount":"100"},"extensionList":{"extension":[{"key":"k","value":"v"}]}}"#;
        let b = br#"{
            "extensionList": { "extension": [ { "value": "v", "key": "k" } ] },
            "amount": { "amount": "100", "currency": "USD" },
            "transferId": "b51ec534-ee48-4575-b6a9-ead2955b8069"
        }"#;
        assert_eq!(request_hash(a).unwrap(), request_hash(b).unwrap());
    }

    #[test]
    fn any_changed_value_hashes_differently() {
        let base = json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null});
        let variants = [
            json!({"s": "y", "n": 1, "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": 2, "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": 1.5, "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": "1", "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": 1, "o": {"k": "w"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": 1, "o": {"K": "v"}, "a": [1, 2], "b": true, "z": null}),
            json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [2, 1], "b": true, "z": null}),
            json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [1, 2, 3], "b": true, "z": null}),
            json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [1, 2], "b": false, "z": null}),
            json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [1, 2], "b": true}),
            json!({"s": "x", "n": 1, "o": {"k": "v"}, "a": [1, 2], "b": true, "z": null, "extra": 0}),
        ];
        let h = hash_value(&base);
        for v in variants {
            assert_ne!(hash_value(&v), h, "{v}");
        }
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(
            request_hash(b"{\"a\":"),
            Err(HashError::InvalidJson(_))
        ));
        assert!(request_hash(b"").is_err());
    }

    #[test]
    fn base64_form_is_mojaloops() {
        // Mojaloop's hash is base64(SHA-256(body)) minus the trailing '=': its worked example
        // spells out a body (with the SDK's ILP packet in place of "<see §9>") and its hash.
        let example = crate::testdata::json("mojaloop-examples.json");
        let item = |pointer: &str| crate::testdata::str_at(&example, pointer).to_owned();
        let template = item("/duplicateHash/bodyTemplate");
        let expected = item("/duplicateHash/hash");
        let packet = item("/ilpV4Prepare/ilpPacket");
        let body = template.replace("<see §9>", &packet);
        assert!(body.starts_with("{\"transferId\""), "{body}");
        let hash = RequestHash::digest(body.as_bytes());
        assert_eq!(hash.to_base64(), expected);
        // Our canonical hash of the same body differs, because its keys are not sorted…
        let canonical = request_hash(body.as_bytes()).unwrap();
        assert_ne!(canonical, hash);
        // …and equals the raw hash of its sorted form.
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            canonical,
            RequestHash::digest(canonical_json(&value).as_bytes())
        );
    }

    #[test]
    fn byte_round_trip() {
        let h = request_hash(b"{}").unwrap();
        assert_eq!(RequestHash::from_slice(h.as_bytes()), Some(h));
        assert_eq!(RequestHash::from_bytes(*h.as_bytes()), h);
        assert_eq!(RequestHash::from_slice(&[0; 31]), None);
        assert_eq!(h.to_base64().len(), 43);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1_000_000i64..1_000_000, 1u32..6).prop_map(|(m, e)| {
                let text = format!("{m}.{}", "5".repeat(usize::try_from(e).unwrap_or(1)));
                serde_json::from_str(&text).unwrap()
            }),
            "[a-zA-Z0-9 é\"\\\\\\n]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Re-serialises `value` as text with every object's keys in a permuted order and with
    /// whitespace, independently of the canonical writer.
    fn shuffled_text(value: &Value, seed: &mut u64, out: &mut String) {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        match value {
            Value::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" ,\n");
                    }
                    shuffled_text(item, seed, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                // Fisher-Yates with the xorshift above.
                for i in (1..entries.len()).rev() {
                    let j = usize::try_from(next() % (u64::try_from(i).unwrap() + 1)).unwrap();
                    entries.swap(i, j);
                }
                out.push_str("{\t");
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push_str(" : ");
                    shuffled_text(item, seed, out);
                }
                out.push_str(" }");
            }
            leaf => out.push_str(&serde_json::to_string(leaf).unwrap()),
        }
    }

    proptest! {
        #[test]
        fn shuffled_keys_and_whitespace_do_not_change_the_hash(value in arb_json(), seed in 1u64..) {
            let mut text = String::new();
            let mut state = seed;
            shuffled_text(&value, &mut state, &mut text);
            prop_assert_eq!(request_hash(text.as_bytes()).unwrap(), hash_value(&value));
            // The canonical form is itself valid JSON describing the same value.
            let reparsed: Value = serde_json::from_str(&canonical_json(&value)).unwrap();
            prop_assert_eq!(reparsed, value);
        }
    }
}
