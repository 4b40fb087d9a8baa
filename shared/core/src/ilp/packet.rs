//! ILP packet decoding (OER), for diagnostics only — the hub stores `ilpPacket` verbatim and never
//! bases a decision on it (docs/fspiop-api.md#condition-and-fulfilment).
//!
//! ```text
//! envelope          = type:uint8 || varOctetString(content)
//! varOctetString(b) = len < 128 ? [len] || b : [0x80 | n] || len as n big-endian bytes || b
//! ILPv4 Prepare (12) = amount:u64 || expiresAt:"YYYYMMDDHHmmssSSS" || condition:32 bytes
//!                      || varOctetString(destination) || varOctetString(data)
//! ILPv4 Fulfill (13) = fulfillment:32 bytes || varOctetString(data)
//! ILPv4 Reject  (14) = code:3 chars || varOctetString(triggeredBy) || varOctetString(message)
//!                      || varOctetString(data)
//! ILPv1 Payment  (1) = amount:u64 || varOctetString(account) || varOctetString(data)
//!                      || extensions (not decoded; counted as unparsed)
//! ```
//!
//! Every length is checked against the bytes actually left before anything is read.

use base64::Engine;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::{PREIMAGE_LEN, URL_SAFE_LENIENT};

/// `maxLength` of the FSPIOP `IlpPacket` string.
pub const ILP_PACKET_MAX_CHARS: usize = 32768;
/// Most bytes a long-form length may use. Four bytes already describe 4 GiB, far beyond any
/// packet that fits in [`ILP_PACKET_MAX_CHARS`]; anything longer is garbage.
pub const MAX_LENGTH_OF_LENGTH: usize = 4;
/// Characters of the ILPv4 `expiresAt` field (`YYYYMMDDHHmmssSSS`).
pub const EXPIRES_AT_LEN: usize = 17;
/// Characters of an ILPv4 reject code (e.g. `F01`).
pub const REJECT_CODE_LEN: usize = 3;

/// Packet type bytes.
pub const TYPE_PAYMENT_V1: u8 = 1;
pub const TYPE_PREPARE: u8 = 12;
pub const TYPE_FULFILL: u8 = 13;
pub const TYPE_REJECT: u8 = 14;

/// A decoded ILP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IlpPacket {
    /// ILPv4 Prepare, what Mojaloop SDKs generate.
    Prepare {
        amount: u64,
        expires_at: OffsetDateTime,
        execution_condition: [u8; PREIMAGE_LEN],
        destination: String,
        data: Vec<u8>,
    },
    /// ILPv4 Fulfill.
    Fulfill {
        fulfillment: [u8; PREIMAGE_LEN],
        data: Vec<u8>,
    },
    /// ILPv4 Reject.
    Reject {
        code: String,
        triggered_by: String,
        message: String,
        data: Vec<u8>,
    },
    /// ILPv1 payment packet (older FSPIOP examples).
    PaymentV1 {
        amount: u64,
        account: String,
        data: Vec<u8>,
    },
}

/// A packet with the layout facts a diagnostic view wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEnvelope {
    pub packet: IlpPacket,
    /// The type byte.
    pub type_id: u8,
    /// Length of the envelope's content as declared by its length prefix.
    pub envelope_length: usize,
    /// Content bytes after the last decoded field (ILPv1 extensions, for instance).
    pub unparsed_bytes_in_envelope: usize,
    /// Bytes after the envelope.
    pub trailing_bytes_after_envelope: usize,
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("ILP packet text has {len} characters; at most {ILP_PACKET_MAX_CHARS} are allowed")]
    TooLong { len: usize },
    #[error("ILP packet is not base64url")]
    NotBase64,
    #[error("unknown ILP packet type {0}")]
    UnknownType(u8),
    #[error("{field}: {needed} bytes needed, {available} left")]
    Truncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("{field}: invalid length prefix")]
    InvalidLengthPrefix { field: &'static str },
    #[error("{field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("expiresAt is not a valid YYYYMMDDHHmmssSSS UTC time")]
    InvalidExpiresAt,
}

/// Decodes the FSPIOP `ilpPacket` text: base64url (the standard `+`/`/` are refused), padding
/// optional, set trailing bits ignored, at most [`ILP_PACKET_MAX_CHARS`] characters.
pub fn decode_base64url(text: &str) -> Result<Vec<u8>, PacketError> {
    if text.len() > ILP_PACKET_MAX_CHARS {
        return Err(PacketError::TooLong { len: text.len() });
    }
    URL_SAFE_LENIENT
        .decode(text)
        .map_err(|_| PacketError::NotBase64)
}

/// Decodes a packet.
pub fn decode(bytes: &[u8]) -> Result<IlpPacket, PacketError> {
    decode_envelope(bytes).map(|decoded| decoded.packet)
}

