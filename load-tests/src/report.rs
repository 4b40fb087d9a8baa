//! Figures of a run: latency percentiles per hop, rates, errors by FSPIOP code, a per-second
//! timeline and its windows (the performance bar's unit: p99 in every 15-second window); printed
//! as a table and written as JSON and as an HTML page with charts.
//!
//! Latencies are integer microseconds throughout (money and time are never floating point
//! here); the table shows milliseconds with three decimals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::book::{Outcome, RecordView};
use crate::gate::{Gate, PositionChange};

/// Longest latency a histogram records: one hour.
const LATENCY_MAX_US: u64 = 3_600_000_000;
const MICROS_PER_SECOND: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub api_url: String,
    /// The hub's broker as described by whoever ran the tool (`--broker`).
    pub broker: Option<String>,
    pub mode: crate::config::Mode,
    pub rate_per_second: Option<u32>,
    pub concurrency: Option<u32>,
    pub count: Option<u64>,
    pub duration_seconds: Option<u64>,
    pub warmup_seconds: u64,
    pub dfsps: u16,
    pub pairs: crate::config::Pairs,
    pub skew_percent: Option<u8>,
    pub reserved_percent: u8,
    pub silent_percent: u8,
    pub limits: crate::config::Limits,
    pub amount: String,
    pub currency: String,
    pub expiry_seconds: u64,
    pub started_at: String,
}

/// Percentiles of one latency, in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Latencies {
    /// POST /transfers sent (open loop: its scheduled time) → 202 received.
    pub post_to_accepted: Percentiles,
    /// POST sent → the payee's simulator received the hub's POST /transfers.
    pub prepare_to_payee: Percentiles,
    /// The payee's PUT sent → the payer's simulator received its PUT callback.
    pub fulfil_to_payer: Percentiles,
    /// POST sent → the payer heard COMMITTED.
    pub end_to_end: Percentiles,
}

