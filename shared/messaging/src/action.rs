//! `metadata.event.action`: Mojaloop's names ([`names`]) and the [`Action`] an envelope carries,
//! parsed once when the envelope is decoded, so handlers match on variants instead of comparing
//! text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The action names of the transfer flow (docs/fspiop-api.md#event-types-and-actions).
pub mod names {
    pub const PREPARE: &str = "prepare";
    pub const PREPARE_DUPLICATE: &str = "prepare-duplicate";
    pub const COMMIT: &str = "commit";
    pub const RESERVE: &str = "reserve";
    pub const REJECT: &str = "reject";
    pub const ABORT: &str = "abort";
    pub const ABORT_VALIDATION: &str = "abort-validation";
    pub const FULFIL_DUPLICATE: &str = "fulfil-duplicate";
    pub const ABORT_DUPLICATE: &str = "abort-duplicate";
    pub const RESERVED_ABORTED: &str = "reserved-aborted";
    pub const TIMEOUT_RECEIVED: &str = "timeout-received";
    pub const TIMEOUT_RESERVED: &str = "timeout-reserved";
    pub const GET: &str = "get";
    pub const POSITION: &str = "position";
}

macro_rules! actions {
    ($($variant:ident = $name:ident,)*) => {
        /// An envelope's action. Anything outside Mojaloop's vocabulary is kept as received
        /// ([`Action::Other`]), so a handler refusing it can name it, and it serialises back
        /// unchanged.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum Action {
            $($variant,)*
            Other(String),
        }

        impl Action {
            /// Every action of the vocabulary (not [`Action::Other`]).
            pub const KNOWN: &'static [Action] = &[$(Action::$variant,)*];

            /// The name on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Action::$variant => names::$name,)*
                    Action::Other(name) => name,
                }
            }
        }

        impl From<&str> for Action {
            fn from(name: &str) -> Self {
                match name {
                    $(names::$name => Action::$variant,)*
                    other => Action::Other(other.to_owned()),
                }
            }
        }
    };
}

actions! {
    Prepare = PREPARE,
    PrepareDuplicate = PREPARE_DUPLICATE,
    Commit = COMMIT,
    Reserve = RESERVE,
    Reject = REJECT,
    Abort = ABORT,
    AbortValidation = ABORT_VALIDATION,
    FulfilDuplicate = FULFIL_DUPLICATE,
    AbortDuplicate = ABORT_DUPLICATE,
    ReservedAborted = RESERVED_ABORTED,
    TimeoutReceived = TIMEOUT_RECEIVED,
    TimeoutReserved = TIMEOUT_RESERVED,
    Get = GET,
    Position = POSITION,
}

impl From<String> for Action {
    fn from(name: String) -> Self {
        match Action::from(name.as_str()) {
            // Keep the allocation already made.
            Action::Other(_) => Action::Other(name),
            known => known,
        }
    }
}

impl From<Action> for String {
    fn from(action: Action) -> Self {
        match action {
            Action::Other(name) => name,
            known => known.as_str().to_owned(),
        }
    }
}

impl PartialEq<str> for Action {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Action {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_action_round_trips_through_its_name() {
        for action in Action::KNOWN {
            assert_eq!(&Action::from(action.as_str()), action);
            let json = serde_json::to_string(action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert_eq!(&serde_json::from_str::<Action>(&json).unwrap(), action);
        }
    }

    #[test]
    fn an_unknown_action_is_kept_as_received() {
        let odd: Action = serde_json::from_str("\"bogus-action\"").unwrap();
        assert_eq!(odd, Action::Other("bogus-action".into()));
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"bogus-action\"");
        assert_eq!(Action::from("Prepare"), Action::Other("Prepare".into()));
        assert_eq!(Action::from(String::from("commit")), Action::Commit);
    }
}
