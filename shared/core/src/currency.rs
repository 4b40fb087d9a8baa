//! ISO-4217 currency codes as the FSPIOP API accepts them.
//!
//! The accepted set is exactly the `Currency` enum of the adapter's OpenAPI file
//! (`components.schemas.Currency.enum` in `fspiop/ml-api-adapter-transfers-openapi.yaml`). It is
//! checked in as [`CURRENCY_CODES`] (generated once from that file, kept sorted for binary search);
//! a test re-reads the file and fails if the two ever differ.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not an accepted currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency must be one of the FSPIOP ISO-4217 codes")]
    Unknown,
}

/// A currency from the FSPIOP `Currency` enum: three uppercase ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Accepts exactly the codes of [`CURRENCY_CODES`] (case-sensitive, as the API enum is).
    pub fn parse(s: &str) -> Result<Self, CurrencyError> {
        let b: [u8; 3] = s
            .as_bytes()
            .try_into()
            .map_err(|_| CurrencyError::Unknown)?;
        if CURRENCY_CODES.binary_search(&s).is_err() {
            return Err(CurrencyError::Unknown);
        }
        debug_assert!(b.iter().all(u8::is_ascii_uppercase));
        Ok(Self(b))
    }

    pub fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.0) {
            Ok(s) => s,
            // parse() only admits codes from CURRENCY_CODES, which are ASCII.
            Err(_) => unreachable!("Currency holds non-ASCII bytes"),
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Currency {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The `Currency` enum of `fspiop/ml-api-adapter-transfers-openapi.yaml`, in file order (sorted).
#[rustfmt::skip]
pub const CURRENCY_CODES: [&str; 164] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
    "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN",
    "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK",
    "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GGP", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF",
    "IDR", "ILS", "IMP", "INR", "IQD", "IRR", "ISK", "JEP", "JMD", "JOD", "JPY", "KES",
    "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRO", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLL", "SOS", "SPL", "SRD", "STD", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TVD", "TWD", "TZS",
    "UAH", "UGX", "USD", "UYU", "UZS", "VEF", "VND", "VUV", "WST", "XAF", "XCD", "XDR",
    "XOF", "XPF", "XTS", "XXX", "YER", "ZAR", "ZMW", "ZWD",
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testdata;

    #[test]
    fn checked_in_list_equals_the_openapi_enum() {
        let data = testdata::json("currencies.json");
        let from_file: Vec<&str> = data["openapiCurrencyEnum"]
            .as_array()
            .expect("openapiCurrencyEnum")
            .iter()
            .map(|v| v.as_str().expect("a code"))
            .collect();
        assert!(!from_file.is_empty());
        assert_eq!(CURRENCY_CODES.to_vec(), from_file);
    }

    /// Every accepted currency is an ISO 4217 code central-ledger knows, and its minor units fit
    /// the ledger's scale of 4, so an amount valid for the currency is never refused for scale.
    #[test]
    fn every_code_has_iso_minor_units_within_the_ledger_scale() {
        let data = testdata::json("currencies.json");
        let minor_units = data["minorUnits"].as_object().expect("minorUnits");
        for code in CURRENCY_CODES {
            let units = minor_units
                .get(code)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or_else(|| panic!("{code} has no ISO 4217 minor units upstream"));
            assert!(units <= 4, "{code}: {units} minor units");
        }
    }

    #[test]
    fn checked_in_list_is_sorted_and_unique() {
        // parse() relies on binary search.
        assert!(CURRENCY_CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parse_accepts_every_listed_code_only() {
        for code in CURRENCY_CODES {
            assert_eq!(Currency::parse(code).unwrap().as_str(), code);
        }
        for s in ["usd", "US", "USDD", "ABC", "", "XYZ", "ÜSD"] {
            assert_eq!(Currency::parse(s), Err(CurrencyError::Unknown), "{s}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let c: Currency = serde_json::from_str("\"XXX\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"XXX\"");
        assert!(serde_json::from_str::<Currency>("\"usd\"").is_err());
    }
}
