//! A forwarded message names its recipient in `FSPIOP-Destination` when the sender left it out,
//! as Mojaloop does — but a signed message keeps the headers it was signed with
//! (docs/callbacks.md#header-rules).

use std::time::Duration;

use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, Principal};
use time::OffsetDateTime;

use crate::harness::*;

fn prepare_without_destination(id: &str, signed: bool) -> (Vec<u8>, ferroloop_messaging::Envelope) {
    let bytes = prepare_bytes(
        id,
        "payerfsp",
        "payeefsp",
        OffsetDateTime::now_utc() + Duration::from_secs(60),
    );
    let mut headers = dfsp_headers("payerfsp", None);
    if !signed {
        headers.remove("fspiop-signature");
    }
    let inbound = inbound_envelope(&InboundRequest {
        kind: InboundKind::Prepare,
        transfer_id: id,
        headers,
        body: &bytes,
        payer_payee: Some(("payerfsp", "payeefsp")),
        transfer_state: None,
        principal: Principal::new("payerfsp", Authentication::Mtls),
    });
    (bytes, prepare_notification(&inbound))
}

#[tokio::test]
async fn a_prepare_without_destination_reaches_the_payee_naming_it_unless_signed() {
    let payer = Sim::start().await;
    let payee = Sim::start().await;
    let mut h = Harness::start().await;
    h.dfsp("payerfsp", &payer).await;
    h.dfsp("payeefsp", &payee).await;

    let unsigned_id = new_id();
    let (unsigned_bytes, unsigned) = prepare_without_destination(&unsigned_id, false);
    let signed_id = new_id();
    let (signed_bytes, signed) = prepare_without_destination(&signed_id, true);
    h.send(&[unsigned, signed]).await;

    let forwarded = payee.wait_for("/payeefsp/transfers", 2).await;
    let of = |bytes: &[u8]| {
        forwarded
            .iter()
            .find(|r| r.body == bytes)
            .expect("forwarded byte for byte")
    };
    let unsigned = of(&unsigned_bytes);
    assert_eq!(unsigned.header("fspiop-destination"), Some("payeefsp"));
    assert_eq!(unsigned.header("fspiop-source"), Some("payerfsp"));

    // Signed without a destination: exactly the payer's headers, so the payee's validator
    // (which refuses an unprotected FSPIOP-Destination) still accepts the payer's signature.
    let signed = of(&signed_bytes);
    assert_eq!(signed.header("fspiop-destination"), None);
    assert_eq!(
        signed.header("fspiop-signature"),
        dfsp_headers("payerfsp", None)
            .get("fspiop-signature")
            .map(String::as_str)
    );
    assert!(
        payer.requests().is_empty(),
        "nothing goes back to the payer"
    );
}
