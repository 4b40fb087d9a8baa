//! `ferroloop-load`: the bundled load-test tool. See `load-tests/README.md`.
//!
//! 1. onboard `--dfsps` DFSPs through the admin API, endpoints pointing at the embedded
//!    simulators;
//! 2. drive POST /transfers (open or closed loop) while the simulators play payer and payee;
//! 3. wait for every transfer to end (or its expiry plus a grace period);
//! 4. print the figures, write JSON and HTML, and run the validity gate: exit 1 if it fails.

/// The tool allocates through mimalloc, like the hub's processes (ferroloop-telemetry).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod book;
mod config;
mod cpu;
mod driver;
mod faults;
mod fspiop;
mod gate;
mod ids;
mod onboard;
mod recover;
mod report;
mod run;
mod settle;
mod simulator;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use rust_decimal::Decimal;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Args, Limits, Mode, Pairs};
use crate::gate::{Expectations, PositionChange};
use crate::onboard::{Admin, Funding};
use crate::run::{Run, TransferTerms};

/// A net debit cap and funds-in that no run reaches (DECIMAL(22,4) holds 10^18).
const LOOSE_LIMIT: i64 = 1_000_000_000_000;
/// How often the progress bar refreshes.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("ferroloop-load: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A tag that makes this run's DFSP names unique: base 36 of the clock.
fn run_tag() -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(0);
    let mut tag = Vec::with_capacity(6);
    for _ in 0..6 {
        tag.push(DIGITS[usize::try_from(n % 36).unwrap_or(0)]);
        n /= 36;
    }
    tag.reverse();
    String::from_utf8(tag).unwrap_or_default()
}

