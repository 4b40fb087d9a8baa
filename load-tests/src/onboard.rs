//! Onboarding through the admin API, in the order a hub operator follows
//! (docs/positions.md#onboarding): hub accounts, a settlement model, then per DFSP the participant,
//! its initial position and net debit cap, its callback endpoints and a funds-in. Any
//! central-ledger-compatible admin API works, so the same tool sizes a Mojaloop deployment too.
//! Against ferroloop with auth on, calls carry `--admin-token`, and every change answered with a
//! pending maker/checker request (opening position and cap, endpoints, funds-in) is approved
//! with `--admin-checker-token`.

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// The settlement model the tool creates when the hub has none by this name.
pub const SETTLEMENT_MODEL: &str = "DEFERREDNET";

/// One DFSP's limits.
#[derive(Debug, Clone, Copy)]
pub struct Funding {
    pub net_debit_cap: Decimal,
    pub funds_in: Decimal,
}

#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    checker_token: Option<String>,
}

impl Admin {
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token: None,
            checker_token: None,
        }
    }

    /// Bearer tokens: the maker's (every call) and the checker's (approvals).
    pub fn with_tokens(mut self, token: Option<String>, checker_token: Option<String>) -> Self {
        self.token = token;
        self.checker_token = checker_token;
        self
    }

    /// Approves a pending maker/checker request with the checker's token.
    async fn approve(&self, approval: &Value) -> Result<()> {
        self.approved(approval).await.map(|_| ())
    }

    /// Approves a pending request and returns the decided request (its `result` is the
    /// executed action's answer).
    async fn approved(&self, approval: &Value) -> Result<Value> {
        let Some(id) = approval["approvalId"].as_str() else {
            return Ok(Value::Null);
        };
        let action = approval["action"].as_str().unwrap_or("a change");
        let Some(checker) = &self.checker_token else {
            bail!("the admin API wants a checker for {action} {id}: give --admin-checker-token");
        };
        let response = self
            .http
            .post(format!("{}/approvals/{id}/approve", self.base))
            .bearer_auth(checker)
            .json(&json!({"reason": "ferroloop-load onboarding"}))
            .send()
            .await
            .with_context(|| format!("approving {id}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK || answer["status"] != "EXECUTED" {
            bail!("approving {action} {id}: {status}: {answer}");
        }
        Ok(answer)
    }

    /// A change whose answer matters: its status and body, or (auth on) those of the approved
    /// request's execution.
    pub async fn change_with_answer(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value)> {
        let (status, answer) = self.call(method, path, Some(body)).await?;
        if status == StatusCode::ACCEPTED && answer["approvalId"].is_string() {
            let decided = self.approved(&answer).await?;
            let code = decided["result"]["httpStatus"].as_u64().unwrap_or(500);
            let code = StatusCode::from_u16(u16::try_from(code).unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok((code, decided["result"]["body"].clone()));
        }
        Ok((status, answer))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("admin API {method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        wanted: StatusCode,
    ) -> Result<Value> {
        let (status, answer) = self.call(method.clone(), path, Some(body)).await?;
        if status != wanted {
            bail!("admin API {method} {path}: expected {wanted}, got {status}: {answer}");
        }
        Ok(answer)
    }

    /// A change answered with `done`, or (auth on) with a pending request that the checker then
    /// approves.
    async fn change(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        done: StatusCode,
    ) -> Result<()> {
        let (status, answer) = self.call(method.clone(), path, Some(body)).await?;
        if status == StatusCode::ACCEPTED && answer["approvalId"].is_string() {
            return self.approve(&answer).await;
        }
        if status != done {
            bail!("admin API {method} {path}: expected {done}, got {status}: {answer}");
        }
        Ok(())
    }

    /// Hub accounts and a settlement model for `currency`, unless they exist already.
    pub async fn prepare_hub(&self, currency: &str) -> Result<()> {
        for kind in ["HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT"] {
            let body = json!({"currency": currency, "type": kind});
            let (status, answer) = self
                .call(
                    reqwest::Method::POST,
                    "/participants/Hub/accounts",
                    Some(&body),
                )
                .await?;
            let exists = answer.to_string().contains("already been registered");
            if status != StatusCode::CREATED && !exists {
                bail!("creating the hub's {kind} account: {status}: {answer}");
            }
        }
        let (status, _) = self
            .call(
                reqwest::Method::GET,
                &format!("/settlementModels/{SETTLEMENT_MODEL}"),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            let body = json!({"name": SETTLEMENT_MODEL, "settlementGranularity": "NET",
                "settlementInterchange": "MULTILATERAL", "settlementDelay": "DEFERRED",
                "requireLiquidityCheck": true, "ledgerAccountType": "POSITION",
                "settlementAccountType": "SETTLEMENT", "autoPositionReset": true});
            self.expect(
                reqwest::Method::POST,
                "/settlementModels",
                &body,
                StatusCode::CREATED,
            )
            .await
            .context("creating the settlement model")?;
        }
        Ok(())
    }

    /// A new DFSP with its limits, endpoints under `callback_base/<name>` and its funds-in.
    pub async fn onboard(
        &self,
        name: &str,
        currency: &str,
        funding: Funding,
        callback_base: &str,
    ) -> Result<()> {
        self.expect(
            reqwest::Method::POST,
            "/participants",
            &json!({"name": name, "currency": currency}),
            StatusCode::CREATED,
        )
        .await?;
        self.change(
            reqwest::Method::POST,
            &format!("/participants/{name}/initialPositionAndLimits"),
            &json!({"currency": currency, "initialPosition": 0,
                "limit": {"type": "NET_DEBIT_CAP", "value": funding.net_debit_cap}}),
            StatusCode::CREATED,
        )
        .await?;
        let base = format!("{}/{name}", callback_base.trim_end_matches('/'));
        for (kind, url) in [
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_POST",
                format!("{base}/transfers"),
            ),
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                format!("{base}/transfers/{{{{transferId}}}}"),
            ),
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                format!("{base}/transfers/{{{{transferId}}}}/error"),
            ),
        ] {
            self.change(
                reqwest::Method::POST,
                &format!("/participants/{name}/endpoints"),
                &json!({"type": kind, "value": url}),
                StatusCode::CREATED,
            )
            .await?;
        }
        if funding.funds_in > Decimal::ZERO {
            let account = self.settlement_account(name, currency).await?;
            let answer = self
                .expect(
                    reqwest::Method::POST,
                    &format!("/participants/{name}/accounts/{account}"),
                    &json!({"transferId": uuid::Uuid::now_v7().to_string(),
                    "externalReference": "ferroloop-load", "action": "recordFundsIn",
                    "reason": "load-test liquidity",
                    "amount": {"amount": funding.funds_in.to_string(), "currency": currency}}),
                    StatusCode::ACCEPTED,
                )
                .await?;
            self.approve(&answer).await?;
        }
        Ok(())
    }

    async fn settlement_account(&self, name: &str, currency: &str) -> Result<u64> {
        let (status, accounts) = self
            .call(
                reqwest::Method::GET,
                &format!("/participants/{name}/accounts"),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("accounts of {name}: {status}: {accounts}");
        }
        accounts
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|a| a["ledgerAccountType"] == "SETTLEMENT" && a["currency"] == currency)
            })
            .and_then(|a| a["id"].as_u64())
            .with_context(|| format!("{name} has no {currency} settlement account"))
    }

    /// The DFSP's POSITION value in `currency`.
    pub async fn position(&self, name: &str, currency: &str) -> Result<Decimal> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/participants/{name}/positions?currency={currency}"),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("position of {name}: {status}: {body}");
        }
        let value = if body.is_array() {
            &body[0]["value"]
        } else {
            &body["value"]
        };
        let text = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        text.parse()
            .with_context(|| format!("position of {name} is not a decimal: {value}"))
    }
}
