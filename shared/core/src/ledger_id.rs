//! Database identities of the ledger's rows: participants and their accounts.
//!
//! Both are `u32` in storage; as distinct types they cannot be swapped for each other — a payer
//! account where a participant id is meant, or a payee account where the payer's is — without
//! the compiler noticing. With the `sqlx` feature (enabled by the store only) they bind and
//! decode as the plain integer; the domain itself stays free of I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ledger_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub u32);

        impl $name {
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                Self(value)
            }
        }
    };
}

ledger_id!(
    /// A participant (DFSP or the hub): `participant.participant_id`.
    ParticipantId
);
ledger_id!(
    /// One account of a participant (POSITION, SETTLEMENT, hub accounts): `account.account_id`.
    /// Position messages are keyed by it.
    AccountId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_serialise_as_their_number() {
        let account = AccountId(42);
        assert_eq!(account.to_string(), "42");
        assert_eq!(format!("{account:?}"), "AccountId(42)");
        assert_eq!(serde_json::to_string(&account).unwrap(), "42");
        assert_eq!(
            serde_json::from_str::<ParticipantId>("7").unwrap(),
            ParticipantId(7)
        );
        assert_eq!(ParticipantId::from(7).get(), 7);
    }
}
