//! Drives one transfer through the handler *binaries* over the local stack's topics and prints
//! what happened. Run by `scripts/pipeline-demo.sh`, which starts the stack and the handlers.
//!
//! It plays the API adapter (produces the boundary envelopes) and both DFSPs (reads the
//! notification topic and answers the payee's prepare with a valid fulfilment).

use std::time::Duration;

use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_messaging::{BatchConsumer, BatchProducer, Envelope, KafkaArgs, OutboundMessage};
use ferroloop_store::DatabaseArgs;
use ferroloop_store::participants::{self, accounts, limits};
use ferroloop_store::transfers::funds::{self, FundsAccount};
use ferroloop_tests::{Pipeline, ilp_pair, usd};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop".into());
    let database = DatabaseArgs::for_url(&url);
    let pool = ferroloop_store::connect(&database).await?;
    let kafka = KafkaArgs::local(
        std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        "",
    );
    let topics = kafka.topics();

    // Two demo DFSPs with a net debit cap and liquidity (once; later runs reuse them).
    let mut conn = pool.acquire().await?;
    let known = ferroloop_store::cache::load_by_names::<participants::ParticipantRecord>(
        &mut conn,
        &["demopayer", "demopayee"],
    )
    .await?;
    if known.len() < 2 {
        let hub = participants::hub_participant_id(&mut conn).await?;
        let hub_account =
            accounts::create_account(&mut conn, hub, usd(), "HUB_RECONCILIATION", true, "demo")
                .await?;
        for (name, funds) in [("demopayer", "10000"), ("demopayee", "0")] {
            let participant = participants::create_participant(&mut conn, name, "demo").await?;
            let position =
                accounts::create_account(&mut conn, participant, usd(), "POSITION", true, "demo")
                    .await?;
            let settlement =
                accounts::create_account(&mut conn, participant, usd(), "SETTLEMENT", true, "demo")
                    .await?;
            limits::set_net_debit_cap(&mut conn, position, "5000".parse()?, "10".parse()?, "demo")
                .await?;
            if funds != "0" {
                funds::record_funds_in(
                    &mut conn,
                    TransferId::new_uuid_v7(),
                    RequestHash::from_bytes([1; 32]),
                    FundsAccount {
                        account_id: hub_account,
                        participant_id: hub,
                        participant_name: "Hub",
                    },
                    FundsAccount {
                        account_id: settlement,
                        participant_id: participant,
                        participant_name: name,
                    },
                    usd(),
                    funds.parse()?,
                    ferroloop_store::db_time(time::OffsetDateTime::now_utc()),
                )
                .await?;
            }
        }
    }
    drop(conn);

    let shutdown = CancellationToken::new();
    let notifications = BatchConsumer::new(
        &kafka,
        &format!("demo-{}", uuid::Uuid::now_v7().simple()),
        &[topics.notification.as_str()],
    )?;
    let producer = BatchProducer::new(&kafka)?;
    let fake =
        Pipeline::prepare_body_static("demopayer", "demopayee", "42.5", Duration::from_secs(60));
    let id = fake["transferId"].as_str().unwrap_or_default().to_owned();
    let send = |topic: &str, envelope: &Envelope| OutboundMessage {
        topic: topic.to_owned(),
        key: None,
        payload: envelope.to_json_bytes(),
    };
    producer
        .send_all(&[send(
            &topics.prepare,
            &Pipeline::prepare_envelope(&fake, "demopayer"),
        )])
        .await?;
    println!("POST /transfers {id} demopayer → demopayee 42.5 USD");
    let (fulfilment, _, _) = ilp_pair();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let batch =
            tokio::time::timeout_at(deadline, notifications.next_batch(&shutdown)).await??;
        for message in batch {
            let envelope = Envelope::from_json_bytes(&message.payload)?;
            if envelope.transfer_id() != id {
                continue;
            }
            println!(
                "notification: {} {} → {} ({})",
                envelope.action(),
                envelope.from,
                envelope.to,
                envelope.metadata.event.state.description
            );
            if envelope.action() == "prepare" && envelope.metadata.event.state.is_success() {
                let put = json!({"transferState": "COMMITTED", "fulfilment": fulfilment});
                producer
                    .send_all(&[send(
                        &topics.fulfil,
                        &Pipeline::fulfil_envelope(&id, &put, "demopayee", Some("demopayer")),
                    )])
                    .await?;
                println!("PUT /transfers/{id} from demopayee with the fulfilment");
            }
            if envelope.action() == "commit" {
                let state: String =
                    sqlx::query_scalar("SELECT state FROM transfer WHERE transfer_id = ?")
                        .bind(&id)
                        .fetch_one(&pool)
                        .await?;
                println!("transfer {id} is {state}");
                return Ok(());
            }
        }
    }
}
