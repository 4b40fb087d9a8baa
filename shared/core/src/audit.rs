//! The admin audit chain: its canonical row serialisation, the hash that links each row to the
//! one before it, and the verifier that walks a chain and names the first row that breaks it.
//!
//! A row's hash is `SHA-256(prev_hash ‖ canonical)`, where `prev_hash` is the previous row's
//! hash (32 zero bytes for the first row, [`GENESIS`]) and `canonical` is the UTF-8 of the
//! compact JSON array
//!
//! ```text
//! [1, seq, at, actor, roles, method, route, path, outcome, http_status,
//!  approval_id, request, before, after, detail]
//! ```
//!
//! in exactly this order (the leading `1` is the format version), strings JSON-escaped as
//! `serde_json` prints them, absent optional fields as `null`, `at` as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds, as stored). An array rather than an object,
//! so the order cannot depend on a map implementation. Because `seq` is part of the content,
//! renumbering rows changes their hashes, and because every hash covers the previous one, a
//! change to any row breaks every later link unless all later hashes are recomputed — which is
//! why the head (last `seq` and hash) is also logged at every append, so it can be anchored
//! outside the database ([`ChainVerifier::expect`]).

use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// Version of the canonical serialisation, the array's first element.
pub const FORMAT_VERSION: u32 = 1;

/// What one audit row says: who did what, when, to what, with which outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContent {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When it was appended, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub at: String,
    /// The token's subject, or the configured actor when authentication is off.
    pub actor: String,
    /// The actor's roles, space-separated, sorted.
    pub roles: String,
    pub method: String,
    /// The route template, e.g. `POST /participants/{name}/accounts/{id}` has route
    /// `/participants/{name}/accounts/{id}`.
    pub route: String,
    /// The request path as received.
    pub path: String,
    /// `ok`, `pending`, `approved`, `rejected`, `refused`, `failed`, `unauthenticated`,
    /// `forbidden`.
    pub outcome: String,
    pub http_status: u16,
    /// The maker/checker request this row belongs to.
    pub approval_id: Option<String>,
    /// The request body as received (UTF-8, lossy).
    pub request: Option<String>,
    /// JSON of the state before and after the change, where the action has one.
    pub before: Option<String>,
    pub after: Option<String>,
    /// Error description or other detail.
    pub detail: Option<String>,
}

impl AuditContent {
    /// The canonical serialisation (see the module documentation).
    pub fn canonical(&self) -> String {
        let text = |s: &str| serde_json::Value::String(s.to_owned());
        let optional = |s: &Option<String>| {
            s.as_deref().map_or(serde_json::Value::Null, |s| {
                serde_json::Value::String(s.to_owned())
            })
        };
        serde_json::Value::Array(vec![
            FORMAT_VERSION.into(),
            self.seq.into(),
            text(&self.at),
            text(&self.actor),
            text(&self.roles),
            text(&self.method),
            text(&self.route),
            text(&self.path),
            text(&self.outcome),
            self.http_status.into(),
            optional(&self.approval_id),
            optional(&self.request),
            optional(&self.before),
            optional(&self.after),
            optional(&self.detail),
        ])
        .to_string()
    }

    /// `SHA-256(prev_hash ‖ canonical)`.
    pub fn chain_hash(&self, prev_hash: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(self.canonical().as_bytes());
        hasher.finalize().into()
    }
}

/// A row as stored: its content and the two hashes it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub content: AuditContent,
    pub prev_hash: [u8; 32],
    pub row_hash: [u8; 32],
}

/// The first place where a stored chain is not what the API appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("row {seq} was altered: its content does not match its hash")]
    Altered { seq: u64 },
    #[error("row {seq} is missing: deleted (the chain goes on at row {next})")]
    Deleted { seq: u64, next: u64 },
    #[error("row {seq} was inserted: the row after it links to the row before it")]
    Inserted { seq: u64 },
    #[error(
        "row {seq} does not follow row {previous}: row {previous} was rewritten with a recomputed hash, or rows between them were deleted"
    )]
    Relinked { seq: u64, previous: u64 },
    #[error("row {seq} was inserted: the chain head ends at row {head}")]
    BeyondHead { seq: u64, head: u64 },
    #[error("row {seq} is the chain head but its hash is not the head's: rewritten")]
    HeadMismatch { seq: u64 },
    #[error("rows {first} to {head} are missing: deleted from the end")]
    Truncated { first: u64, head: u64 },
    #[error("row {seq} does not have the expected (anchored) hash")]
    AnchorMismatch { seq: u64 },
    #[error("row {seq} is missing: the anchor names it but the chain ends at row {last}")]
    AnchorMissing { seq: u64, last: u64 },
}

