//! FSPIOP JWS: the `FSPIOP-Signature` header (FSPIOP v1.1 "Signature" document;
//! docs/fspiop-api.md#signatures-jws).
//!
//! The header value is a JSON object `{"protectedHeader": BASE64URL(UTF8(protected header JSON)),
//! "signature": BASE64URL(JWS signature)}` over the standard JWS signing input
//! `protectedHeader || "." || BASE64URL(body)` — the payload is the whole HTTP body. The protected
//! header holds `alg`, `FSPIOP-URI`, `FSPIOP-HTTP-Method`, `FSPIOP-Source`, and
//! `FSPIOP-Destination` and `Date` when the request has them. [`sign`] writes the members and the
//! two fields in the order Mojaloop's SDK (`sdk-standard-components` `JwsSigner`) does, so its
//! output is byte-identical to the SDK's for the same body, headers and RSA key (PKCS#1 v1.5 and
//! ECDSA/RFC 6979 signatures are deterministic).
//!
//! [`verify`] applies the rules of Mojaloop's SDK validator (docs/fspiop-api.md#signatures-jws)
//! plus the signature document's rule that other protected HTTP header parameters must equal the
//! request's:
//! - a body, and the headers `FSPIOP-Source`, `FSPIOP-URI`, `FSPIOP-HTTP-Method` and
//!   `FSPIOP-Signature`, are required (the caller picks the public key by `FSPIOP-Source`);
//! - the signature must verify, with `alg` fitting the key, over the **raw body bytes** (what the
//!   spec says and what forwarding byte-for-byte preserves) **or** over the body's canonical form
//!   (keys sorted, compact — `ferroloop_core::hash::canonical_json`, what the SDK validator
//!   re-serialises and verifies; docs/mojaloop-differences.md#signatures-and-client-certificates);
//! - the protected header must have `alg`, and `FSPIOP-URI`, `FSPIOP-HTTP-Method`,
//!   `FSPIOP-Source` equal to the HTTP headers; a non-empty protected `Date` must equal the `Date`
//!   header; `FSPIOP-Destination` must be in both or neither and equal; any other member that is
//!   not a JWS-registered parameter names an HTTP header and must equal it.
//!
//! [`verify_request`] — what the hub applies to a request it receives — first requires the
//! `FSPIOP-URI` and `FSPIOP-HTTP-Method` headers to name that request ([`RequestTarget`]: the
//! path and query the DFSP addressed, and the method), as the signature document's steps 4 and 5
//! ask. With the protected-header rule above, the signature then binds the request: a signed
//! `PUT /transfers/A/error` does not verify on `/transfers/B/error`.
//!
//! Any failure is FSPIOP 3105 "Invalid signature" with the reason as detail.
//!
//! Algorithms: `RS256` (what the SDK and the spec use), `RS384`, `RS512` (spec), `PS256` and
//! `ES256` (P-256; the SDK's EC choice). RSA keys must have at least 2048 bits (spec).
//!
//! Crypto is RustCrypto's pure-Rust `rsa` 0.9 and `p256` 0.13. RSA private-key operations are
//! blinded with a random factor (`sign_with_rng`) so their timing does not depend on the key in an
//! exploitable way; `rsa` 0.9 is not fully constant-time (RUSTSEC-2023-0071 concerns decryption,
//! which is never done here).

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::canonical_json;
use http::{HeaderName, HeaderValue};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::rand_core::OsRng;
use rsa::sha2::{Sha256, Sha384, Sha512};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value};

use crate::headers::names;

/// Smallest RSA modulus the FSPIOP signature document allows.
pub const MIN_RSA_BITS: usize = 2048;
/// `protectedHeader` length limit of the signature document (`String(1..32768)`).
pub const PROTECTED_HEADER_MAX_CHARS: usize = 32_768;
/// `signature` length limit of the signature document (`String(1..512)`).
pub const SIGNATURE_MAX_CHARS: usize = 512;
/// Protected header member names.
pub const ALG: &str = "alg";
pub const FSPIOP_URI: &str = "FSPIOP-URI";
pub const FSPIOP_HTTP_METHOD: &str = "FSPIOP-HTTP-Method";
pub const FSPIOP_SOURCE: &str = "FSPIOP-Source";
pub const FSPIOP_DESTINATION: &str = "FSPIOP-Destination";
pub const DATE: &str = "Date";
/// JWS header parameters registered by RFC 7515 §4.1: not HTTP headers, so not compared.
const REGISTERED_PARAMETERS: [&str; 11] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
];