/// Decodes a packet and reports its layout.
pub fn decode_envelope(bytes: &[u8]) -> Result<DecodedEnvelope, PacketError> {
    let mut outer = Reader::new(bytes);
    let type_id = outer.u8("type")?;
    if !matches!(
        type_id,
        TYPE_PAYMENT_V1 | TYPE_PREPARE | TYPE_FULFILL | TYPE_REJECT
    ) {
        return Err(PacketError::UnknownType(type_id));
    }
    let content = outer.var_octets("envelope")?;
    let mut r = Reader::new(content);
    let packet = match type_id {
        TYPE_PREPARE => IlpPacket::Prepare {
            amount: r.u64("amount")?,
            expires_at: parse_expires_at(r.take("expiresAt", EXPIRES_AT_LEN)?)?,
            execution_condition: r.array("executionCondition")?,
            destination: r.var_string("destination")?,
            data: r.var_octets("data")?.to_vec(),
        },
        TYPE_FULFILL => IlpPacket::Fulfill {
            fulfillment: r.array("fulfillment")?,
            data: r.var_octets("data")?.to_vec(),
        },
        TYPE_REJECT => IlpPacket::Reject {
            code: utf8("code", r.take("code", REJECT_CODE_LEN)?)?,
            triggered_by: r.var_string("triggeredBy")?,
            message: r.var_string("message")?,
            data: r.var_octets("data")?.to_vec(),
        },
        _ => {
            debug_assert_eq!(type_id, TYPE_PAYMENT_V1);
            IlpPacket::PaymentV1 {
                amount: r.u64("amount")?,
                account: r.var_string("account")?,
                data: r.var_octets("data")?.to_vec(),
            }
        }
    };
    Ok(DecodedEnvelope {
        packet,
        type_id,
        envelope_length: content.len(),
        unparsed_bytes_in_envelope: r.remaining(),
        trailing_bytes_after_envelope: outer.remaining(),
    })
}