impl Latencies {
    /// Each hop with its name as the table shows it.
    fn hops(&self) -> [(&'static str, &Percentiles); 4] {
        [
            ("POST → 202", &self.post_to_accepted),
            ("prepare → payee POST", &self.prepare_to_payee),
            ("payee PUT → payer PUT", &self.fulfil_to_payer),
            ("end to end (committed)", &self.end_to_end),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    pub sent: u64,
    pub accepted: u64,
    pub committed: u64,
    pub aborted: u64,
    pub refused: u64,
    pub send_failed: u64,
    pub still_open: u64,
    pub duplicate_payer_callbacks: u64,
    pub payee_notices: u64,
    pub stray_callbacks: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Seconds from the first scheduled send to the last.
    pub send_window_ms: u64,
    pub sent_per_second: u64,
    /// Committed transfers per second from the first send to the last commit heard.
    pub committed_per_second: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    pub second: u64,
    pub sent: u64,
    pub committed: u64,
    pub aborted: u64,
    pub end_to_end_p50_us: u64,
    pub end_to_end_p99_us: u64,
}

/// A stretch of the timeline, by the second each transfer committed in: the unit of the
/// performance bar (end-to-end p99 in every 15-second window, docs/performance.md). Its
/// percentiles come from the merged histograms of its seconds, not from their per-second
/// percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Its first second, counted as the timeline counts.
    pub from_second: u64,
    /// How many seconds it spans (the last window of a run may be shorter).
    pub seconds: u64,
    pub committed: u64,
    pub committed_per_second: u64,
    pub end_to_end_p50_us: u64,
    pub end_to_end_p99_us: u64,
}

/// Everything [`summarize`] derives from the records (flattened into the report's JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub totals: Totals,
    pub rates: Rates,
    pub latency: Latencies,
    /// FSPIOP error code → transfers that ended with it (refusals and aborts).
    pub errors_by_code: BTreeMap<String, u64>,
    pub timeline: Vec<Second>,
    /// The timeline in windows of `--window-seconds`.
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    #[serde(flatten)]
    pub summary: Summary,
    /// CPU per process and second (`--watch-pid`, and the tool itself).
    pub cpu: Vec<crate::cpu::CpuSecond>,
    pub positions: Vec<PositionChange>,
    /// What the run must account for under injected faults (zeros on a calm run).
    pub faults: crate::faults::Faults,
    pub gate: Gate,
}

fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, LATENCY_MAX_US, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

fn record(h: &mut Histogram<u64>, from: Option<u64>, to: Option<u64>) {
    if let (Some(from), Some(to)) = (from, to) {
        // Saturating: a latency beyond the bound is recorded as the bound.
        h.saturating_record(to.saturating_sub(from).max(1));
    }
}

/// Sent, committed and aborted transfers of one second, and the end-to-end latencies of those
/// committed in it.
type SecondTally = (u64, u64, u64, Histogram<u64>);

/// The figures of `views`. Transfers scheduled in the first `warmup_us` are counted but left
/// out of the latencies (not out of the timeline and its windows of `window_seconds`).
pub fn summarize(views: &[RecordView], warmup_us: u64, window_seconds: u64) -> Summary {
    assert!(window_seconds > 0, "a window lasts at least a second");
    let mut totals = Totals::default();
    let mut errors = BTreeMap::new();
    let (mut accepted_h, mut payee_h, mut fulfil_h, mut e2e_h) =
        (histogram(), histogram(), histogram(), histogram());
    let mut first_scheduled = u64::MAX;
    let mut last_scheduled = 0;
    let mut last_commit = 0;
    let mut seconds: BTreeMap<u64, SecondTally> = BTreeMap::new();
    for v in views {
        totals.sent += 1;
        if v.accepted_us.is_some() {
            totals.accepted += 1;
        }
        totals.payee_notices += u64::from(v.payee_notices);
        if v.payer_finals > 1 {
            totals.duplicate_payer_callbacks += u64::from(v.payer_finals - 1);
        }
        match v.outcome {
            Outcome::Committed => totals.committed += 1,
            Outcome::Aborted => totals.aborted += 1,
            Outcome::Refused => totals.refused += 1,
            Outcome::SendFailed => totals.send_failed += 1,
            Outcome::Pending => totals.still_open += 1,
        }
        if v.error_code != 0 {
            *errors.entry(v.error_code.to_string()).or_insert(0) += 1;
        }
        let Some(scheduled) = v.scheduled_us else {
            continue;
        };
        first_scheduled = first_scheduled.min(scheduled);
        last_scheduled = last_scheduled.max(scheduled);
        seconds
            .entry(scheduled / MICROS_PER_SECOND)
            .or_insert_with(|| (0, 0, 0, histogram()))
            .0 += 1;
        if let Some(finished) = v.finished_us {
            let bucket = seconds
                .entry(finished / MICROS_PER_SECOND)
                .or_insert_with(|| (0, 0, 0, histogram()));
            match v.outcome {
                Outcome::Committed => {
                    bucket.1 += 1;
                    record(&mut bucket.3, Some(scheduled), Some(finished));
                    last_commit = last_commit.max(finished);
                }
                Outcome::Aborted => bucket.2 += 1,
                _ => {}
            }
        }
        if scheduled < warmup_us {
            continue;
        }
        record(&mut accepted_h, Some(scheduled), v.accepted_us);
        record(&mut payee_h, Some(scheduled), v.payee_prepare_us);
        if v.outcome == Outcome::Committed {
            record(&mut fulfil_h, v.payee_answer_us, v.finished_us);
            record(&mut e2e_h, Some(scheduled), v.finished_us);
        }
    }
    let per_second = |n: u64, window_us: u64| {
        n.saturating_mul(MICROS_PER_SECOND)
            .checked_div(window_us)
            .unwrap_or(0)
    };
    let send_window_us = last_scheduled.saturating_sub(first_scheduled);
    let rates = Rates {
        send_window_ms: send_window_us / 1_000,
        sent_per_second: per_second(totals.sent.saturating_sub(1), send_window_us),
        committed_per_second: per_second(
            totals.committed,
            last_commit.saturating_sub(first_scheduled),
        ),
    };
    let latency = Latencies {
        post_to_accepted: Percentiles::of(&accepted_h),
        prepare_to_payee: Percentiles::of(&payee_h),
        fulfil_to_payer: Percentiles::of(&fulfil_h),
        end_to_end: Percentiles::of(&e2e_h),
    };
    let start_second = if first_scheduled == u64::MAX {
        0
    } else {
        first_scheduled / MICROS_PER_SECOND
    };
    let timeline = seconds
        .iter()
        .map(|(second, (sent, committed, aborted, h))| Second {
            second: second.saturating_sub(start_second),
            sent: *sent,
            committed: *committed,
            aborted: *aborted,
            end_to_end_p50_us: quantile(h, 0.5),
            end_to_end_p99_us: quantile(h, 0.99),
        })
        .collect();
    Summary {
        totals,
        rates,
        latency,
        errors_by_code: errors,
        timeline,
        windows: windows(&seconds, start_second, window_seconds),
    }
}

fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// The timeline's seconds grouped into windows of `length` seconds from `start_second`. Every
/// window spans `length` seconds but the last, which ends with the timeline's last second.
fn windows(seconds: &BTreeMap<u64, SecondTally>, start_second: u64, length: u64) -> Vec<Window> {
    let mut merged: BTreeMap<u64, (u64, Histogram<u64>)> = BTreeMap::new();
    let mut last_second = 0;
    for (second, (_, committed, _, h)) in seconds {
        let relative = second.saturating_sub(start_second);
        last_second = last_second.max(relative);
        let window = merged
            .entry(relative / length * length)
            .or_insert_with(|| (0, histogram()));
        window.0 += committed;
        if let Err(e) = window.1.add(h) {
            unreachable!("histograms with the same bounds add: {e}");
        }
    }
    merged
        .into_iter()
        .map(|(from_second, (committed, h))| {
            let seconds = length.min(last_second - from_second + 1);
            Window {
                from_second,
                seconds,
                committed,
                committed_per_second: committed / seconds,
                end_to_end_p50_us: quantile(&h, 0.5),
                end_to_end_p99_us: quantile(&h, 0.99),
            }
        })
        .collect()
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1_000, us % 1_000)
}

