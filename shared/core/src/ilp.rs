//! ILP condition and fulfilment (FSPIOP v1.1 §6.5.1.2;
//! docs/fspiop-api.md#condition-and-fulfilment).
//!
//! `fulfilment` is a 32-byte pre-image, `condition` its SHA-256, both base64url without padding
//! (43 characters). The hub checks exactly two things, as central-ledger does:
//! - at prepare, that the condition decodes to 32 bytes ([`decode_condition`], lenient);
//! - at fulfil, that `base64url(SHA-256(decode(fulfilment)))` equals the stored condition string
//!   ([`verify_fulfilment`]).
//!
//! The ILP packet itself is never needed for a decision; [`packet`] decodes it for diagnostics.

pub mod packet;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

/// Bytes of a pre-image and of a SHA-256 condition.
pub const PREIMAGE_LEN: usize = 32;
/// Characters of a 32-byte value in unpadded base64url (the `IlpFulfilment`/`IlpCondition`
/// pattern `^[A-Za-z0-9-_]{43}$`).
pub const ENCODED_LEN: usize = 43;
/// `maxLength` of `IlpCondition`; longer input is refused before decoding.
pub const CONDITION_MAX_CHARS: usize = 48;
/// Block size of SHA-256, used by the HMAC construction.
const SHA256_BLOCK_LEN: usize = 64;

/// Mojaloop decodes with Node's `Buffer`/base64url helpers, which ignore set bits after the last
/// full byte and do not require padding; decoding must accept what they accept.
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
pub(crate) const URL_SAFE_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
/// Canonical encoder for conditions and fulfilments.
const URL_SAFE_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false),
);

/// Why a fulfilment was refused. Handlers turn any of these into 3100 and abort the transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FulfilmentError {
    #[error("fulfilment must be {ENCODED_LEN} base64url characters encoding {PREIMAGE_LEN} bytes")]
    Malformed,
    #[error("fulfilment does not match the condition")]
    Mismatch,
}

/// Why a condition was refused at prepare ("Condition validation failed" in central-ledger).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("condition has {len} characters; at most {CONDITION_MAX_CHARS} are allowed")]
    TooLong { len: usize },
    #[error("condition is not base64")]
    Malformed,
    #[error("condition decodes to {len} bytes; {PREIMAGE_LEN} are required")]
    WrongLength { len: usize },
}

/// Decodes a fulfilment: exactly 43 base64url characters (trailing bits ignored, as Mojaloop).
pub fn decode_fulfilment(fulfilment: &str) -> Result<[u8; PREIMAGE_LEN], FulfilmentError> {
    let b = fulfilment.as_bytes();
    if b.len() != ENCODED_LEN || !b.iter().all(|&c| is_url_safe_symbol(c)) {
        return Err(FulfilmentError::Malformed);
    }
    let mut out = [0u8; PREIMAGE_LEN];
    let len = URL_SAFE_LENIENT
        .decode_slice(b, &mut out)
        .map_err(|_| FulfilmentError::Malformed)?;
    // 43 symbols carry 258 bits: always 32 whole bytes.
    debug_assert_eq!(len, PREIMAGE_LEN);
    Ok(out)
}

/// The fulfil-time check: `base64url(SHA-256(pre-image)) == condition`, compared as strings
/// against the condition as stored (as central-ledger does).
pub fn verify_fulfilment(fulfilment: &str, condition: &str) -> Result<(), FulfilmentError> {
    let preimage = decode_fulfilment(fulfilment)?;
    if condition_for(&preimage) == condition {
        Ok(())
    } else {
        Err(FulfilmentError::Mismatch)
    }
}

/// `base64url(SHA-256(pre-image))` without padding.
pub fn condition_for(preimage: &[u8; PREIMAGE_LEN]) -> String {
    let digest: [u8; PREIMAGE_LEN] = Sha256::digest(preimage).into();
    let out = URL_SAFE_NO_PAD.encode(digest);
    debug_assert_eq!(out.len(), ENCODED_LEN);
    out
}

/// The prepare-time check, lenient like central-ledger's: base64 or base64url symbols (even
/// mixed), optional padding, ignored trailing bits; the result must be exactly 32 bytes.
pub fn decode_condition(condition: &str) -> Result<[u8; PREIMAGE_LEN], ConditionError> {
    let b = condition.as_bytes();
    if b.len() > CONDITION_MAX_CHARS {
        return Err(ConditionError::TooLong { len: b.len() });
    }
    // Map both alphabets onto the standard one in a stack buffer; padding only at the end.
    let unpadded = b
        .strip_suffix(b"==")
        .or_else(|| b.strip_suffix(b"="))
        .unwrap_or(b);
    let mut standard = [0u8; CONDITION_MAX_CHARS];
    for (dst, &c) in standard.iter_mut().zip(unpadded) {
        *dst = match c {
            b'-' => b'+',
            b'_' => b'/',
            c if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' => c,
            _ => return Err(ConditionError::Malformed),
        };
    }
    // Room for 48 symbols (36 bytes), so a wrong length shows as WrongLength, not a decode error.
    let mut out = [0u8; CONDITION_MAX_CHARS / 4 * 3];
    let len = STANDARD_LENIENT
        .decode_slice(&standard[..unpadded.len()], &mut out)
        .map_err(|_| ConditionError::Malformed)?;
    if len != PREIMAGE_LEN {
        return Err(ConditionError::WrongLength { len });
    }
    let mut condition = [0u8; PREIMAGE_LEN];
    condition.copy_from_slice(&out[..PREIMAGE_LEN]);
    Ok(condition)
}

