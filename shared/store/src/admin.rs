//! What the admin API's changes start with, under the name its callers use:
//! [`begin_admin_change`] (the admin change epoch, [`crate::epoch`]). Participants and their
//! endpoints are created and set through [`crate::participants`], by [`ParticipantId`]
//! (`ferroloop_core::ledger_id`) like every other store call.
//!
//! [`ParticipantId`]: ferroloop_core::ledger_id::ParticipantId

pub use crate::epoch::begin_admin_change;
