//! Shapes of multi-row statements, chosen so that MariaDB's prepared statements are reused.
//!
//! sqlx prepares every statement and caches it per connection by its text. A multi-row
//! statement's text depends on its row count, so batches of every size from 1 to the batch limit
//! would each prepare their own statements: in `make bench` at 1,000 transfers/s, 42 % of
//! MariaDB's executes needed a fresh prepare, and preparing took a tenth of its CPU (a
//! 200-row insert is parsed whole). Here every multi-row statement has a power-of-two row count
//! (inserts are split into such chunks; id lists are padded by repeating an id, which changes
//! no result), so each statement has at most ten texts and the cache holds them all
//! (docs/performance.md#the-database).

use sqlx::{MySql, QueryBuilder};

/// Largest row count of one statement (a power of two; far below MySQL's 65,535 placeholders
/// for the widest row the store writes).
pub const MAX_ROWS: usize = 512;

/// `rows` in chunks whose lengths are powers of two, largest first, none over [`MAX_ROWS`]:
/// 37 rows are statements of 32, 4 and 1 rows.
pub fn power_of_two_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = prev_power_of_two(rest.len()).min(MAX_ROWS);
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

fn prev_power_of_two(n: usize) -> usize {
    debug_assert!(n > 0);
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// `items` sorted and without repeats: the order a statement lists (and locks) them in.
pub fn sorted_unique<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort_unstable();
    items.dedup();
    items
}

/// How many places an id list of `len` ids takes: the next power of two.
pub fn padded_len(len: usize) -> usize {
    len.next_power_of_two()
}

/// Binds `ids` as the rest of an `IN (` list and closes it, padded to [`padded_len`] places by
/// repeating the last id (a repeated id in an `IN` list selects, locks, updates or deletes
/// nothing more). Callers keep `ids.len()` at most [`MAX_ROWS`] by chunking.
pub fn push_in_list(builder: &mut QueryBuilder<MySql>, ids: &[&str]) {
    let Some(last) = ids.last() else {
        builder.push("NULL)");
        return;
    };
    let mut list = builder.separated(", ");
    for id in ids
        .iter()
        .chain(std::iter::repeat_n(last, padded_len(ids.len()) - ids.len()))
    {
        list.push_bind(id.to_string());
    }
    list.push_unseparated(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_largest_first_and_cover_every_row() {
        for n in 0..=2_100 {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = power_of_two_chunks(&rows).collect();
            let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert!(
                lens.iter().all(|l| l.is_power_of_two() && *l <= MAX_ROWS),
                "{n}: {lens:?}"
            );
            assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{n}: {lens:?}");
            let joined: Vec<usize> = chunks.concat();
            assert_eq!(joined, rows);
        }
    }

    #[test]
    fn a_batch_has_few_statements_and_few_texts() {
        // 37 = 32 + 4 + 1; 1,000 = 512 + 256 + 128 + 64 + 32 + 8.
        let lens = |n: usize| -> Vec<usize> {
            let rows = vec![(); n];
            power_of_two_chunks(&rows).map(<[()]>::len).collect()
        };
        assert_eq!(lens(37), vec![32, 4, 1]);
        assert_eq!(lens(1_000), vec![512, 256, 128, 64, 32, 8]);
        assert_eq!(lens(1_100), vec![512, 512, 64, 8, 4]);
    }

    #[test]
    fn id_lists_are_padded_with_the_last_id() {
        let mut builder = QueryBuilder::<MySql>::new("SELECT 1 WHERE x IN (");
        push_in_list(&mut builder, &["a", "b", "c"]);
        assert_eq!(builder.sql(), "SELECT 1 WHERE x IN (?, ?, ?, ?)");
        let mut empty = QueryBuilder::<MySql>::new("SELECT 1 WHERE x IN (");
        push_in_list(&mut empty, &[]);
        assert_eq!(empty.sql(), "SELECT 1 WHERE x IN (NULL)");
        assert_eq!(
            (1..=9).map(padded_len).collect::<Vec<_>>(),
            vec![1, 2, 4, 4, 8, 8, 8, 8, 16]
        );
    }
}
