//! What the admin API's onboarding starts with, under one name: [`begin_admin_change`] (the admin
//! change epoch, [`crate::epoch`]), and the participant and endpoint writes most tests onboard
//! with — at the paths the API adapter's and the notification handler's tests name them by.
//!
//! The two writes here take and give the participant id as its plain number: they are the
//! boundary of the notification handler's tests, which keep `u32` ids (that crate is converted
//! separately). Everything else names [`ParticipantId`] — [`crate::participants`] has the typed
//! forms of both.

pub use crate::epoch::begin_admin_change;

use ferroloop_core::ledger_id::ParticipantId;
use sqlx::MySqlConnection;

use crate::Result;
use crate::participants;

/// [`participants::create_participant`], its id as a plain number.
pub async fn create_participant(
    conn: &mut MySqlConnection,
    name: &str,
    created_by: &str,
) -> Result<u32> {
    participants::create_participant(conn, name, created_by)
        .await
        .map(ParticipantId::get)
}

/// [`participants::endpoints::set_endpoint`] for a participant id given as a plain number.
pub async fn set_endpoint(
    conn: &mut MySqlConnection,
    participant_id: u32,
    endpoint_type: &str,
    value: &str,
    changed_by: &str,
) -> Result<()> {
    participants::endpoints::set_endpoint(
        conn,
        ParticipantId(participant_id),
        endpoint_type,
        value,
        changed_by,
    )
    .await
}
