//! Crash points for the chaos campaign (`make chaos`, docs/reliability.md).
//!
//! `FERROLOOP_FAILPOINT=<point>:<n>` makes the process abort — no destructor, no offset commit,
//! no flush, as a SIGKILL would — the `n`th time the batch loop passes `<point>`:
//!
//! - `after_commit`: the handler's database transaction committed, its output not produced yet;
//! - `after_produce`: the output acknowledged by the broker, the input offsets not stored yet.
//!
//! These are the two boundaries where a crash must neither lose a transfer nor apply it twice.
//! Compiled in always and inert unless the variable is set: one relaxed atomic add per batch.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a failpoint.
pub const ENV: &str = "FERROLOOP_FAILPOINT";

/// A place in the batch loop where the process may be made to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// After the handler's commit, before the produce.
    AfterCommit,
    /// After the produce was acknowledged, before the offsets are stored.
    AfterProduce,
}

impl Point {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterCommit => "after_commit",
            Self::AfterProduce => "after_produce",
        }
    }
}

/// An armed failpoint: abort at the `nth` pass (1-based) of `point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Armed {
    pub point: Point,
    pub nth: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ENV} must be after_commit:<n> or after_produce:<n> with n ≥ 1 (got {0:?})")]
pub struct ParseError(String);

/// Parses the variable's value; an empty value arms nothing.
pub fn parse(value: &str) -> Result<Option<Armed>, ParseError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let invalid = || ParseError(value.to_owned());
    let (name, nth) = value.split_once(':').ok_or_else(invalid)?;
    let point = match name {
        "after_commit" => Point::AfterCommit,
        "after_produce" => Point::AfterProduce,
        _ => return Err(invalid()),
    };
    let nth: u64 = nth.parse().map_err(|_| invalid())?;
    if nth == 0 {
        return Err(invalid());
    }
    Ok(Some(Armed { point, nth }))
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
static PASSES: AtomicU64 = AtomicU64::new(0);

fn armed() -> Option<Armed> {
    *ARMED.get_or_init(|| {
        let value = std::env::var(ENV).unwrap_or_default();
        match parse(&value) {
            Ok(armed) => {
                if let Some(a) = armed {
                    tracing::warn!(point = a.point.as_str(), nth = a.nth, "failpoint armed");
                }
                armed
            }
            // A campaign that mistyped its failpoint must not run as if it had crashed nothing.
            Err(error) => panic!("{error}"),
        }
    })
}

/// Reads and checks the variable now, so a bad value stops the process at start-up.
pub fn init() {
    let _ = armed();
}

/// Counts a pass of `point`; aborts the process at the armed pass.
pub fn pass(point: Point) {
    let Some(armed) = armed() else { return };
    if armed.point != point {
        return;
    }
    if PASSES.fetch_add(1, Ordering::Relaxed) + 1 == armed.nth {
        // stderr directly: the log pipeline may not flush before the abort.
        eprintln!("failpoint {}:{} hit: aborting", point.as_str(), armed.nth);
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_points_and_their_count() {
        assert_eq!(
            parse("after_commit:37"),
            Ok(Some(Armed {
                point: Point::AfterCommit,
                nth: 37
            }))
        );
        assert_eq!(
            parse(" after_produce:1 "),
            Ok(Some(Armed {
                point: Point::AfterProduce,
                nth: 1
            }))
        );
    }

    #[test]
    fn empty_arms_nothing() {
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn refuses_unknown_points_and_bad_counts() {
        for bad in [
            "after_commit",
            "after_commit:",
            "after_commit:0",
            "after_commit:-1",
            "before_commit:3",
            "after_produce:x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