/// Base64url as JWS uses it: unpadded on output; padding tolerated on input (Node's decoder does).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A JWS algorithm this crate signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Es256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Es256,
    ];

    /// The JWA name (`alg` value).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    fn is_rsa(self) -> bool {
        !matches!(self, Algorithm::Es256)
    }
}

/// Why a key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM RSA or P-256 {0} key")]
    Unsupported(&'static str),
    #[error("RSA key has {bits} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooShort { bits: usize },
    #[error("key generation or encoding failed: {0}")]
    Generate(String),
}

/// A private key for [`sign`]: RSA (RS*/PS*) or P-256 (ES256).
#[derive(Clone)]
pub enum SigningKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    EcP256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::Rsa(k) => write!(f, "SigningKey::Rsa({} bits)", k.size() * 8),
            SigningKey::EcP256(_) => f.write_str("SigningKey::EcP256"),
        }
    }
}

impl SigningKey {
    /// Loads `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1), `-----BEGIN PRIVATE KEY-----` (PKCS#8,
    /// RSA or P-256) or `-----BEGIN EC PRIVATE KEY-----` (SEC1, P-256).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = if let Ok(k) = rsa::RsaPrivateKey::from_pkcs1_pem(pem) {
            SigningKey::Rsa(Box::new(k))
        } else if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            SigningKey::Rsa(Box::new(k))
        } else if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
            SigningKey::EcP256(k.into())
        } else if let Ok(k) = p256::SecretKey::from_sec1_pem(pem) {
            SigningKey::EcP256(k.into())
        } else {
            return Err(KeyError::Unsupported("private"));
        };
        if let SigningKey::Rsa(k) = &key {
            check_rsa_bits(k.size())?;
        }
        Ok(key)
    }

    /// The algorithm the SDK would pick: RS256 for RSA, ES256 for EC.
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Rsa(_) => Algorithm::Rs256,
            SigningKey::EcP256(_) => Algorithm::Es256,
        }
    }

    /// A new RSA key pair of `bits` bits (at least [`MIN_RSA_BITS`]) as PEM text: the private
    /// key in PKCS#8 (`BEGIN PRIVATE KEY`), the public key in SPKI (`BEGIN PUBLIC KEY`), the forms
    /// [`SigningKey::from_pem`] and [`VerifyingKey::from_pem`] read and Mojaloop's SDK loads.
    /// RSA with RS256 is what DFSP validators support everywhere, hence the hub's default.
    pub fn generate_rsa_pem(bits: usize) -> Result<(String, String), KeyError> {
        use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        check_rsa_bits(bits / 8)?;
        let generate = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
        let key = rsa::RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| generate(&e))?;
        let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| generate(&e))?;
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| generate(&e))?;
        Ok((private.to_string(), public))
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Rsa(k) => VerifyingKey::Rsa(k.to_public_key()),
            SigningKey::EcP256(k) => VerifyingKey::EcP256(*k.verifying_key()),
        }
    }
}

/// A public key for [`verify`]: RSA or P-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    Rsa(rsa::RsaPublicKey),
    EcP256(p256::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    /// Loads `-----BEGIN PUBLIC KEY-----` (SPKI, RSA or P-256) or
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = if let Ok(k) = rsa::RsaPublicKey::from_public_key_pem(pem) {
            VerifyingKey::Rsa(k)
        } else if let Ok(k) = rsa::RsaPublicKey::from_pkcs1_pem(pem) {
            VerifyingKey::Rsa(k)
        } else if let Ok(k) = p256::PublicKey::from_public_key_pem(pem) {
            VerifyingKey::EcP256(k.into())
        } else {
            return Err(KeyError::Unsupported("public"));
        };
        if let VerifyingKey::Rsa(k) = &key {
            check_rsa_bits(k.size())?;
        }
        Ok(key)
    }

    fn fits(&self, alg: Algorithm) -> bool {
        match self {
            VerifyingKey::Rsa(_) => alg.is_rsa(),
            VerifyingKey::EcP256(_) => alg == Algorithm::Es256,
        }
    }
}

