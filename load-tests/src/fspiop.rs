//! The FSPIOP requests the simulated DFSPs send, and the ILP material they use.
//!
//! The tool runs where the specification files may not be (a laptop pointed at a cluster), so
//! the condition/fulfilment pair and the ILP packet are constants; the tests check them against
//! the recorded test vectors, so they cannot drift from them.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// A matching pair from `vectors/ilp-condition-fulfilment.json` (Mojaloop's testing toolkit's
/// `validFulfillment` / `validCondition`).
pub const FULFILMENT: &str = "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA";
pub const CONDITION: &str = "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM";
/// The FSPIOP specification's example ILP packet, from `vectors/mojaloop_ilp_packets_decoded.json`.
pub const ILP_PACKET: &str = "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA";

/// FSPIOP v1.1 transfers resource, the version every Mojaloop hub accepts.
pub const CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";

/// The headers a DFSP sends with a transfers request.
pub fn headers(source: &str, destination: &str) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(5);
    let content_type = HeaderValue::from_static(CONTENT_TYPE);
    headers.insert(reqwest::header::CONTENT_TYPE, content_type.clone());
    // reqwest would send `Accept: */*`, which the FSPIOP header rules refuse.
    headers.insert(reqwest::header::ACCEPT, content_type);
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
        headers.insert(reqwest::header::DATE, date);
    }
    for (name, value) in [
        ("fspiop-source", source),
        ("fspiop-destination", destination),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

/// The body of POST /transfers.
pub fn prepare_body(
    transfer_id: &str,
    payer: &str,
    payee: &str,
    amount: &str,
    currency: &str,
    expires_in: Duration,
) -> String {
    let expiration =
        ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc() + expires_in);
    serde_json::json!({
        "transferId": transfer_id,
        "payerFsp": payer,
        "payeeFsp": payee,
        "amount": {"amount": amount, "currency": currency},
        "ilpPacket": ILP_PACKET,
        "condition": CONDITION,
        "expiration": expiration,
    })
    .to_string()
}

/// The body of the payee's PUT /transfers/{id}: `COMMITTED` or `RESERVED` with the fulfilment.
pub fn fulfil_body(state: &str) -> String {
    let now = ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc());
    serde_json::json!({
        "transferState": state,
        "fulfilment": FULFILMENT,
        "completedTimestamp": now,
    })
    .to_string()
}

/// The FSPIOP error code of an error body, or 0.
pub fn error_code(body: &[u8]) -> u16 {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(rename = "errorInformation")]
        error_information: ErrorInformation,
    }
    #[derive(serde::Deserialize)]
    struct ErrorInformation {
        #[serde(rename = "errorCode")]
        error_code: String,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error_information.error_code.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors(name: &str) -> Value {
        let path = format!(
            "{}/../../shared/spec/vectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("vector JSON")
    }

    #[test]
    fn the_pair_is_a_recorded_matching_vector() {
        let all = vectors("ilp-condition-fulfilment.json");
        let recorded = all
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["fulfilment"] == FULFILMENT)
            .expect("the fulfilment is one of the vectors");
        assert_eq!(recorded["claimed_condition"], CONDITION);
        assert_eq!(recorded["match"], true);
        ferroloop_core::ilp::verify_fulfilment(FULFILMENT, CONDITION).expect("matches");
    }

    #[test]
    fn the_packet_is_a_recorded_vector() {
        let all = vectors("mojaloop_ilp_packets_decoded.json");
        assert!(
            all.as_object()
                .unwrap()
                .values()
                .any(|v| v["ilpPacket"] == ILP_PACKET)
        );
    }

    #[test]
    fn bodies_are_what_the_fspiop_schema_wants() {
        let id = uuid::Uuid::now_v7().to_string();
        let prepare: Value = serde_json::from_str(&prepare_body(
            &id,
            "payerfsp",
            "payeefsp",
            "1.5",
            "USD",
            Duration::from_secs(30),
        ))
        .unwrap();
        assert_eq!(prepare["transferId"], id.as_str());
        assert_eq!(prepare["amount"]["amount"], "1.5");
        let expiration = prepare["expiration"].as_str().unwrap();
        assert!(ferroloop_core::fspiop_time::parse(expiration).is_ok());
        let fulfil: Value = serde_json::from_str(&fulfil_body("RESERVED")).unwrap();
        assert_eq!(fulfil["transferState"], "RESERVED");
        assert_eq!(fulfil["fulfilment"], FULFILMENT);
    }

    #[test]
    fn error_codes_are_read_from_error_bodies() {
        let body =
            br#"{"errorInformation":{"errorCode":"4200","errorDescription":"Payer limit error"}}"#;
        assert_eq!(error_code(body), 4200);
        assert_eq!(error_code(b"not json"), 0);
    }
}
