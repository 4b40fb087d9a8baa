//! Participant (DFSP) names as they appear on the FSPIOP wire.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most characters an FSPIOP `FspId` may have (`maxLength: 32`).
pub const FSP_ID_MAX_CHARS: usize = 32;

/// Why a string is not an `FspId`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FspIdError {
    #[error("FSP id is empty")]
    Empty,
    #[error("FSP id has {chars} characters; at most {FSP_ID_MAX_CHARS} are allowed")]
    TooLong { chars: usize },
}

/// An FSPIOP `FspId`: 1 to 32 characters (counted as JSON Schema does, in Unicode scalar
/// values).
///
/// Equality is exact and case-sensitive: central-ledger compares `FSPIOP-Source` with
/// `payerFsp`/`payeeFsp` with `===`, and a case-folded match would let one participant act under
/// a name that differs from its registered one. (The only case-insensitive comparison in
/// central-ledger, payer ≠ payee for on-us transfers, is [`FspId::eq_ignore_case`].)
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FspId(String);

impl FspId {
    pub fn parse(s: &str) -> Result<Self, FspIdError> {
        check(s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison, for central-ledger's "payer and payee must differ" rule.
    pub fn eq_ignore_case(&self, other: &FspId) -> bool {
        self.0.to_lowercase() == other.0.to_lowercase()
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn check(s: &str) -> Result<(), FspIdError> {
    if s.is_empty() {
        return Err(FspIdError::Empty);
    }
    // Only count characters when the byte length could exceed the limit (4 bytes per char max).
    if s.len() > FSP_ID_MAX_CHARS {
        let chars = s.chars().count();
        if chars > FSP_ID_MAX_CHARS {
            return Err(FspIdError::TooLong { chars });
        }
    }
    Ok(())
}

impl TryFrom<String> for FspId {
    type Error = FspIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        check(&s)?;
        Ok(Self(s))
    }
}

impl FromStr for FspId {
    type Err = FspIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for FspId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FspId({:?})", self.0)
    }
}

impl fmt::Display for FspId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FspId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `FspId` be queried with a `&str` (e.g. a header value).
impl Borrow<str> for FspId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for FspId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FspId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for FspId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FspId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        FspId::try_from(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(FspId::parse("payerfsp").is_ok());
        assert!(FspId::parse(&"a".repeat(32)).is_ok());
        assert_eq!(
            FspId::parse(&"a".repeat(33)),
            Err(FspIdError::TooLong { chars: 33 })
        );
        // 32 two-byte characters are 64 bytes but still 32 characters.
        assert!(FspId::parse(&"é".repeat(32)).is_ok());
        assert_eq!(FspId::parse(""), Err(FspIdError::Empty));
    }

    #[test]
    fn equality_is_case_sensitive() {
        let a = FspId::parse("payerfsp").unwrap();
        let b = FspId::parse("PayerFsp").unwrap();
        assert_ne!(a, b);
        assert!(a.eq_ignore_case(&b));
        assert_eq!(a, "payerfsp");
    }

    #[test]
    fn serde_validates() {
        let a: FspId = serde_json::from_str("\"payeefsp\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"payeefsp\"");
        assert!(serde_json::from_str::<FspId>("\"\"").is_err());
    }
}
