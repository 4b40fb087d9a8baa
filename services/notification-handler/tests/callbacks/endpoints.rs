//! The endpoint store and cache, and endpoint changes reaching a running handler.

use ferroloop_messaging::EventState;
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_store::cache::load_by_names;
use ferroloop_store::endpoints::{EndpointCache, ParticipantEndpoints};
use ferroloop_store::participants::{create_participant, endpoints::set_endpoint};
use ferroloop_testkit::TestDatabase;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn endpoints_load_by_name_and_the_cache_follows_the_admin_epoch() {
    let db = TestDatabase::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let a = create_participant(&mut conn, "dfspa", "test")
        .await
        .unwrap();
    create_participant(&mut conn, "dfspb", "test")
        .await
        .unwrap();
    set_endpoint(&mut conn, a, PUT, "http://a/{{transferId}}", "test")
        .await
        .unwrap();
    set_endpoint(&mut conn, a, ERROR, "http://a/{{transferId}}/error", "test")
        .await
        .unwrap();

    let found =
        load_by_names::<ParticipantEndpoints>(&mut conn, &["dfspa", "dfspb", "nobody", "dfspa"])
            .await
            .unwrap();
    assert_eq!(found.len(), 1, "no endpoints → absent: {found:?}");
    assert_eq!(found["dfspa"].get(PUT), Some("http://a/{{transferId}}"));
    assert_eq!(found["dfspa"].get(POST), None);

    let mut cache = EndpointCache::default();
    assert!(cache.refresh(&mut conn).await.unwrap());
    let got = cache
        .get_many(&mut conn, &["dfspa", "dfspb"])
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(cache.len(), 1, "nothing is cached as absent");
    // Same epoch: kept.
    assert!(!cache.refresh(&mut conn).await.unwrap());
    assert_eq!(cache.len(), 1);
    // An admin change moves the epoch: dropped, and the next read sees the change.
    set_endpoint(&mut conn, a, PUT, "http://a2/{{transferId}}", "test")
        .await
        .unwrap();
    assert!(cache.refresh(&mut conn).await.unwrap());
    assert!(cache.is_empty());
    let got = cache.get_many(&mut conn, &["dfspa"]).await.unwrap();
    assert_eq!(got["dfspa"].get(PUT), Some("http://a2/{{transferId}}"));
}

#[tokio::test]
async fn an_endpoint_change_reaches_the_next_callback_without_a_restart() {
    let old = Sim::start().await;
    let new = Sim::start().await;
    let mut h = Harness::start().await;
    let payer = h.dfsp("payerfsp", &old).await;
    let get = |id: &str| {
        events::HubMessage { to: "payerfsp", event_type: event_type::NOTIFICATION, action: action::GET.into(), state: EventState::success(), payload: events::json_payload(
                &json!({"transferState": "COMMITTED", "completedTimestamp": "2026-11-22T08:00:00.000Z"}),
            ), parties: None }.answering(&get_inbound(id, "payerfsp"), HUB)
    };
    let first = new_id();
    h.send(&[get(&first)]).await;
    old.one(&first).await;

    h.point_endpoints(payer, "payerfsp", &new.url()).await;
    let second = new_id();
    h.send(&[get(&second)]).await;
    let request = new.one(&second).await;
    assert_eq!(request.path, format!("/payerfsp/transfers/{second}"));
    assert_eq!(old.requests().len(), 1);
}