impl Report {
    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.scenario;
        let t = &self.summary.totals;
        let load = match s.mode {
            crate::config::Mode::Open => {
                format!("open loop at {}/s", s.rate_per_second.unwrap_or(0))
            }
            crate::config::Mode::Closed => {
                format!("closed loop, {} in flight", s.concurrency.unwrap_or(0))
            }
        };
        let _ = writeln!(
            out,
            "\nferroloop load test: {load}, {} DFSPs, {:?} pairs, {:?} limits, against {}",
            s.dfsps, s.pairs, s.limits, s.api_url
        );
        if let Some(broker) = &s.broker {
            let _ = writeln!(out, "  broker: {broker}");
        }
        let _ = writeln!(
            out,
            "\n  sent {}  accepted {}  committed {}  aborted {}  refused {}  send failures {}  still open {}",
            t.sent, t.accepted, t.committed, t.aborted, t.refused, t.send_failed, t.still_open
        );
        let _ = writeln!(
            out,
            "  rate: sent {}/s over {} s, committed {}/s end to end",
            self.summary.rates.sent_per_second,
            ms(self.summary.rates.send_window_ms),
            self.summary.rates.committed_per_second
        );
        if !self.summary.errors_by_code.is_empty() {
            let codes: Vec<_> = self
                .summary
                .errors_by_code
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let _ = writeln!(out, "  errors by FSPIOP code: {}", codes.join(", "));
        }
        let _ = writeln!(
            out,
            "\n  {:<28} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "latency (ms)", "count", "p50", "p90", "p95", "p99", "p99.9", "max"
        );
        for (name, p) in self.summary.latency.hops() {
            let _ = writeln!(
                out,
                "  {:<28} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                name,
                p.count,
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p95_us),
                ms(p.p99_us),
                ms(p.p999_us),
                ms(p.max_us)
            );
        }
        out.push_str(&self.windows_table());
        if !self.positions.is_empty() {
            let _ = writeln!(
                out,
                "\n  {:<24} {:>16} {:>16} {:>16}",
                "position", "before", "after", "net debit cap"
            );
            const SHOWN: usize = 12;
            for p in self.positions.iter().take(SHOWN) {
                let _ = writeln!(
                    out,
                    "  {:<24} {:>16} {:>16} {:>16}",
                    p.dfsp,
                    p.before.normalize(),
                    p.after.normalize(),
                    p.net_debit_cap.normalize()
                );
            }
            if self.positions.len() > SHOWN {
                let _ = writeln!(out, "  … and {} more DFSPs", self.positions.len() - SHOWN);
            }
        }
        let f = &self.faults;
        let unknown = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let _ = writeln!(
            out,
            "\n  faults: lost {}  applied twice {}  invariant violations {}  duplicate callbacks {}/{}  payers untold {} ({} told after GET)  payees untold {}  longest stall {} ms",
            unknown(f.lost),
            unknown(f.applied_twice),
            unknown(f.invariant_violations),
            f.duplicate_payer_callbacks,
            f.duplicate_payee_callbacks,
            f.payer_untold,
            f.told_after_get,
            f.payee_untold,
            f.max_stall_ms
        );
        let verdict = if self.gate.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(out, "\n  validity gate: {verdict}");
        for c in &self.gate.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "    [{mark}] {}  {}", c.name, c.detail);
        }
        if !self.gate.database_checked {
            let _ = writeln!(
                out,
                "    [skip] database checks (states, I1–I4): give --database-url to run them"
            );
        }
        out
    }

    /// The end-to-end latency per window, and the worst window's p99.
    fn windows_table(&self) -> String {
        let mut out = String::new();
        let Some(worst) = self
            .summary
            .windows
            .iter()
            .max_by_key(|w| w.end_to_end_p99_us)
        else {
            return out;
        };
        let _ = writeln!(
            out,
            "\n  {:<28} {:>8} {:>10} {:>10} {:>10}",
            "window (s, by commit)", "count", "commits/s", "p50", "p99"
        );
        for w in &self.summary.windows {
            let _ = writeln!(
                out,
                "  {:<28} {:>8} {:>10} {:>10} {:>10}",
                format!("{}–{}", w.from_second, w.from_second + w.seconds - 1),
                w.committed,
                w.committed_per_second,
                ms(w.end_to_end_p50_us),
                ms(w.end_to_end_p99_us)
            );
        }
        let _ = writeln!(
            out,
            "  worst window p99: {} ms (from second {})",
            ms(worst.end_to_end_p99_us),
            worst.from_second
        );
        out
    }

    /// Writes `report.json` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(dir.join("report.html"), self.html())?;
        Ok(())
    }

    /// A self-contained page (inline SVG, no scripts) a person can open from disk.
    pub fn html(&self) -> String {
        let seconds: Vec<u64> = self.summary.timeline.iter().map(|s| s.second).collect();
        let throughput = chart(
            "Transfers per second",
            &seconds,
            &[
                (
                    "sent",
                    "#1f77b4",
                    self.summary.timeline.iter().map(|s| s.sent).collect(),
                ),
                (
                    "committed",
                    "#2ca02c",
                    self.summary.timeline.iter().map(|s| s.committed).collect(),
                ),
                (
                    "aborted",
                    "#d62728",
                    self.summary.timeline.iter().map(|s| s.aborted).collect(),
                ),
            ],
            "/s",
        );
        let latency = chart(
            "End-to-end latency of transfers committed in each second (ms)",
            &seconds,
            &[
                (
                    "p50",
                    "#1f77b4",
                    self.summary
                        .timeline
                        .iter()
                        .map(|s| s.end_to_end_p50_us / 1_000)
                        .collect(),
                ),
                (
                    "p99",
                    "#ff7f0e",
                    self.summary
                        .timeline
                        .iter()
                        .map(|s| s.end_to_end_p99_us / 1_000)
                        .collect(),
                ),
            ],
            " ms",
        );
        let cpu = cpu_chart(&self.cpu);
        let mut rows = String::new();
        for (name, p) in self.summary.latency.hops() {
            let _ = write!(
                rows,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.count,
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p95_us),
                ms(p.p99_us),
                ms(p.p999_us),
                ms(p.max_us)
            );
        }
        let mut windows = String::new();
        for w in &self.summary.windows {
            let _ = write!(
                windows,
                "<tr><td>{}–{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                w.from_second,
                w.from_second + w.seconds - 1,
                w.committed,
                w.committed_per_second,
                ms(w.end_to_end_p50_us),
                ms(w.end_to_end_p99_us)
            );
        }
        let mut checks = String::new();
        for c in &self.gate.checks {
            let _ = write!(
                checks,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
                if c.passed { "ok" } else { "fail" },
                if c.passed { "ok" } else { "FAIL" },
                escape(&c.name),
                escape(&c.detail)
            );
        }
        let t = &self.summary.totals;
        let scenario = escape(&serde_json::to_string_pretty(&self.scenario).unwrap_or_default());
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>ferroloop load test {started}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}tr.fail{{background:#fdd}}tr.ok td:first-child{{color:#2a2}}pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>ferroloop load test</h1><p>Started {started}. Validity gate: <b>{verdict}</b>.</p>{broker}
<p>sent {sent}, accepted {accepted}, committed {committed}, aborted {aborted}, refused {refused}, send failures {failed}, still open {open}.
Sent {sent_rate}/s; committed {commit_rate}/s end to end.</p>
{throughput}{latency}{cpu}
<h2>Latency (ms)</h2><table><tr><th>hop</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr>{rows}</table>
<h2>End to end per window (ms, by the second of commit)</h2><table><tr><th>seconds</th><th>committed</th><th>per second</th><th>p50</th><th>p99</th></tr>{windows}</table>
<h2>Validity gate</h2><table>{checks}</table>
<h2>Scenario</h2><pre>{scenario}</pre></body></html>\n",
            started = escape(&self.scenario.started_at),
            broker = self.scenario.broker.as_deref().map_or(String::new(), |b| format!("<p>Broker: {}.</p>", escape(b))),
            verdict = if self.gate.passed { "passed" } else { "FAILED" },
            sent = t.sent,
            accepted = t.accepted,
            committed = t.committed,
            aborted = t.aborted,
            refused = t.refused,
            failed = t.send_failed,
            open = t.still_open,
            sent_rate = self.summary.rates.sent_per_second,
            commit_rate = self.summary.rates.committed_per_second,
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colours of the plots' series, in order (the tab10 palette); more series reuse them.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The CPU plot: one line per process, per cent of one core in each second.
fn cpu_chart(cpu: &[crate::cpu::CpuSecond]) -> String {
    if cpu.is_empty() {
        return String::new();
    }
    let seconds: Vec<u64> = cpu.iter().map(|s| s.second).collect();
    let names: std::collections::BTreeSet<&String> =
        cpu.iter().flat_map(|s| s.percent_of_core.keys()).collect();
    let series: Vec<(&str, &str, Vec<u64>)> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let ys = cpu
                .iter()
                .map(|s| s.percent_of_core.get(name).copied().unwrap_or(0))
                .collect();
            (name.as_str(), PALETTE[i % PALETTE.len()], ys)
        })
        .collect();
    chart(
        "CPU per process (% of one core, each second)",
        &seconds,
        &series,
        "%",
    )
}