impl ChainBreak {
    /// The row the break names first.
    pub fn seq(&self) -> u64 {
        match *self {
            ChainBreak::Altered { seq }
            | ChainBreak::Deleted { seq, .. }
            | ChainBreak::Inserted { seq }
            | ChainBreak::Relinked { seq, .. }
            | ChainBreak::BeyondHead { seq, .. }
            | ChainBreak::HeadMismatch { seq }
            | ChainBreak::AnchorMismatch { seq }
            | ChainBreak::AnchorMissing { seq, .. } => seq,
            ChainBreak::Truncated { first, .. } => first,
        }
    }
}

/// A chain that verified: how many rows, and its last row (the head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedChain {
    pub rows: u64,
    pub head_hash: [u8; 32],
}

/// Walks a chain row by row in `seq` order. Checks, for each row: that no `seq` is skipped
/// (deleted), that it links to the previous row's hash (or, when it links to the one before
/// that, that the previous row was inserted), that its content matches its hash, and that it
/// does not lie beyond the stored head; at the end, that the chain reaches the head.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head: Option<(u64, [u8; 32])>,
    anchor: Option<(u64, [u8; 32])>,
    expected_seq: u64,
    prev_hash: [u8; 32],
    prev_prev_hash: Option<[u8; 32]>,
}

impl ChainVerifier {
    /// A verifier for a chain whose stored head is `head` (`None`: nothing appended yet).
    pub fn new(head: Option<(u64, [u8; 32])>) -> Self {
        Self {
            head,
            anchor: None,
            expected_seq: 1,
            prev_hash: GENESIS,
            prev_prev_hash: None,
        }
    }

    /// Also requires row `seq` to have `hash` — a head recorded earlier outside the database
    /// (e.g. from the admin API's log), which catches a chain rewritten from that row on.
    pub fn expect(mut self, seq: u64, hash: [u8; 32]) -> Self {
        self.anchor = Some((seq, hash));
        self
    }

    /// Checks the next row.
    pub fn push(&mut self, row: &AuditRow) -> Result<(), ChainBreak> {
        let seq = row.content.seq;
        let head_seq = self.head.map_or(0, |(s, _)| s);
        if seq > head_seq {
            return Err(ChainBreak::BeyondHead {
                seq,
                head: head_seq,
            });
        }
        if seq != self.expected_seq {
            return Err(ChainBreak::Deleted {
                seq: self.expected_seq,
                next: seq,
            });
        }
        if row.prev_hash != self.prev_hash {
            return Err(if Some(row.prev_hash) == self.prev_prev_hash {
                ChainBreak::Inserted { seq: seq - 1 }
            } else {
                ChainBreak::Relinked {
                    seq,
                    previous: seq - 1,
                }
            });
        }
        if row.content.chain_hash(&row.prev_hash) != row.row_hash {
            return Err(ChainBreak::Altered { seq });
        }
        if let Some((head, hash)) = self.head
            && head == seq
            && hash != row.row_hash
        {
            return Err(ChainBreak::HeadMismatch { seq });
        }
        if let Some((anchor, hash)) = self.anchor
            && anchor == seq
            && hash != row.row_hash
        {
            return Err(ChainBreak::AnchorMismatch { seq });
        }
        self.prev_prev_hash = Some(self.prev_hash);
        self.prev_hash = row.row_hash;
        self.expected_seq = seq + 1;
        Ok(())
    }

    /// Checks that the walk reached the head (and the anchor).
    pub fn finish(self) -> Result<VerifiedChain, ChainBreak> {
        let last = self.expected_seq - 1;
        if let Some((head, _)) = self.head
            && last < head
        {
            return Err(ChainBreak::Truncated {
                first: last + 1,
                head,
            });
        }
        if let Some((anchor, _)) = self.anchor
            && anchor > last
        {
            return Err(ChainBreak::AnchorMissing { seq: anchor, last });
        }
        Ok(VerifiedChain {
            rows: last,
            head_hash: self.prev_hash,
        })
    }
}

