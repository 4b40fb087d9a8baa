//! Transfer identifiers: the FSPIOP `CorrelationId`.
//!
//! The adapter's OpenAPI file accepts a lowercase UUID (versions 1–7, RFC 9562 variant) or an
//! uppercase ULID. The id is stored, keyed on and printed back byte for byte as the DFSP sent it,
//! so it is kept as its text, never re-formatted through a UUID/ULID type.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a hyphenated UUID, the longer of the two accepted forms (`VARCHAR(36)` in MySQL).
pub const TRANSFER_ID_MAX_LEN: usize = 36;
/// Length of a ULID in Crockford base32.
pub const ULID_LEN: usize = 26;

/// Which of the two accepted id syntaxes a [`TransferId`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`
    Uuid,
    /// `^[0-9A-HJKMNP-TV-Z]{26}$`
    Ulid,
}

/// Why a string is not a valid transfer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("transfer id is empty")]
    Empty,
    #[error("transfer id is {len} bytes long; at most {TRANSFER_ID_MAX_LEN} are allowed")]
    TooLong { len: usize },
    #[error("transfer id must be a lowercase UUID (version 1-7) or an uppercase ULID")]
    Malformed,
}

/// A validated FSPIOP `CorrelationId` used as transfer id.
///
/// Stored inline (no allocation, `Copy`) because ids are parsed for every message on the hot path.
/// Equality, ordering and hashing are those of the text.
#[derive(Clone, Copy)]
pub struct TransferId {
    bytes: [u8; TRANSFER_ID_MAX_LEN],
    len: u8,
    kind: IdKind,
}

impl TransferId {
    /// Parses and validates `s` with hand-written byte checks (no regex on the hot path).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        let kind = match b.len() {
            0 => return Err(IdError::Empty),
            TRANSFER_ID_MAX_LEN if is_lower_uuid(b) => IdKind::Uuid,
            ULID_LEN if is_upper_ulid(b) => IdKind::Ulid,
            len if len > TRANSFER_ID_MAX_LEN => return Err(IdError::TooLong { len }),
            _ => return Err(IdError::Malformed),
        };
        let mut bytes = [0u8; TRANSFER_ID_MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        let len = u8::try_from(b.len()).map_err(|_| IdError::TooLong { len: b.len() })?;
        Ok(Self { bytes, len, kind })
    }

    /// A fresh lowercase UUID v7 id, for tools and tests (reads the clock).
    pub fn new_uuid_v7() -> Self {
        let text = uuid::Uuid::now_v7().hyphenated().to_string();
        match Self::parse(&text) {
            Ok(id) => id,
            // uuid prints v7 ids lowercase and hyphenated, which is always a valid CorrelationId.
            Err(e) => unreachable!("uuid produced an invalid CorrelationId {text}: {e}"),
        }
    }

    /// The id exactly as received.
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..usize::from(self.len)];
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            // parse() only admits ASCII bytes.
            Err(_) => unreachable!("TransferId holds non-ASCII bytes"),
        }
    }

    pub fn kind(&self) -> IdKind {
        self.kind
    }
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// `^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`
fn is_lower_uuid(b: &[u8]) -> bool {
    if b.len() != TRANSFER_ID_MAX_LEN {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        // The version nibble: the pattern admits versions 1 to 7 only.
        14 => (b'1'..=b'7').contains(&c),
        // The RFC 9562 variant nibble.
        19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
        _ => is_lower_hex(c),
    })
}

/// `^[0-9A-HJKMNP-TV-Z]{26}$` — Crockford base32 without I, L, O, U.
///
/// The pattern does not bound the first character (a strict ULID would need `0-7`); we accept
/// exactly what the API definition accepts.
fn is_upper_ulid(b: &[u8]) -> bool {
    b.len() == ULID_LEN
        && b.iter().all(|&c| {
            c.is_ascii_digit()
                || (c.is_ascii_uppercase() && !matches!(c, b'I' | b'L' | b'O' | b'U'))
        })
}

impl PartialEq for TransferId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TransferId {}

