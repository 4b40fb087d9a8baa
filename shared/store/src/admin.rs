//! What the admin API's onboarding starts with, under one name: [`begin_admin_change`] (the admin
//! change epoch, [`crate::epoch`]), and the participant and endpoint writes most tests onboard
//! with — at the paths the API adapter's and the notification handler's tests name them by.

pub use crate::epoch::begin_admin_change;
pub use crate::participants::create_participant;
pub use crate::participants::endpoints::set_endpoint;
