//! The admin change epoch: every admin transaction starts by bumping it
//! ([`begin_admin_change`]), and the handlers' caches ([`crate::cache`]) compare it once per
//! batch and drop what they hold when it moved.

use sqlx::MySqlConnection;

use crate::Result;

/// Starts an admin change: bumps the admin change epoch first, which takes the epoch row's lock
/// until the transaction ends. Admin transactions that start with it therefore run one at a
/// time, so their check-then-write sequences (does the participant, account or limit exist?)
/// cannot race; handlers only read the epoch (without locking), so they never wait on it.
pub async fn begin_admin_change(conn: &mut MySqlConnection) -> Result<()> {
    bump_admin_epoch(conn).await
}

/// The current admin change epoch.
pub async fn admin_epoch(conn: &mut MySqlConnection) -> Result<u64> {
    Ok(
        sqlx::query_scalar!("SELECT epoch FROM admin_change_epoch WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Bumps the admin change epoch; call inside every admin transaction that changes participants,
/// accounts, limits or endpoints.
pub async fn bump_admin_epoch(conn: &mut MySqlConnection) -> Result<()> {
    sqlx::query!("UPDATE admin_change_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}