/// A bounds-checked cursor: every read states what it needs and fails if the bytes are not there.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, field: &'static str, needed: usize) -> Result<&'a [u8], PacketError> {
        let available = self.remaining();
        if needed > available {
            return Err(PacketError::Truncated {
                field,
                needed,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + needed];
        self.pos += needed;
        debug_assert!(self.pos <= self.buf.len());
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, PacketError> {
        Ok(self.take(field, 1)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PacketError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, PacketError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// An OER length determinant: short form below 128, else `0x80 | n` and n length bytes.
    fn length(&mut self, field: &'static str) -> Result<usize, PacketError> {
        let first = self.u8(field)?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > MAX_LENGTH_OF_LENGTH {
            return Err(PacketError::InvalidLengthPrefix { field });
        }
        let len = self
            .take(field, n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(len).map_err(|_| PacketError::InvalidLengthPrefix { field })
    }

    fn var_octets(&mut self, field: &'static str) -> Result<&'a [u8], PacketError> {
        let len = self.length(field)?;
        self.take(field, len)
    }

    fn var_string(&mut self, field: &'static str) -> Result<String, PacketError> {
        utf8(field, self.var_octets(field)?)
    }
}

fn utf8(field: &'static str, bytes: &[u8]) -> Result<String, PacketError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PacketError::NotUtf8 { field })
}

/// `YYYYMMDDHHmmssSSS` in UTC, with real calendar validation.
fn parse_expires_at(text: &[u8]) -> Result<OffsetDateTime, PacketError> {
    debug_assert_eq!(text.len(), EXPIRES_AT_LEN);
    if !text.iter().all(u8::is_ascii_digit) {
        return Err(PacketError::InvalidExpiresAt);
    }
    let num = |range: std::ops::Range<usize>| -> u32 {
        text[range]
            .iter()
            .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let invalid = |_| PacketError::InvalidExpiresAt;
    let year = i32::try_from(num(0..4)).map_err(invalid)?;
    let month = u8::try_from(num(4..6)).map_err(invalid)?;
    let month = Month::try_from(month).map_err(|_| PacketError::InvalidExpiresAt)?;
    let day = u8::try_from(num(6..8)).map_err(invalid)?;
    let hour = u8::try_from(num(8..10)).map_err(invalid)?;
    let minute = u8::try_from(num(10..12)).map_err(invalid)?;
    let second = u8::try_from(num(12..14)).map_err(invalid)?;
    let milli = u16::try_from(num(14..17)).map_err(invalid)?;
    let date =
        Date::from_calendar_date(year, month, day).map_err(|_| PacketError::InvalidExpiresAt)?;
    let time = Time::from_hms_milli(hour, minute, second, milli)
        .map_err(|_| PacketError::InvalidExpiresAt)?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fspiop_time;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::Value;

    use crate::testdata;

    fn hex(text: &str) -> Vec<u8> {
        assert!(text.len().is_multiple_of(2));
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn b64(v: &Value) -> Vec<u8> {
        STANDARD
            .decode(v.as_str().expect("base64 string"))
            .expect("standard base64")
    }

    fn s(v: &Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
    }

    /// interledgerjs/ilp-packet's fixtures: binary (hex) against the JSON view.
    #[test]
    fn interledgerjs_fixtures() {
        let dir = testdata::path("ilp/interledgerjs");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 5, "fixture files in {}", dir.display());
        for path in files {
            let fixture: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let bytes = hex(s(&fixture["binary"]));
            let json = &fixture["json"];
            let decoded =
                decode_envelope(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(decoded.trailing_bytes_after_envelope, 0);
            match decoded.packet {
                IlpPacket::Prepare {
                    amount,
                    expires_at,
                    execution_condition,
                    destination,
                    data,
                } => {
                    assert_eq!(amount.to_string(), s(&json["amount"]));
                    assert_eq!(fspiop_time::format(expires_at), s(&json["expiresAt"]));
                    assert_eq!(
                        execution_condition.to_vec(),
                        b64(&json["executionCondition"])
                    );
                    assert_eq!(destination, s(&json["destination"]));
                    assert_eq!(data, b64(&json["data"]));
                }
                IlpPacket::Fulfill { fulfillment, data } => {
                    assert_eq!(fulfillment.to_vec(), b64(&json["fulfillment"]));
                    assert_eq!(data, b64(&json["data"]));
                }
                IlpPacket::Reject {
                    code,
                    triggered_by,
                    message,
                    data,
                } => {
                    assert_eq!(code, s(&json["code"]));
                    assert_eq!(triggered_by, s(&json["triggeredBy"]));
                    assert_eq!(message, s(&json["message"]));
                    assert_eq!(data, b64(&json["data"]));
                }
                IlpPacket::PaymentV1 {
                    amount,
                    account,
                    data,
                } => {
                    assert_eq!(amount.to_string(), s(&json["amount"]));
                    assert_eq!(account, s(&json["account"]));
                    assert_eq!(data, b64(&json["data"]));
                    // ILPv1 carries an (empty) extensions byte we do not decode.
                    assert_eq!(decoded.unparsed_bytes_in_envelope, 1);
                }
            }
        }
    }

    /// Packets seen in Mojaloop test material, against the fields recorded for each.
    #[test]
    fn mojaloop_packets_decode_as_recorded() {
        let vectors: Value = testdata::json("ilp/packets-decoded.json");
        let vectors = vectors.as_object().expect("object");
        assert!(!vectors.is_empty());
        for (name, entry) in vectors {
            let want = &entry["decoded"];
            let result = decode_base64url(s(&entry["ilpPacket"])).and_then(|b| decode_envelope(&b));
            if want.get("error").is_some() {
                assert!(result.is_err(), "{name}: expected an error, got {result:?}");
                continue;
            }
            let got = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            let want_usize = |key: &str| want[key].as_u64().and_then(|n| usize::try_from(n).ok());
            assert_eq!(Some(usize::from(got.type_id)), want_usize("type"), "{name}");
            assert_eq!(
                Some(got.envelope_length),
                want_usize("envelope_length"),
                "{name}"
            );
            assert_eq!(
                Some(got.trailing_bytes_after_envelope),
                want_usize("trailing_bytes_after_envelope"),
                "{name}"
            );
            assert_eq!(
                Some(got.unparsed_bytes_in_envelope),
                want_usize("unparsed_bytes_in_envelope"),
                "{name}"
            );
            let (amount, address, data) = match &got.packet {
                IlpPacket::PaymentV1 {
                    amount,
                    account,
                    data,
                } => {
                    assert!(want.get("destination").is_none(), "{name}");
                    assert_eq!(account, s(&want["account"]), "{name}");
                    (amount, account, data)
                }
                IlpPacket::Prepare {
                    amount,
                    expires_at,
                    execution_condition,
                    destination,
                    data,
                } => {
                    assert_eq!(
                        fspiop_time::format(*expires_at),
                        s(&want["expiresAt"]),
                        "{name}"
                    );
                    assert_eq!(
                        execution_condition.to_vec(),
                        b64(&want["executionCondition_b64"]),
                        "{name}"
                    );
                    let condition_url = super::super::URL_SAFE_NO_PAD.encode(execution_condition);
                    assert_eq!(
                        condition_url,
                        s(&want["executionCondition_base64url"]),
                        "{name}"
                    );
                    if let Some(k6) = entry.get("k6_condition") {
                        assert_eq!(condition_url, s(k6), "{name}");
                    }
                    assert_eq!(destination, s(&want["destination"]), "{name}");
                    (amount, destination, data)
                }
                other => panic!("{name}: unexpected packet {other:?}"),
            };
            assert!(!address.is_empty());
            assert_eq!(amount.to_string(), s(&want["amount"]), "{name}");
            assert_eq!(Some(data.len()), want_usize("data_len"), "{name}");
            if let Some(prefix) = want.get("data_utf8_prefix") {
                assert!(data.starts_with(s(prefix).as_bytes()), "{name}");
            }
            if let Some(transaction) = want.get("data_decoded_transaction_object") {
                let json = URL_SAFE_LENIENT.decode(data).expect("data is base64url");
                let parsed: Value = serde_json::from_slice(&json).expect("data is JSON");
                assert_eq!(&parsed, transaction, "{name}");
            }
        }
    }

    /// The ILPv4 Prepare of Mojaloop's SDK example, with the fields it decodes to.
    #[test]
    fn sdk_prepare_packet() {
        let example = testdata::json("mojaloop-examples.json");
        let item = |name: &str| testdata::str_at(&example, &format!("/ilpV4Prepare/{name}"));
        let text = item("ilpPacket");
        let condition = item("condition");
        let transaction = item("transactionObjectSortedJson");
        let (amount, expires, destination) =
            (item("amount"), item("expiresAt"), item("destination"));
        assert_eq!(text.len(), 948);
        let bytes = decode_base64url(text).unwrap();
        assert_eq!(bytes.len(), 711);
        let decoded = decode_envelope(&bytes).unwrap();
        assert_eq!(
            (
                decoded.unparsed_bytes_in_envelope,
                decoded.trailing_bytes_after_envelope
            ),
            (0, 0)
        );
        let IlpPacket::Prepare {
            amount: got_amount,
            expires_at,
            execution_condition,
            destination: got_dest,
            data,
        } = decoded.packet
        else {
            panic!("not a prepare: {:?}", decoded.packet);
        };
        assert_eq!(got_amount.to_string(), amount);
        assert_eq!(fspiop_time::format(expires_at), expires);
        assert_eq!(got_dest, destination);
        assert_eq!(
            super::super::URL_SAFE_NO_PAD.encode(execution_condition),
            condition
        );
        let json = URL_SAFE_LENIENT.decode(&data).unwrap();
        assert_eq!(std::str::from_utf8(&json).unwrap(), transaction);
    }

    #[test]
    fn lengths_beyond_the_buffer_are_refused() {
        // Envelope claims 0x18 bytes, only 2 follow.
        assert!(matches!(
            decode(&[1, 0x18, 0, 0]),
            Err(PacketError::Truncated {
                field: "envelope",
                ..
            })
        ));
        // Long-form length whose length bytes are missing.
        assert!(matches!(
            decode(&[12, 0x82, 0x01]),
            Err(PacketError::Truncated { .. })
        ));
        // Length-of-length zero or beyond the limit.
        assert_eq!(
            decode(&[12, 0x80]),
            Err(PacketError::InvalidLengthPrefix { field: "envelope" })
        );
        assert_eq!(
            decode(&[12, 0x85, 0, 0, 0, 0, 1, 0]),
            Err(PacketError::InvalidLengthPrefix { field: "envelope" })
        );
        // A destination length running past the envelope content.
        let mut content = vec![0u8; 8];
        content.extend_from_slice(b"20300101000000000");
        content.extend_from_slice(&[0u8; 32]);
        content.push(0x7f);
        content.extend_from_slice(b"g.x");
        let mut packet = vec![TYPE_PREPARE, u8::try_from(content.len()).unwrap()];
        packet.extend_from_slice(&content);
        assert_eq!(
            decode(&packet),
            Err(PacketError::Truncated {
                field: "destination",
                needed: 127,
                available: 3
            })
        );
        assert_eq!(
            decode(&[]),
            Err(PacketError::Truncated {
                field: "type",
                needed: 1,
                available: 0
            })
        );
        assert_eq!(decode(&[99, 0]), Err(PacketError::UnknownType(99)));
    }

    #[test]
    fn invalid_expiry_and_text_are_refused() {
        let mut content = vec![0u8; 8];
        content.extend_from_slice(b"20230229000000000"); // 2023 is not a leap year
        content.extend_from_slice(&[0u8; 32]);
        content.extend_from_slice(&[0, 0]);
        let mut packet = vec![TYPE_PREPARE, u8::try_from(content.len()).unwrap()];
        packet.extend_from_slice(&content);
        assert_eq!(decode(&packet), Err(PacketError::InvalidExpiresAt));
        assert_eq!(decode_base64url("AB+C"), Err(PacketError::NotBase64));
        assert_eq!(
            decode_base64url(&"A".repeat(ILP_PACKET_MAX_CHARS + 1)),
            Err(PacketError::TooLong {
                len: ILP_PACKET_MAX_CHARS + 1
            })
        );
    }
}