/// A line chart as inline SVG, integer coordinates.
fn chart(title: &str, xs: &[u64], series: &[(&str, &str, Vec<u64>)], unit: &str) -> String {
    const WIDTH: u64 = 900;
    const HEIGHT: u64 = 260;
    const LEFT: u64 = 60;
    const BOTTOM: u64 = 30;
    const TOP: u64 = 20;
    let plot_w = WIDTH - LEFT - 10;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max_x = xs.iter().copied().max().unwrap_or(0).max(1);
    let max_y = series
        .iter()
        .flat_map(|(_, _, ys)| ys.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |v: u64| LEFT + v * plot_w / max_x;
    let y = |v: u64| TOP + plot_h - v.min(max_y) * plot_h / max_y;
    let mut svg = format!(
        "<h2>{}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-size=\"11\">",
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"#999\"/>",
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    );
    for tick in 0..=4_u64 {
        let value = max_y * tick / 4;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{value}{unit}</text><line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#eee\"/>",
            LEFT - 4,
            y(value) + 4,
            y(value),
            LEFT + plot_w,
            y(value)
        );
        let second = max_x * tick / 4;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{second} s</text>",
            x(second),
            HEIGHT - 10
        );
    }
    let mut legend_x = LEFT + 10;
    for (name, colour, ys) in series {
        let points: Vec<String> = xs
            .iter()
            .zip(ys)
            .map(|(&xv, &yv)| format!("{},{}", x(xv), y(yv)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/><text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>",
            points.join(" "),
            legend_x,
            TOP - 5
        );
        // ~6 px per character at font-size 11, plus a gap.
        legend_x += 6 * name.len() as u64 + 20;
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::PayeeBehaviour;

    fn committed(index: u64, scheduled_ms: u64, e2e_ms: u64) -> RecordView {
        RecordView {
            index,
            scheduled_us: Some(scheduled_ms * 1_000),
            accepted_us: Some(scheduled_ms * 1_000 + 500),
            payee_prepare_us: Some(scheduled_ms * 1_000 + 2_000),
            payee_answer_us: Some(scheduled_ms * 1_000 + 3_000),
            finished_us: Some((scheduled_ms + e2e_ms) * 1_000),
            payer: 0,
            payee: 1,
            behaviour: Some(PayeeBehaviour::Fulfil),
            outcome: Outcome::Committed,
            error_code: 0,
            payer_finals: 1,
            payee_notices: 1,
            payee_answer_refused: false,
        }
    }

    #[test]
    fn percentiles_rates_and_timeline_come_from_the_records() {
        // 100 transfers over one second, 10 ms each end to end, one slow at 500 ms.
        let mut views: Vec<_> = (0..100).map(|i| committed(i, i * 10, 10)).collect();
        views[99] = committed(99, 990, 500);
        let Summary {
            totals,
            rates,
            latency,
            errors_by_code,
            timeline,
            ..
        } = summarize(&views, 0, 15);
        assert_eq!(totals.committed, 100);
        assert!(errors_by_code.is_empty());
        assert_eq!(rates.sent_per_second, 100);
        assert_eq!(latency.end_to_end.count, 100);
        assert!((9_990..=10_010).contains(&latency.end_to_end.p50_us));
        assert!(latency.end_to_end.max_us >= 499_000);
        assert!((1_990..=2_010).contains(&latency.prepare_to_payee.p50_us));
        assert_eq!(timeline[0].sent, 100);
        assert_eq!(timeline.iter().map(|s| s.committed).sum::<u64>(), 100);
        // Warm-up leaves the first half out of the latencies but not out of the counts.
        let warm = summarize(&views, 500_000, 15);
        assert_eq!(warm.totals.sent, 100);
        assert_eq!(warm.latency.end_to_end.count, 50);
    }

    #[test]
    fn windows_merge_their_seconds_latencies_and_count_their_commits() {
        // 40 seconds, 100 transfers a second at 10 ms, but second 20 has 10 of its 100 at
        // 400 ms: its own p99 is 400 ms, while its window's merged p99 stays at 10 ms (10 slow
        // of 1,500 is under 1 %), and the worst window is the one holding it.
        let mut views = Vec::new();
        for second in 0..40_u64 {
            for i in 0..100_u64 {
                let slow = second == 20 && i < 10;
                let index = second * 100 + i;
                views.push(committed(
                    index,
                    second * 1_000 + i * 5,
                    if slow { 400 } else { 10 },
                ));
            }
        }
        let summary = summarize(&views, 0, 15);
        let spans: Vec<(u64, u64)> = summary
            .windows
            .iter()
            .map(|w| (w.from_second, w.seconds))
            .collect();
        assert_eq!(spans, vec![(0, 15), (15, 15), (30, 10)]);
        // A quiet stretch inside a window does not shorten it: seconds 10–14 and 20–29 empty.
        let gappy: Vec<_> = views
            .iter()
            .filter(|v| !(10_000..15_000).contains(&v.scheduled_us.unwrap().div_euclid(1_000)))
            .filter(|v| !(20_000..30_000).contains(&v.scheduled_us.unwrap().div_euclid(1_000)))
            .copied()
            .collect();
        let gappy = summarize(&gappy, 0, 15);
        assert_eq!(gappy.windows[0].seconds, 15);
        assert_eq!(gappy.windows[0].committed_per_second, 1_000 / 15);
        assert_eq!(gappy.windows[1].seconds, 15);
        assert_eq!(
            summary.windows.iter().map(|w| w.committed).sum::<u64>(),
            4_000
        );
        assert_eq!(summary.windows[0].committed_per_second, 100);
        let second_20 = &summary.timeline[20];
        assert!(second_20.end_to_end_p99_us >= 399_000, "{second_20:?}");
        let middle = &summary.windows[1];
        assert!(
            (9_990..=10_010).contains(&middle.end_to_end_p99_us),
            "{middle:?}"
        );
        // Second 20 alone: a tenth of its transfers slow puts its window's p99 there.
        let slow_share = summarize(&views[2_000..2_100], 0, 15);
        assert!(slow_share.windows[0].end_to_end_p99_us >= 399_000);
    }

    #[test]
    fn milliseconds_print_with_three_decimals() {
        assert_eq!(ms(1_234_567), "1234.567");
        assert_eq!(ms(5), "0.005");
    }

    #[test]
    fn the_html_page_has_both_charts() {
        let html = chart("t", &[0, 1, 2], &[("a", "#000", vec![1, 5, 3])], "/s");
        assert!(html.contains("<polyline"));
        assert!(html.contains("5/s"));
    }

    #[test]
    fn the_cpu_chart_draws_one_line_per_process() {
        assert_eq!(cpu_chart(&[]), "");
        let second = |s, a, b| crate::cpu::CpuSecond {
            second: s,
            percent_of_core: [("mariadbd".to_owned(), a), ("ferroloop-load".to_owned(), b)]
                .into_iter()
                .collect(),
        };
        let html = cpu_chart(&[second(1, 40, 10), second(2, 55, 12)]);
        assert_eq!(html.matches("<polyline").count(), 2, "{html}");
        assert!(html.contains(">mariadbd<") && html.contains(">ferroloop-load<"));
        assert!(
            html.contains("55%"),
            "the top of the scale is the largest share: {html}"
        );
    }
}