impl PartialOrd for TransferId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TransferId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for TransferId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({})", self.as_str())
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransferId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for TransferId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Equality, ordering and hashing are the text's, so a map keyed by ids is looked up by `&str`
/// too (a handler whose message still carries the id as text).
impl Borrow<str> for TransferId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for TransferId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TransferId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = TransferId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a lowercase UUID or an uppercase ULID")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TransferId, E> {
                TransferId::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_uuids_of_versions_1_to_7() {
        for v in '1'..='7' {
            let s = format!("b51ec534-ee48-{v}575-b6a9-ead2955b8069");
            let id = TransferId::parse(&s).unwrap();
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
            assert_eq!(id.kind(), IdKind::Uuid);
        }
    }

    #[test]
    fn rejects_uuid_deviations() {
        for s in [
            "B51EC534-EE48-4575-B6A9-EAD2955B8069", // uppercase
            "b51ec534-ee48-0575-b6a9-ead2955b8069", // version 0
            "b51ec534-ee48-8575-b6a9-ead2955b8069", // version 8
            "b51ec534-ee48-4575-c6a9-ead2955b8069", // variant c
            "b51ec534-ee48-4575-76a9-ead2955b8069", // variant 7
            "b51ec534ee48-4575-b6a9-ead2955b80699", // hyphen misplaced
            "b51ec534-ee48-4575-b6a9-ead2955b806g", // non-hex
            "b51ec534-ee48-4575-b6a9-ead2955b806",  // short
            "{b51ec534-ee48-4575-b6a9-ead2955b806}",
        ] {
            assert!(TransferId::parse(s).is_err(), "{s}");
        }
        assert_eq!(TransferId::parse(""), Err(IdError::Empty));
        assert_eq!(
            TransferId::parse("b51ec534-ee48-4575-b6a9-ead2955b80690"),
            Err(IdError::TooLong { len: 37 })
        );
    }

    #[test]
    fn accepts_uppercase_ulids_only() {
        let id = TransferId::parse("01JEBS69VK6AEA8TGAJE3ZA9EH").unwrap();
        assert_eq!(id.kind(), IdKind::Ulid);
        assert_eq!(id.as_str(), "01JEBS69VK6AEA8TGAJE3ZA9EH");
        // Lowercase, excluded letters (I, L, O, U) and wrong lengths are refused.
        for s in [
            "01jebs69vk6aea8tgaje3za9eh",
            "01JEBS69VK6AEA8TGAJE3ZA9EI",
            "01JEBS69VK6AEA8TGAJE3ZA9EL",
            "01JEBS69VK6AEA8TGAJE3ZA9EO",
            "01JEBS69VK6AEA8TGAJE3ZA9EU",
            "01JEBS69VK6AEA8TGAJE3ZA9E",
            "01JEBS69VK6AEA8TGAJE3ZA9EHH",
        ] {
            assert!(TransferId::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn new_uuid_v7_is_valid_and_unique() {
        let a = TransferId::new_uuid_v7();
        let b = TransferId::new_uuid_v7();
        assert_eq!(a.kind(), IdKind::Uuid);
        assert_eq!(&a.as_str()[14..15], "7");
        assert_ne!(a, b);
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: TransferId = serde_json::from_str("\"01JEBS69VK6AEA8TGAJE3ZA9EH\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"01JEBS69VK6AEA8TGAJE3ZA9EH\""
        );
        assert!(serde_json::from_str::<TransferId>("\"not-an-id\"").is_err());
        assert!(serde_json::from_str::<TransferId>("42").is_err());
    }

    #[test]
    fn ordering_and_hashing_follow_the_text() {
        use std::collections::HashSet;
        let a = TransferId::parse("01JEBS69VK6AEA8TGAJE3ZA9EH").unwrap();
        let b = TransferId::parse("b51ec534-ee48-4575-b6a9-ead2955b8069").unwrap();
        assert!(a < b);
        assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()));
        let set: HashSet<_> = [a, b, a].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains("01JEBS69VK6AEA8TGAJE3ZA9EH"));
    }
}
