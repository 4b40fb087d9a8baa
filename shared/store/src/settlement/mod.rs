//! Settlement storage (docs/settlement.md): windows and the committed money in them
//! ([`windows`]), settlements and their ledger movements ([`settlements`]), and the settlement
//! invariants ([`checks`]). The rules are `ferroloop_core::settlement`; this module only reads,
//! locks and writes.

pub mod checks;
pub mod settlements;
pub mod windows;

pub use windows::record_committed;

use sqlx::{MySql, QueryBuilder};

fn push_list<T>(builder: &mut QueryBuilder<MySql>, values: &[T])
where
    T: Copy + Send + for<'q> sqlx::Encode<'q, MySql> + sqlx::Type<MySql> + 'static,
{
    let mut list = builder.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
    list.push_unseparated(")");
}
