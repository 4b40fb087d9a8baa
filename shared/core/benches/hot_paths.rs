//! Criterion benches of the domain work every transfer pays for: the position decision over a
//! batch, prepare validation, the duplicate-request hash and the fulfilment check.
//! Run: `cargo bench -p ferroloop-core --bench hot_paths`.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferroloop_core::amount::Amount;
use ferroloop_core::api::{MoneyBody, PrepareBody};
use ferroloop_core::hash::request_hash;
use ferroloop_core::ilp::{condition_for, verify_fulfilment};
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::position::{AccountLimits, AccountPosition, PositionOp, apply_batch};
use ferroloop_core::prepare::{AccountView, ParticipantView, PrepareCheck, validate_prepare};
use rust_decimal::Decimal;
use time::OffsetDateTime;

/// Any 32-byte pre-image will do: the bench measures the work, not a vector.
const FULFILMENT_PREIMAGE: [u8; 32] = [42; 32];

/// A batch as the position handler sees one account's share of it: mostly reservations, some
/// commits and reversals, at the default batch size.
fn position_batch(len: usize) -> Vec<PositionOp> {
    (0..len)
        .map(|n| {
            let amount =
                Amount::parse(&format!("{}.{:02}", 1 + n % 97, n % 100)).unwrap_or(Amount::ZERO);
            match n % 10 {
                0 => PositionOp::Commit { amount },
                1 => PositionOp::Reverse { amount },
                _ => PositionOp::Reserve { amount },
            }
        })
        .collect()
}

fn prepare_body() -> PrepareBody {
    PrepareBody {
        amount: MoneyBody {
            amount: "100.25".into(),
            currency: "USD".into(),
        },
        condition: condition_for(&FULFILMENT_PREIMAGE),
        expiration: "2099-01-01T00:00:00.000Z".into(),
        extension_list: None,
        // Validation does not look inside the packet; its size is what matters for the hash.
        ilp_packet: "A".repeat(948),
        payee_fsp: "payeefsp".into(),
        payer_fsp: "payerfsp".into(),
        transfer_id: "b51ec534-ee48-4575-b6a9-ead2955b8069".into(),
    }
}

fn benches(c: &mut Criterion) {
    let limits = AccountLimits::new(Decimal::from(1_000_000), Decimal::from(2_000_000));
    let start = AccountPosition::new(Decimal::ZERO, Decimal::ZERO);
    let batch = position_batch(500);
    c.bench_function("position/apply_batch_500", |b| {
        b.iter(|| apply_batch(black_box(start), black_box(&limits), black_box(&batch)))
    });

    let body = prepare_body();
    let payer = ParticipantView {
        participant_id: ParticipantId(1),
        is_active: true,
        position_account: Some(AccountView {
            account_id: AccountId(10),
            is_active: true,
        }),
    };
    let payee = ParticipantView {
        participant_id: ParticipantId(2),
        is_active: true,
        position_account: Some(AccountView {
            account_id: AccountId(20),
            is_active: true,
        }),
    };
    let now = OffsetDateTime::now_utc();
    c.bench_function("prepare/validate", |b| {
        b.iter(|| {
            validate_prepare(black_box(&PrepareCheck {
                body: &body,
                source: Some("payerfsp"),
                payer: Some(&payer),
                payee: Some(&payee),
                now,
                allow_on_us: false,
                max_expiry: time::Duration::seconds(i64::from(
                    ferroloop_core::prepare::DEFAULT_MAX_EXPIRY_SECONDS,
                )),
            }))
        })
    });

    let bytes = serde_json::to_vec(&body).expect("body serialises");
    c.bench_function("prepare/request_hash", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| request_hash(black_box(&bytes)),
            BatchSize::SmallInput,
        )
    });

    let fulfilment = URL_SAFE_NO_PAD.encode(FULFILMENT_PREIMAGE);
    let condition = condition_for(&FULFILMENT_PREIMAGE);
    c.bench_function("fulfil/verify_fulfilment", |b| {
        b.iter(|| verify_fulfilment(black_box(&fulfilment), black_box(&condition)))
    });
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