/// Lowercase hex of a hash, as the API and the logs print it.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash from its hex form.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(seq: u64) -> AuditContent {
        AuditContent {
            seq,
            at: "2026-01-02T03:04:05.678Z".into(),
            actor: "alice".into(),
            roles: "operator".into(),
            method: "POST".into(),
            route: "/participants".into(),
            path: "/participants".into(),
            outcome: "ok".into(),
            http_status: 201,
            approval_id: None,
            request: Some(r#"{"name":"dfsp1","currency":"USD"}"#.into()),
            before: None,
            after: Some("{\"é\":\"\\\"quoted\\\"\"}".into()),
            detail: None,
        }
    }

    fn chain(n: u64) -> Vec<AuditRow> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let content = content(seq);
                let row_hash = content.chain_hash(&prev);
                let row = AuditRow {
                    content,
                    prev_hash: prev,
                    row_hash,
                };
                prev = row_hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[AuditRow], head: Option<(u64, [u8; 32])>) -> Result<u64, ChainBreak> {
        let mut verifier = ChainVerifier::new(head);
        for row in rows {
            verifier.push(row)?;
        }
        verifier.finish().map(|v| v.rows)
    }

    fn head(rows: &[AuditRow]) -> Option<(u64, [u8; 32])> {
        rows.last().map(|r| (r.content.seq, r.row_hash))
    }

    #[test]
    fn the_canonical_form_is_a_fixed_order_array() {
        let text = content(7).canonical();
        assert!(text.starts_with(r#"[1,7,"2026-01-02T03:04:05.678Z","alice","operator","POST""#));
        assert!(text.ends_with(r#",null]"#), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 15);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let rows = chain(5);
        assert_eq!(verify(&rows, head(&rows)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn an_edit_names_the_row() {
        let mut rows = chain(5);
        let h = head(&rows);
        rows[2].content.actor = "mallory".into();
        assert_eq!(verify(&rows, h), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        let h = head(&rows);
        rows[1].content.detail = Some("forged".into());
        rows[1].row_hash = rows[1].content.chain_hash(&rows[1].prev_hash);
        assert_eq!(
            verify(&rows, h),
            Err(ChainBreak::Relinked {
                seq: 3,
                previous: 2
            })
        );
    }

    #[test]
    fn deletions_name_the_missing_row() {
        let rows = chain(5);
        let h = head(&rows);
        let mut middle = rows.clone();
        middle.remove(1);
        assert_eq!(
            verify(&middle, h),
            Err(ChainBreak::Deleted { seq: 2, next: 3 })
        );
        let mut end = rows.clone();
        end.truncate(3);
        assert_eq!(
            verify(&end, h),
            Err(ChainBreak::Truncated { first: 4, head: 5 })
        );
    }

    #[test]
    fn insertions_name_the_inserted_row() {
        let rows = chain(4);
        let h = head(&rows);
        // Appended behind the API's back.
        let mut appended = rows.clone();
        let mut extra = content(5);
        extra.actor = "mallory".into();
        let extra_hash = extra.chain_hash(&rows[3].row_hash);
        appended.push(AuditRow {
            content: extra,
            prev_hash: rows[3].row_hash,
            row_hash: extra_hash,
        });
        assert_eq!(
            verify(&appended, h),
            Err(ChainBreak::BeyondHead { seq: 5, head: 4 })
        );
        // Squeezed in as row 2 with a correct hash, the rows after it renumbered.
        let mut forged = content(2);
        forged.actor = "mallory".into();
        let forged_hash = forged.chain_hash(&rows[0].row_hash);
        let mut middle = vec![
            rows[0].clone(),
            AuditRow {
                content: forged,
                prev_hash: rows[0].row_hash,
                row_hash: forged_hash,
            },
        ];
        for row in &rows[1..] {
            let mut moved = row.clone();
            moved.content.seq += 1;
            middle.push(moved);
        }
        let moved_head = Some((5, rows[3].row_hash));
        assert_eq!(
            verify(&middle, moved_head),
            Err(ChainBreak::Inserted { seq: 2 })
        );
    }

    #[test]
    fn anchors_catch_a_rewritten_chain() {
        let rows = chain(3);
        let recorded = rows[1].row_hash;
        let mut rewritten = chain(3);
        rewritten[1].content.actor = "mallory".into();
        let mut prev = rewritten[0].row_hash;
        for row in &mut rewritten[1..] {
            row.prev_hash = prev;
            row.row_hash = row.content.chain_hash(&prev);
            prev = row.row_hash;
        }
        let mut verifier = ChainVerifier::new(head(&rewritten)).expect(2, recorded);
        let result = rewritten.iter().try_for_each(|r| verifier.push(r));
        assert_eq!(result, Err(ChainBreak::AnchorMismatch { seq: 2 }));
    }

    #[test]
    fn hex_round_trips() {
        let hash = content(1).chain_hash(&GENESIS);
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert_eq!(parse_hex("zz"), None);
    }
}