async fn run(args: Args) -> Result<bool> {
    if let Err(problem) = args.validate() {
        bail!("{problem}");
    }
    ferroloop_core::ilp::verify_fulfilment(fspiop::FULFILMENT, fspiop::CONDITION)
        .map_err(|e| anyhow::anyhow!("the built-in ILP pair does not match: {e}"))?;
    // reqwest is built with rustls and no provider of its own: install ring.
    ferroloop_tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.http_timeout_ms))
        .pool_max_idle_per_host(usize::try_from(args.max_in_flight).unwrap_or(1024))
        .pool_idle_timeout(Duration::from_millis(args.http_idle_timeout_ms))
        .tcp_nodelay(true);
    if args.tls_ca_path.is_some() || args.tls_cert_path.is_some() {
        let files = ferroloop_tls::ClientFiles {
            cert_and_key: args.tls_cert_path.clone().zip(args.tls_key_path.clone()),
            ca: args.tls_ca_path.clone(),
        };
        builder = builder.tls_backend_preconfigured(ferroloop_tls::client_config(&files)?);
    }
    let http = builder.build()?;

    let tag = args.run_tag.clone().unwrap_or_else(run_tag);
    let dfsps: Vec<String> = (0..args.dfsps)
        .map(|i| format!("{}{tag}p{i:02}", args.name_prefix))
        .collect();
    let closed_loop_slots =
        (args.mode == Mode::Closed).then(|| Arc::new(Semaphore::new(args.concurrency as usize)));
    let nonce = rand::random::<u64>();
    let run = Arc::new(
        Run::new(
            book::Book::new(Instant::now()),
            ids::IdSpace::new(nonce),
            dfsps.clone(),
            &args.api_url,
            http.clone(),
            TransferTerms {
                amount: args.amount.normalize().to_string(),
                currency: args.currency.clone(),
                expires_in: Duration::from_secs(args.expiry_seconds),
            },
            closed_loop_slots,
        )
        .with_misbehaviour(run::Misbehaviour {
            payee_answer_attempts: args.payee_answer_attempts,
            ..run::Misbehaviour::default()
        }),
    );

    let shutdown = CancellationToken::new();
    let simulators = simulator::start(Arc::clone(&run), args.simulator_addr, shutdown.clone())
        .await
        .context("starting the DFSP simulators")?;
    let callback_base = args
        .callback_url
        .clone()
        .unwrap_or_else(|| format!("http://{simulators}"));

    // Onboarding.
    let admin = Admin::new(&args.admin_url, http.clone())
        .with_tokens(args.admin_token.clone(), args.admin_checker_token.clone());
    admin.prepare_hub(&args.currency).await?;
    let funding = match args.limits {
        Limits::Loose => Funding {
            net_debit_cap: Decimal::from(LOOSE_LIMIT),
            funds_in: Decimal::from(LOOSE_LIMIT),
        },
        // The cap binds, liquidity does not: the refusals are 4200.
        Limits::Binding => {
            let cap = args.amount * Decimal::from(args.binding_transfers);
            Funding {
                net_debit_cap: cap,
                funds_in: cap * Decimal::TWO,
            }
        }
    };
    eprintln!(
        "onboarding {} DFSPs ({}…) with callbacks at {callback_base}",
        dfsps.len(),
        dfsps[0]
    );
    for name in &dfsps {
        admin
            .onboard(name, &args.currency, funding, &callback_base)
            .await
            .with_context(|| format!("onboarding {name}"))?;
    }
    let mut before = Vec::with_capacity(dfsps.len());
    for name in &dfsps {
        before.push(admin.position(name, &args.currency).await?);
    }

    // Driving.
    let started_at = ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc());
    let plan = driver::Plan {
        mode: args.mode,
        rate_per_second: args.rate,
        count: args.count,
        duration: args.duration_seconds.map(Duration::from_secs),
        pairs: args.pairs,
        skew_percent: args.skew_percent,
        reserved_percent: args.reserved_percent,
        silent_percent: args.silent_percent,
        max_in_flight: args.max_in_flight,
        seed: args.seed,
    };
    let stop = CancellationToken::new();
    let interrupt = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping the sends and draining");
            interrupt.cancel();
        }
    });
    let planned = args.count.or_else(|| {
        (args.mode == Mode::Open)
            .then(|| args.duration_seconds.map(|d| d * u64::from(args.rate)))
            .flatten()
    });
    let progress = progress_bar(&args, planned);
    let ticker = spawn_progress(Arc::clone(&run), progress.clone());
    let sampling = CancellationToken::new();
    let cpu_sampler = tokio::spawn(cpu::sample(
        args.watch_pids.clone(),
        run.book.epoch(),
        sampling.clone(),
    ));
    let settle_stop = CancellationToken::new();
    let settler = args.settle_every_seconds.map(|every| {
        tokio::spawn(settle::settle_periodically(
            Arc::new(admin.clone()),
            Duration::from_secs(every),
            settle_stop.clone(),
        ))
    });
    if let (Some(from), Some(length)) = (
        args.failing_dfsp_from_seconds,
        args.failing_dfsp_for_seconds,
    ) {
        let from = Instant::now() + Duration::from_secs(from);
        let _ = run
            .misbehaviour
            .failing_window
            .set((from, from + Duration::from_secs(length)));
    }
    // The chaos campaign times its faults from this line.
    eprintln!("sending transfers");
    let driven = driver::drive(Arc::clone(&run), plan, stop.clone()).await;

    // Draining: every transfer ends by its expiry; past that plus the grace it is lost.
    let deadline = driven.stopped
        + Duration::from_secs(args.expiry_seconds)
        + Duration::from_secs(args.drain_grace_seconds);
    run.drain_until(deadline, || run.ended_count() >= run.sent())
        .await;
    // The payees' notices travel beside the payers' final callbacks: wait a little for those
    // still owed, so the simulators are not stopped under them (they would count as untold).
    let payee_deadline = deadline.min(Instant::now() + Duration::from_millis(args.payee_grace_ms));
    run.drain_until(payee_deadline, || run.payee_notices_owed() <= 0)
        .await;
    let told_after_get = if args.recover_with_get {
        recover::ask_hub(&run, Duration::from_secs(args.recover_wait_seconds)).await
    } else {
        0
    };
    ticker.abort();
    progress.finish_and_clear();
    sampling.cancel();
    let cpu = cpu_sampler.await.unwrap_or_default();

    settle_stop.cancel();
    let settled = match settler {
        Some(task) => Some(task.await.context("settlement task")?),
        None => None,
    };
    let mut positions = Vec::with_capacity(dfsps.len());
    for (name, before) in dfsps.iter().zip(before) {
        let settled = match &settled {
            Some(s) => settle::settled_for(&admin, s, name, &args.currency).await?,
            None => Decimal::ZERO,
        };
        positions.push(PositionChange {
            dfsp: name.clone(),
            net_debit_cap: funding.net_debit_cap.normalize(),
            before: before.normalize(),
            after: admin.position(name, &args.currency).await?.normalize(),
            settled: settled.normalize(),
        });
    }
    shutdown.cancel();

    // Figures and gate.
    let views: Vec<_> = run.book.views().collect();
    let warmup_us = args.warmup_seconds * 1_000_000
        + u64::try_from(
            driven
                .started
                .saturating_duration_since(run.book.epoch())
                .as_micros(),
        )
        .unwrap_or(0);
    let mut summary = report::summarize(&views, warmup_us, args.window_seconds);
    summary.totals.stray_callbacks = run
        .counters
        .stray_callbacks
        .load(std::sync::atomic::Ordering::Acquire);
    let expect = Expectations {
        limits_bind: args.limits == Limits::Binding,
        amount: args.amount,
        under_faults: args.under_faults,
        allowed_duplicates: args.allowed_duplicate_callbacks,
    };
    let mut checks = gate::check_callbacks(&run, &views, &positions, expect);
    if let Some(settled) = &settled {
        checks.push(settle::check(settled));
    }
    let db_counts = match &args.database_url {
        Some(url) => {
            eprintln!("checking the database ({} transfers)…", views.len());
            let (db_checks, counts) = gate::check_database(&run, &views, url).await?;
            checks.extend(db_checks);
            Some(counts)
        }
        None => None,
    };
    let database_checked = db_counts.is_some();
    let seen = faults::Seen {
        error_callbacks: run.counters.error_callbacks(),
        told_after_get,
        payee_answer_resends: run.counters.payee_answer_resends.load(Ordering::Acquire),
        failed_on_purpose: run.counters.failed_on_purpose.load(Ordering::Acquire),
    };
    let faults = faults::count(&views, &seen, db_counts.as_ref());
    let report = report::Report {
        scenario: report::Scenario {
            api_url: args.api_url.clone(),
            broker: args.broker.clone(),
            mode: args.mode,
            rate_per_second: (args.mode == Mode::Open).then_some(args.rate),
            concurrency: (args.mode == Mode::Closed).then_some(args.concurrency),
            count: args.count,
            duration_seconds: args.duration_seconds,
            warmup_seconds: args.warmup_seconds,
            dfsps: args.dfsps,
            pairs: args.pairs,
            skew_percent: (args.pairs == Pairs::Skewed).then_some(args.skew_percent),
            reserved_percent: args.reserved_percent,
            silent_percent: args.silent_percent,
            limits: args.limits,
            amount: args.amount.normalize().to_string(),
            currency: args.currency.clone(),
            expiry_seconds: args.expiry_seconds,
            started_at: started_at.clone(),
        },
        summary,
        cpu,
        positions,
        faults,
        gate: gate::gate(checks, database_checked),
    };
    println!("{}", report.table());
    if !args.no_files {
        let dir = args.report_dir.join(started_at.replace([':', '.'], "-"));
        report.write(&dir)?;
        println!(
            "  reports: {}/report.json, {}/report.html",
            dir.display(),
            dir.display()
        );
    }
    Ok(report.gate.passed)
}

fn progress_bar(args: &Args, planned: Option<u64>) -> indicatif::ProgressBar {
    if args.no_progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match planned {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} ended  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn spawn_progress(run: Arc<Run>, bar: indicatif::ProgressBar) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_TICK);
        let mut last_sent = 0;
        loop {
            tick.tick().await;
            let sent = run.sent();
            let ended = run.ended_count();
            bar.set_position(ended);
            let per_second = (sent - last_sent) * 1_000
                / u64::try_from(PROGRESS_TICK.as_millis()).unwrap_or(1_000);
            last_sent = sent;
            bar.set_message(format!(
                "sent {sent} ({per_second}/s), in flight {}",
                sent.saturating_sub(ended)
            ));
        }
    })
}