fn check_rsa_bits(modulus_bytes: usize) -> Result<(), KeyError> {
    let bits = modulus_bytes * 8;
    if bits < MIN_RSA_BITS {
        Err(KeyError::RsaTooShort { bits })
    } else {
        Ok(())
    }
}

/// Why a signature could not be made or did not verify (the detail of 3105).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("Cannot validate JWS without a body")]
    MissingBody,
    #[error("{0} header is required")]
    MissingHeader(&'static str),
    #[error(
        "FSPIOP-Signature must be a JSON object with string members signature and protectedHeader"
    )]
    MalformedSignatureHeader,
    #[error("{member} must have 1 to {max} characters")]
    BadLength { member: &'static str, max: usize },
    #[error("protectedHeader must be BASE64URL of a JSON object")]
    MalformedProtectedHeader,
    #[error("signature must be BASE64URL")]
    MalformedSignature,
    #[error("protected header has no {0}")]
    MissingProtected(&'static str),
    #[error("unsupported alg {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("alg {0} does not fit the key")]
    KeyMismatch(&'static str),
    #[error("invalid signature")]
    BadSignature,
    #[error("{0} of the protected header does not match the HTTP header")]
    Mismatch(String),
    /// `FSPIOP-URI` or `FSPIOP-HTTP-Method` names another request than the one it came with.
    #[error("{header} does not match the request ({expected})")]
    NotThisRequest {
        header: &'static str,
        expected: String,
    },
    #[error("signing failed: {0}")]
    Signing(String),
}

impl From<JwsError> for FspiopError {
    fn from(e: JwsError) -> Self {
        FspiopError::with_detail(ErrorCode::INVALID_SIGNATURE, e.to_string())
    }
}

/// Read access to request headers by lower-case name.
pub trait HeaderSource {
    fn header(&self, lower_case_name: &str) -> Option<&str>;
}

impl HeaderSource for std::collections::BTreeMap<String, String> {
    fn header(&self, lower_case_name: &str) -> Option<&str> {
        self.get(lower_case_name).map(String::as_str)
    }
}

impl HeaderSource for http::HeaderMap {
    /// Values that are not visible ASCII read as absent.
    fn header(&self, lower_case_name: &str) -> Option<&str> {
        self.get(lower_case_name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderSource for [(HeaderName, HeaderValue)] {
    /// The first pair with that name, as built by [`crate::callback`].
    fn header(&self, lower_case_name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.as_str() == lower_case_name)
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// The HTTP header values a signature protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeaders {
    /// `FSPIOP-URI`: path (and query) from the resource on, e.g. `/transfers/{ID}`.
    pub uri: String,
    /// `FSPIOP-HTTP-Method`, upper case.
    pub http_method: String,
    pub source: String,
    /// Protected when the destination is known (always for transfers).
    pub destination: Option<String>,
    /// Protected when the request has a `Date`, as the SDK does.
    pub date: Option<String>,
}

impl ProtectedHeaders {
    /// From request headers: `fspiop-uri`, `fspiop-http-method`, `fspiop-source` required;
    /// `fspiop-destination` and `date` taken when present and non-empty.
    pub fn from_headers<H: HeaderSource + ?Sized>(headers: &H) -> Result<Self, JwsError> {
        let required = |name: &'static str| {
            headers
                .header(name)
                .map(str::to_owned)
                .ok_or(JwsError::MissingHeader(name))
        };
        let optional = |name: &str| {
            headers
                .header(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(Self {
            uri: required(names::FSPIOP_URI)?,
            http_method: required(names::FSPIOP_HTTP_METHOD)?,
            source: required(names::FSPIOP_SOURCE)?,
            destination: optional(names::FSPIOP_DESTINATION),
            date: optional(names::DATE),
        })
    }

    /// The protected header JSON, members in the SDK's order.
    fn to_json(&self, alg: Algorithm) -> String {
        let mut members = vec![
            (ALG, alg.as_str()),
            (FSPIOP_URI, self.uri.as_str()),
            (FSPIOP_HTTP_METHOD, self.http_method.as_str()),
            (FSPIOP_SOURCE, self.source.as_str()),
        ];
        if let Some(d) = &self.destination {
            members.push((FSPIOP_DESTINATION, d));
        }
        if let Some(d) = &self.date {
            members.push((DATE, d));
        }
        let body: Vec<String> = members
            .into_iter()
            .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Signs `body` (exactly these bytes) and returns the `FSPIOP-Signature` header value
/// `{"protectedHeader":"…","signature":"…"}`.
///
/// For interoperability with SDK-based DFSPs, whose validator verifies the canonical (sorted-key,
/// compact) form of the body, send a body that *is* canonical (`ferroloop_core::hash::
/// canonical_json`); a spec-faithful validator then verifies it as raw bytes too.
pub fn sign(
    body: &[u8],
    headers: &ProtectedHeaders,
    key: &SigningKey,
    alg: Algorithm,
) -> Result<String, JwsError> {
    let protected = BASE64URL.encode(headers.to_json(alg));
    let input = signing_input(&protected, body);
    let signature = BASE64URL.encode(sign_input(input.as_bytes(), key, alg)?);
    Ok(format!(
        "{{\"protectedHeader\":{},\"signature\":{}}}",
        json_string(&protected),
        json_string(&signature)
    ))
}

/// `ASCII(protectedHeader || "." || BASE64URL(payload))`.
fn signing_input(protected: &str, payload: &[u8]) -> String {
    format!("{protected}.{}", BASE64URL.encode(payload))
}

fn sign_input(input: &[u8], key: &SigningKey, alg: Algorithm) -> Result<Vec<u8>, JwsError> {
    let mismatch = || JwsError::KeyMismatch(alg.as_str());
    let signing = |e: rsa::signature::Error| JwsError::Signing(e.to_string());
    match (key, alg) {
        (SigningKey::Rsa(k), Algorithm::Rs256) => {
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone());
            Ok(signer
                .try_sign_with_rng(&mut OsRng, input)
                .map_err(signing)?
                .to_vec())
        }
        (SigningKey::Rsa(k), Algorithm::Rs384) => {
            let signer = rsa::pkcs1v15::SigningKey::<Sha384>::new((**k).clone());
            Ok(signer
                .try_sign_with_rng(&mut OsRng, input)
                .map_err(signing)?
                .to_vec())
        }
        (SigningKey::Rsa(k), Algorithm::Rs512) => {
            let signer = rsa::pkcs1v15::SigningKey::<Sha512>::new((**k).clone());
            Ok(signer
                .try_sign_with_rng(&mut OsRng, input)
                .map_err(signing)?
                .to_vec())
        }
        (SigningKey::Rsa(k), Algorithm::Ps256) => {
            // Salt length = digest length, as JWA (RFC 7518 §3.5) requires.
            let signer = rsa::pss::BlindedSigningKey::<Sha256>::new((**k).clone());
            Ok(signer
                .try_sign_with_rng(&mut OsRng, input)
                .map_err(signing)?
                .to_vec())
        }
        (SigningKey::EcP256(k), Algorithm::Es256) => {
            // RFC 6979 deterministic; JWS wants the fixed 64-byte r || s form.
            let signature: p256::ecdsa::Signature = k.try_sign(input).map_err(signing)?;
            Ok(signature.to_bytes().to_vec())
        }
        _ => Err(mismatch()),
    }
}

fn verify_input(input: &[u8], signature: &[u8], key: &VerifyingKey, alg: Algorithm) -> bool {
    match (key, alg) {
        (VerifyingKey::Rsa(k), Algorithm::Rs256) => {
            rsa_pkcs1v15_verify::<Sha256>(k, input, signature)
        }
        (VerifyingKey::Rsa(k), Algorithm::Rs384) => {
            rsa_pkcs1v15_verify::<Sha384>(k, input, signature)
        }
        (VerifyingKey::Rsa(k), Algorithm::Rs512) => {
            rsa_pkcs1v15_verify::<Sha512>(k, input, signature)
        }
        (VerifyingKey::Rsa(k), Algorithm::Ps256) => {
            let verifier = rsa::pss::VerifyingKey::<Sha256>::new(k.clone());
            rsa::pss::Signature::try_from(signature)
                .is_ok_and(|s| verifier.verify(input, &s).is_ok())
        }
        (VerifyingKey::EcP256(k), Algorithm::Es256) => {
            p256::ecdsa::Signature::from_slice(signature).is_ok_and(|s| k.verify(input, &s).is_ok())
        }
        _ => false,
    }
}

fn rsa_pkcs1v15_verify<D>(key: &rsa::RsaPublicKey, input: &[u8], signature: &[u8]) -> bool
where
    D: rsa::sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    let verifier = rsa::pkcs1v15::VerifyingKey::<D>::new(key.clone());
    rsa::pkcs1v15::Signature::try_from(signature).is_ok_and(|s| verifier.verify(input, &s).is_ok())
}

/// Which form of the body the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    /// The body bytes exactly as received.
    Raw,
    /// The body's canonical JSON (sorted keys, compact), as the SDK signs objects.
    Canonical,
}

/// Verifies the `FSPIOP-Signature` of a request (rules in the module documentation); any failure
/// is 3105 "Invalid signature" with the reason as detail.
pub fn verify<H: HeaderSource + ?Sized>(
    body: &[u8],
    headers: &H,
    public_key: &VerifyingKey,
) -> Result<(), FspiopError> {
    verify_detailed(body, headers, public_key)
        .map(|_| ())
        .map_err(FspiopError::from)
}

/// The request a signature arrived with, as the signer addressed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The path (and `?query`) the signer sent to: the path received, behind the external base
    /// path when an ingress rewrote it (`/fspiop` + `/transfers/{ID}`).
    pub uri: &'a str,
}

/// [`verify`] for a request received by the hub: first, the `FSPIOP-URI` and
/// `FSPIOP-HTTP-Method` headers must name `target` (so, through the protected-header rule, the
/// signature does too). Without this a signed `PUT /transfers/A/error` would verify on
/// `/transfers/B/error` as well — fulfil and error bodies carry no transfer id.
pub fn verify_request<H: HeaderSource + ?Sized>(
    body: &[u8],
    headers: &H,
    public_key: &VerifyingKey,
    target: RequestTarget<'_>,
) -> Result<(), FspiopError> {
    check_target(headers, target)?;
    verify(body, headers, public_key)
}

fn check_target<H: HeaderSource + ?Sized>(
    headers: &H,
    target: RequestTarget<'_>,
) -> Result<(), JwsError> {
    for (name, header, expected) in [
        (names::FSPIOP_URI, FSPIOP_URI, target.uri),
        (names::FSPIOP_HTTP_METHOD, FSPIOP_HTTP_METHOD, target.method),
    ] {
        let value = headers.header(name).ok_or(JwsError::MissingHeader(name))?;
        if value != expected {
            return Err(JwsError::NotThisRequest {
                header,
                expected: expected.to_owned(),
            });
        }
    }
    Ok(())
}

/// [`verify`] with the reason as a [`JwsError`] and, on success, which body form was signed.
pub fn verify_detailed<H: HeaderSource + ?Sized>(
    body: &[u8],
    headers: &H,
    public_key: &VerifyingKey,
) -> Result<SignedForm, JwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(JwsError::MissingBody);
    }
    let required = |name: &'static str| headers.header(name).ok_or(JwsError::MissingHeader(name));
    let source = required(names::FSPIOP_SOURCE)?;
    let uri = required(names::FSPIOP_URI)?;
    let method = required(names::FSPIOP_HTTP_METHOD)?;
    let signature_header = required(names::FSPIOP_SIGNATURE)?;

    let (protected_b64, signature_b64) = parse_signature_header(signature_header)?;
    let protected = decode_protected_header(&protected_b64)?;
    let alg_name = protected
        .get(ALG)
        .ok_or(JwsError::MissingProtected(ALG))?
        .as_str()
        .ok_or_else(|| JwsError::UnsupportedAlgorithm(protected[ALG].to_string()))?;
    let alg = Algorithm::from_name(alg_name)
        .ok_or_else(|| JwsError::UnsupportedAlgorithm(alg_name.to_owned()))?;
    if !public_key.fits(alg) {
        return Err(JwsError::KeyMismatch(alg.as_str()));
    }
    let signature = BASE64URL
        .decode(&signature_b64)
        .map_err(|_| JwsError::MalformedSignature)?;

    // The signature first, then the protected header, as the SDK validator does.
    let form = if verify_input(
        signing_input(&protected_b64, body).as_bytes(),
        &signature,
        public_key,
        alg,
    ) {
        SignedForm::Raw
    } else {
        let canonical = serde_json::from_slice::<Value>(body)
            .ok()
            .map(|v| canonical_json(&v))
            .filter(|c| c.as_bytes() != body)
            .ok_or(JwsError::BadSignature)?;
        let input = signing_input(&protected_b64, canonical.as_bytes());
        if !verify_input(input.as_bytes(), &signature, public_key, alg) {
            return Err(JwsError::BadSignature);
        }
        SignedForm::Canonical
    };

    check_protected_header(&protected, headers, source, uri, method)?;
    Ok(form)
}

/// `{"protectedHeader": "…", "signature": "…"}` (member order and whitespace free).
fn parse_signature_header(value: &str) -> Result<(String, String), JwsError> {
    let mut parsed: Map<String, Value> =
        serde_json::from_str(value).map_err(|_| JwsError::MalformedSignatureHeader)?;
    let mut take = |name: &str| match parsed.remove(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(JwsError::MalformedSignatureHeader),
    };
    let protected = take("protectedHeader")?;
    let signature = take("signature")?;
    check_length(&protected, "protectedHeader", PROTECTED_HEADER_MAX_CHARS)?;
    check_length(&signature, "signature", SIGNATURE_MAX_CHARS)?;
    Ok((protected, signature))
}

fn check_length(s: &str, member: &'static str, max: usize) -> Result<(), JwsError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        Err(JwsError::BadLength { member, max })
    } else {
        Ok(())
    }
}

fn decode_protected_header(b64: &str) -> Result<Map<String, Value>, JwsError> {
    let bytes = BASE64URL
        .decode(b64)
        .map_err(|_| JwsError::MalformedProtectedHeader)?;
    serde_json::from_slice(&bytes).map_err(|_| JwsError::MalformedProtectedHeader)
}

fn check_protected_header<H: HeaderSource + ?Sized>(
    protected: &Map<String, Value>,
    headers: &H,
    source: &str,
    uri: &str,
    method: &str,
) -> Result<(), JwsError> {
    let text = |name: &str| protected.get(name).map(|v| v.as_str());
    for (member, header_value) in [
        (FSPIOP_URI, uri),
        (FSPIOP_HTTP_METHOD, method),
        (FSPIOP_SOURCE, source),
    ] {
        match text(member) {
            None => return Err(JwsError::MissingProtected(member)),
            Some(Some(v)) if v == header_value => {}
            Some(_) => return Err(JwsError::Mismatch(member.to_owned())),
        }
    }
    // A protected Date binds the signature to the Date header (the SDK skips an empty one).
    match text(DATE) {
        Some(Some("")) | None => {}
        Some(date) if date == headers.header(names::DATE) => {}
        Some(_) => return Err(JwsError::Mismatch(DATE.to_owned())),
    }
    // FSPIOP-Destination: in both or neither, and equal (empty counts as absent, as in the SDK).
    let protected_destination = match text(FSPIOP_DESTINATION) {
        None => None,
        Some(Some(d)) => Some(d).filter(|d| !d.is_empty()),
        Some(None) => return Err(JwsError::Mismatch(FSPIOP_DESTINATION.to_owned())),
    };
    let header_destination = headers
        .header(names::FSPIOP_DESTINATION)
        .filter(|d| !d.is_empty());
    if protected_destination != header_destination {
        return Err(JwsError::Mismatch(FSPIOP_DESTINATION.to_owned()));
    }
    // Spec rule (g): any other protected HTTP header parameter must match its header.
    let checked = [
        FSPIOP_URI,
        FSPIOP_HTTP_METHOD,
        FSPIOP_SOURCE,
        FSPIOP_DESTINATION,
        DATE,
    ];
    for (member, value) in protected {
        if checked.contains(&member.as_str()) || REGISTERED_PARAMETERS.contains(&member.as_str()) {
            continue;
        }
        let header = headers.header(&member.to_ascii_lowercase());
        if value.as_str().is_none() || value.as_str() != header {
            return Err(JwsError::Mismatch(member.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