/// Mojaloop's payee-side fulfilment generation (sdk-standard-components, central-ledger test
/// utilities): `base64url(HMAC-SHA256(key = ASCII(base64(secret)), message))`. For an SDK
/// transfer the message is `ASCII(base64(sorted JSON of the transaction object))`; central-ledger's
/// test helper uses the ILP packet text. For simulators and tests; the hub never generates
/// fulfilments.
pub fn fulfilment_from_secret(secret: &[u8], message: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD.encode(secret);
    URL_SAFE_NO_PAD.encode(hmac_sha256(key.as_bytes(), message))
}

/// HMAC (RFC 2104) over SHA-256, built from `sha2` alone to avoid another dependency.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; SHA256_BLOCK_LEN];
    if key.len() > SHA256_BLOCK_LEN {
        let digest: [u8; 32] = Sha256::digest(key).into();
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad = block.map(|b| b ^ 0x36);
    let outer_pad = block.map(|b| b ^ 0x5c);
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn is_url_safe_symbol(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::testdata::{json as load_json, str_at};

    fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing in {v}"))
    }

    #[test]
    fn condition_fulfilment_vectors_behave_as_recorded() {
        let vectors = load_json("ilp/condition-fulfilment.json");
        let entries = vectors.as_array().expect("array");
        let mut checked = 0;
        for entry in entries {
            if entry.get("fulfilment").is_none() {
                continue; // the HMAC entry, checked below
            }
            let fulfilment = str_field(entry, "fulfilment");
            let claimed = str_field(entry, "claimed_condition");
            let computed = str_field(entry, "computed_condition");
            let expect_match = entry["match"].as_bool().expect("match");
            let preimage = decode_fulfilment(fulfilment).unwrap();
            assert_eq!(condition_for(&preimage), computed, "{entry}");
            assert_eq!(
                verify_fulfilment(fulfilment, claimed).is_ok(),
                expect_match,
                "{entry}"
            );
            if !expect_match {
                assert_eq!(
                    verify_fulfilment(fulfilment, claimed),
                    Err(FulfilmentError::Mismatch)
                );
            }
            // Every recorded condition passes the prepare-time check.
            assert!(decode_condition(claimed).is_ok(), "{claimed}");
            checked += 1;
        }
        assert!(checked >= 9, "only {checked} vectors found");
    }

    /// The HMAC entry records the fulfilment central-ledger's `ilpExample.js` derives from the
    /// secret named in its `source` and the `l1pPacket` text (kept in the decoded-packets file).
    #[test]
    fn hmac_fulfilment_vector() {
        let vectors = load_json("ilp/condition-fulfilment.json");
        let entry = vectors
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e.get("expected_fulfilment").is_some())
            .expect("HMAC entry");
        let source = str_field(entry, "source");
        let secret = source
            .split("secret=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("secret named in source");
        let packets = load_json("ilp/packets-decoded.json");
        let (_, packet) = packets
            .as_object()
            .unwrap()
            .iter()
            .find(|(name, _)| name.contains("ilpExample.js"))
            .expect("ilpExample.js packet");
        let message = str_field(packet, "ilpPacket");
        let fulfilment = fulfilment_from_secret(secret.as_bytes(), message.as_bytes());
        assert_eq!(fulfilment, str_field(entry, "expected_fulfilment"));
        assert_eq!(fulfilment, str_field(entry, "computed_fulfilment"));
    }

    #[test]
    fn sdk_fulfilment_generation_example() {
        // Secret, sorted transaction object, fulfilment and condition of Mojaloop's SDK example.
        let example = load_json("mojaloop-examples.json");
        let item = |name: &str| str_at(&example, &format!("/ilpV4Prepare/{name}")).to_owned();
        let fulfilment = item("fulfilment");
        let message =
            base64::engine::general_purpose::STANDARD.encode(item("transactionObjectSortedJson"));
        assert_eq!(
            fulfilment_from_secret(item("secret").as_bytes(), message.as_bytes()),
            fulfilment
        );
        assert_eq!(verify_fulfilment(&fulfilment, &item("condition")), Ok(()));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Keys longer than a block are hashed first (RFC 4231 case 6).
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn fulfilment_syntax_is_strict() {
        let ok = "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA";
        assert!(decode_fulfilment(ok).is_ok());
        for bad in [
            "",
            &ok[..42],
            &format!("{ok}A"),
            &format!("{ok}="),
            "UNlJ98hZTY/dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
            "UNlJ98hZTY+dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
            "UNlJ98hZTY dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
        ] {
            assert_eq!(
                decode_fulfilment(bad),
                Err(FulfilmentError::Malformed),
                "{bad:?}"
            );
            assert!(verify_fulfilment(bad, "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM").is_err());
        }
    }

    #[test]
    fn condition_decoding_is_lenient_like_the_reference() {
        let url = "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM";
        let expected = decode_condition(url).unwrap();
        // Standard alphabet, padded, and mixed forms of the same bytes are all accepted.
        let standard = url.replace('-', "+").replace('_', "/");
        assert_eq!(decode_condition(&standard), Ok(expected));
        assert_eq!(decode_condition(&format!("{standard}=")), Ok(expected));
        assert_eq!(decode_condition(&format!("{url}=")), Ok(expected));
        // Wrong lengths and garbage are refused.
        assert_eq!(
            decode_condition("AAAA"),
            Err(ConditionError::WrongLength { len: 3 })
        );
        assert_eq!(
            decode_condition(""),
            Err(ConditionError::WrongLength { len: 0 })
        );
        assert!(decode_condition(&"A".repeat(48)).is_err());
        assert_eq!(
            decode_condition(&"A".repeat(49)),
            Err(ConditionError::TooLong { len: 49 })
        );
        assert_eq!(
            decode_condition("GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESA!M"),
            Err(ConditionError::Malformed)
        );
        assert_eq!(
            decode_condition("GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kE=SAfM"),
            Err(ConditionError::Malformed)
        );
    }
}
