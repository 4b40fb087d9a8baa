//! A change to the hub's data that moves money, limits or trust — what a maker asks for, what
//! the approval flow ([`crate::approvals`]) stores and later executes.
//!
//! The flow knows a change only as its [`Action`], its target and its request body; how an action
//! executes is an [`Executor`] that the module owning the action provides and the crate root
//! registers ([`Executors`]). So the approval flow names no module that creates changes, and
//! those modules depend on it, never the other way round.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferroloop_core::ledger_id::AccountId;
use ferroloop_store::MySqlConnection;
use serde_json::Value;

use crate::{ApiError, ApiResult, AppState};

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Every kind of change, named as the approval request stores it (`action`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    /// `POST /participants/{name}/accounts/{id}` with `action: recordFundsIn`.
    RecordFundsIn = "recordFundsIn",
    /// The same route with `action: recordFundsOutPrepareReserve`.
    RecordFundsOutPrepareReserve = "recordFundsOutPrepareReserve",
    /// `PUT …/accounts/{id}/transfers/{transferId}` with `action: recordFundsOutCommit`.
    RecordFundsOutCommit = "recordFundsOutCommit",
    /// The same route with `action: recordFundsOutAbort`.
    RecordFundsOutAbort = "recordFundsOutAbort",
    /// `PUT /participants/{name}/limits`.
    AdjustLimit = "adjustLimit",
    /// `POST /participants/{name}/initialPositionAndLimits`.
    InitialPositionAndLimits = "initialPositionAndLimits",
    /// `POST /participants/{name}/endpoints` (insert or replace).
    SetEndpoint = "setEndpoint",
    /// `PUT /participants/{name}/jwsKey` (registration or rotation).
    SetJwsKey = "setJwsKey",
    /// `DELETE /participants/{name}/jwsKey`.
    RemoveJwsKey = "removeJwsKey",
    /// `PUT /participants/{name}` `{isActive}`.
    ParticipantActivation = "participantActivation",
    /// `PUT /participants/{name}/accounts/{id}` `{isActive}` (a POSITION account).
    AccountActivation = "accountActivation",
    /// `POST /settlementWindows/{id}` `{state: CLOSED}`.
    CloseSettlementWindow = "closeSettlementWindow",
    /// `POST /settlements`.
    CreateSettlement = "createSettlement",
    /// `PUT /settlements/{id}` with account updates.
    UpdateSettlement = "updateSettlement",
    /// `PUT /settlements/{id}` `{state: ABORTED}`.
    AbortSettlement = "abortSettlement",
    /// `PUT /settlements/{sid}/participants/{pid}/accounts/{aid}`.
    UpdateSettlementAccount = "updateSettlementAccount",
    /// `PUT /settlements/{sid}/participants/{pid}`.
    UpdateSettlementParticipant = "updateSettlementParticipant",
}

impl Action {
    /// The action a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

/// A change as the maker asked for it: enough to execute it now or, stored, later.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub action: Action,
    /// The participant the change is about, or for settlement actions the target
    /// (`settlementWindow/{id}`, `settlements`, `settlement/{id}[/participant/{pid}]`).
    pub participant: &'a str,
    pub account_id: Option<AccountId>,
    /// As the request named it; the action's parser validates it when it executes.
    pub transfer_id: Option<&'a str>,
    /// The request body as received; executing parses it again.
    pub body: &'a [u8],
}

impl<'a> Change<'a> {
    /// A change of a participant that names no account or transfer.
    pub fn new(action: Action, participant: &'a str, body: &'a [u8]) -> Self {
        Self {
            action,
            participant,
            account_id: None,
            transfer_id: None,
            body,
        }
    }

    /// The same change, about an account.
    pub fn on_account(self, account_id: AccountId) -> Self {
        Self {
            account_id: Some(account_id),
            ..self
        }
    }

    /// The same change, about a transfer of an account (funds in/out).
    pub fn on_transfer(self, account_id: AccountId, transfer_id: &'a str) -> Self {
        Self {
            transfer_id: Some(transfer_id),
            ..self.on_account(account_id)
        }
    }

    /// The account a stored change of an account-level action names.
    pub fn account(&self) -> ApiResult<AccountId> {
        self.account_id.ok_or_else(|| self.lacks("account"))
    }

    /// The transfer a stored funds-out decision names.
    pub fn transfer(&self) -> ApiResult<&'a str> {
        self.transfer_id.ok_or_else(|| self.lacks("transfer"))
    }

    fn lacks(&self, what: &str) -> ApiError {
        ApiError::internal(format!(
            "approval request {} lacks its {what} id",
            self.action.as_str()
        ))
    }
}

/// What an executed change answers, and what its audit row records.
#[derive(Debug, Clone)]
pub struct Executed {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// False when nothing changed (a resend of a request already applied).
    pub changed: bool,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Executed {
    pub fn response(&self) -> Response {
        match &self.body {
            Some(body) => (self.status, Json(body.clone())).into_response(),
            None => self.status.into_response(),
        }
    }
}

/// What an executor needs beside the transaction.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub app: &'a AppState,
    pub change: &'a Change<'a>,
    /// Who the change is recorded as made by (maker, and checker when approved).
    pub changed_by: &'a str,
}

/// An executor's future.
pub type Executing<'a> = Pin<Box<dyn Future<Output = ApiResult<Executed>> + Send + 'a>>;

/// Executes one action's change in the caller's transaction (or savepoint, for a dry run).
pub type Executor = for<'a> fn(Context<'a>, &'a mut MySqlConnection) -> Executing<'a>;

/// The executor of every action.
#[derive(Debug, Default)]
pub struct Executors {
    by_action: HashMap<Action, Executor>,
}

impl Executors {
    /// Adds the executors a module provides. An action registered twice keeps the later one.
    pub fn register(&mut self, executors: &[(Action, Executor)]) {
        self.by_action.extend(executors.iter().copied());
    }

    /// The actions without an executor (none, once every module registered).
    #[cfg(test)]
    pub fn missing(&self) -> Vec<Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(|a| !self.by_action.contains_key(a))
            .collect()
    }

    /// Executes a change with its action's executor.
    pub async fn execute(
        &self,
        context: Context<'_>,
        conn: &mut MySqlConnection,
    ) -> ApiResult<Executed> {
        let Some(executor) = self.by_action.get(&context.change.action) else {
            return Err(ApiError::internal(format!(
                "no executor for {}",
                context.change.action.as_str()
            )));
        };
        executor(context, conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_parses_back_from_its_stored_name() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(*action));
        }
        assert_eq!(Action::parse("recordfundsin"), None);
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len(), "stored names are unique");
    }
}
