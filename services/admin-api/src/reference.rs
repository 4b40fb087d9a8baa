//! Settlement models, ledger account types and enums.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferroloop_core::state::TransferState;
use ferroloop_store::MySqlConnection;
use ferroloop_store::admin;
use ferroloop_store::participants::{accounts, views};
use ferroloop_store::settlement::models::{self, NewSettlementModel, SettlementModelView};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::guard::RequestContext;
use crate::input;
use crate::participants::{
    NET_DEBIT_CAP, POSITION, RESOURCE_NOT_FOUND, SETTLEMENT, check_hub_accounts,
};
use crate::{ApiError, ApiResult, AppState, Body, Params};

const GRANULARITIES: [&str; 2] = ["GROSS", "NET"];
const INTERCHANGES: [&str; 2] = ["BILATERAL", "MULTILATERAL"];
const DELAYS: [&str; 2] = ["DEFERRED", "IMMEDIATE"];
const INTERCHANGE_FEE: &str = "INTERCHANGE_FEE";
const INTERCHANGE_FEE_SETTLEMENT: &str = "INTERCHANGE_FEE_SETTLEMENT";
const SETTLEMENT_ACCOUNT_TYPES: [&str; 2] = [SETTLEMENT, INTERCHANGE_FEE_SETTLEMENT];
/// central-services-shared `ValidSettlementModels`: (delay, granularity, interchange).
const VALID_MODELS: [(&str, &str, &str); 4] = [
    ("IMMEDIATE", "GROSS", "BILATERAL"),
    ("DEFERRED", "GROSS", "BILATERAL"),
    ("DEFERRED", "NET", "BILATERAL"),
    ("DEFERRED", "NET", "MULTILATERAL"),
];
/// central-ledger's ledger account type ids (seed order), for `/enums`.
const LEDGER_ACCOUNT_TYPE_IDS: [(&str, u32); 6] = [
    (POSITION, 1),
    (SETTLEMENT, 2),
    ("HUB_RECONCILIATION", 3),
    ("HUB_MULTILATERAL_SETTLEMENT", 4),
    (INTERCHANGE_FEE, 5),
    (INTERCHANGE_FEE_SETTLEMENT, 6),
];

/// central-ledger's settlement model entity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementModelEntity {
    settlement_model_id: u32,
    name: String,
    is_active: bool,
    settlement_granularity: String,
    settlement_interchange: String,
    settlement_delay: String,
    currency: Option<String>,
    require_liquidity_check: bool,
    /// central-ledger prints the ledger account type's name under this key.
    ledger_account_type_id: String,
    settlement_account_type: String,
    auto_position_reset: bool,
}

impl From<SettlementModelView> for SettlementModelEntity {
    fn from(m: SettlementModelView) -> Self {
        Self {
            settlement_model_id: m.settlement_model_id,
            name: m.name,
            is_active: m.is_active,
            settlement_granularity: m.settlement_granularity,
            settlement_interchange: m.settlement_interchange,
            settlement_delay: m.settlement_delay,
            currency: m.currency,
            require_liquidity_check: m.require_liquidity_check,
            ledger_account_type_id: m.ledger_account_type,
            settlement_account_type: m.settlement_account_type,
            auto_position_reset: m.auto_position_reset,
        }
    }
}

/// `GET /settlementModels`
pub async fn list_settlement_models(
    State(app): State<AppState>,
) -> ApiResult<Json<Vec<SettlementModelEntity>>> {
    let mut tx = app.begin().await?;
    let models = models::settlement_models(&mut tx).await?;
    Ok(Json(models.into_iter().map(Into::into).collect()))
}

/// `GET /settlementModels/{name}`
pub async fn get_settlement_model(
    State(app): State<AppState>,
    Params(name): Params<String>,
) -> ApiResult<Json<SettlementModelEntity>> {
    let mut tx = app.begin().await?;
    let model = models::settlement_model_by_name(&mut tx, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(RESOURCE_NOT_FOUND))?;
    Ok(Json(model.into()))
}

/// `POST /settlementModels` → 201 with the model (central-ledger answers an empty 201; the
/// document promises JSON, and a client that ignores the body loses nothing). A model names POSITION with SETTLEMENT, or central-ledger's
/// INTERCHANGE_FEE with INTERCHANGE_FEE_SETTLEMENT; any other pair is refused.
pub async fn create_settlement_model(
    State(app): State<AppState>,
    ctx: RequestContext,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let model = ModelRequest::parse(&body.object()?)?;
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    check_model(&mut tx, &model).await?;
    if models::settlement_model_by_name(&mut tx, &model.name)
        .await?
        .is_some()
    {
        return Err(ApiError::client("Settlement Model already exists"));
    }
    let created = models::create_settlement_model(&mut tx, &model.as_new(&ctx.created_by())).await;
    match created {
        Ok(_) => {}
        Err(e) if ferroloop_store::is_duplicate_key(&e) => {
            return Err(ApiError::client(
                "A settlement model for this currency and ledger account type already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let created = models::settlement_model_by_name(&mut tx, &model.name)
        .await?
        .map(|m| serde_json::to_value(SettlementModelEntity::from(m)).unwrap_or_default());
    ctx.commit(tx, StatusCode::CREATED, None, created.clone())
        .await?;
    tracing::info!(settlement_model = %model.name, "settlement model created");
    Ok((StatusCode::CREATED, Json(created.unwrap_or_default())))
}

/// A `POST /settlementModels` body, each field checked on its own.
struct ModelRequest {
    name: String,
    granularity: String,
    interchange: String,
    delay: String,
    currency: Option<ferroloop_core::currency::Currency>,
    require_liquidity_check: bool,
    ledger_account_type: String,
    settlement_account_type: String,
    auto_position_reset: bool,
}

impl ModelRequest {
    fn parse(obj: &input::Obj) -> ApiResult<Self> {
        let name = obj.required_string("name")?;
        input::check_name("name", &name)?;
        let one_of = |key: &str, allowed: &[&str]| -> ApiResult<String> {
            obj.one_of(key, key, allowed, true)?
                .ok_or_else(|| input::required(key).into())
        };
        Ok(Self {
            name,
            granularity: one_of("settlementGranularity", &GRANULARITIES)?,
            interchange: one_of("settlementInterchange", &INTERCHANGES)?,
            delay: one_of("settlementDelay", &DELAYS)?,
            currency: obj.currency("currency", false)?,
            require_liquidity_check: obj.required_boolean("requireLiquidityCheck")?,
            ledger_account_type: obj.required_string("ledgerAccountType")?,
            auto_position_reset: obj.required_boolean("autoPositionReset")?,
            settlement_account_type: one_of("settlementAccountType", &SETTLEMENT_ACCOUNT_TYPES)?,
        })
    }

    fn as_new<'a>(&'a self, created_by: &'a str) -> NewSettlementModel<'a> {
        NewSettlementModel {
            name: &self.name,
            settlement_granularity: &self.granularity,
            settlement_interchange: &self.interchange,
            settlement_delay: &self.delay,
            currency: self.currency.as_ref().map(|c| c.as_str()),
            require_liquidity_check: self.require_liquidity_check,
            ledger_account_type: &self.ledger_account_type,
            settlement_account_type: &self.settlement_account_type,
            auto_position_reset: self.auto_position_reset,
            created_by,
        }
    }
}

/// central-ledger's checks of a model, in its order, then whether the hub settles and honours
/// it (docs/settlement.md#settlement-models): only such a model is stored.
async fn check_model(tx: &mut MySqlConnection, model: &ModelRequest) -> ApiResult<()> {
    if let Some(currency) = model.currency {
        check_hub_accounts(tx, currency).await?;
    }
    let combination = (
        model.delay.as_str(),
        model.granularity.as_str(),
        model.interchange.as_str(),
    );
    if !VALID_MODELS.contains(&combination) {
        return Err(ApiError::client(
            "Invalid settlement model definition - delay-granularity-interchange combination is not supported",
        ));
    }
    let known = accounts::ledger_account_types(tx).await?;
    let is_known = |t: &str| known.iter().any(|k| k.is_active && k.name == t);
    if !is_known(&model.ledger_account_type) {
        return Err(ApiError::add_party("Ledger account type was not found"));
    }
    if !is_known(&model.settlement_account_type) {
        return Err(ApiError::add_party("Settlement account type was not found"));
    }
    ferroloop_core::settlement::validate_model(&ferroloop_core::settlement::ModelSpec {
        granularity: &model.granularity,
        interchange: &model.interchange,
        delay: &model.delay,
        ledger_account_type: &model.ledger_account_type,
        settlement_account_type: &model.settlement_account_type,
        require_liquidity_check: model.require_liquidity_check,
        auto_position_reset: model.auto_position_reset,
    })
    .map_err(|refusal| ApiError::client(&refusal.to_string()))
}

/// `PUT /settlementModels/{name}` `{isActive}` → 200 with the model.
pub async fn update_settlement_model(
    State(app): State<AppState>,
    ctx: RequestContext,
    Params(name): Params<String>,
    body: Body,
) -> ApiResult<Json<SettlementModelEntity>> {
    let obj = body.object()?;
    let is_active = obj.required_boolean("isActive")?;
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    let before = models::settlement_model_by_name(&mut tx, &name)
        .await?
        .map(|m| json!({"isActive": m.is_active}));
    if !models::set_settlement_model_active(&mut tx, &name, is_active).await? {
        return Err(ApiError::not_found("Settlement Model does not exist"));
    }
    let model = models::settlement_model_by_name(&mut tx, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("Settlement Model does not exist"))?;
    ctx.commit(
        tx,
        StatusCode::OK,
        before,
        Some(json!({"isActive": model.is_active})),
    )
    .await?;
    tracing::info!(settlement_model = %name, is_active, "settlement model activation changed");
    Ok(Json(model.into()))
}

/// `GET /ledgerAccountTypes`
pub async fn ledger_account_types(State(app): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
    let mut tx = app.begin().await?;
    let types = accounts::ledger_account_types(&mut tx).await?;
    Ok(Json(types.iter().map(ledger_account_type_entity).collect()))
}

fn ledger_account_type_entity(t: &accounts::LedgerAccountType) -> Value {
    json!({
        "name": t.name,
        "description": t.description,
        "isActive": t.is_active,
        "isSettleable": t.is_settleable,
    })
}

/// `POST /ledgerAccountTypes` `{name, description, isActive, isSettleable}` → 201 with the type
/// (JSON, as the document promises; central-ledger's 201 is empty). A type is a
/// name that settlement models and hub accounts may then use; it moves no money, so it needs no
/// checker, and it is audited like every change. A name taken already, in any letter case, is
/// refused (3003).
pub async fn create_ledger_account_type(
    State(app): State<AppState>,
    ctx: RequestContext,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = body.object()?;
    let name = obj.required_string("name")?;
    input::check_word("name", &name)?;
    let description = obj.required_string("description")?;
    input::check_length("description", &description, 256)?;
    let new = accounts::LedgerAccountType {
        name,
        description,
        is_active: obj.required_boolean("isActive")?,
        is_settleable: obj.required_boolean("isSettleable")?,
    };
    let mut tx = app.begin().await?;
    admin::begin_admin_change(&mut tx).await?;
    if !accounts::create_ledger_account_type(&mut tx, &new).await? {
        return Err(ApiError::add_party(
            "This Ledger Account Type already exists",
        ));
    }
    let created = ledger_account_type_entity(&new);
    ctx.commit(tx, StatusCode::CREATED, None, Some(created.clone()))
        .await?;
    tracing::info!(ledger_account_type = %new.name, "ledger account type created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /enums`: the enumerations an operator script may look up (a subset of
/// central-ledger's).
pub async fn enums(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    let mut tx = app.begin().await?;
    let hub = views::hub(&mut tx).await?;
    let ledger_account_type: Map<String, Value> = LEDGER_ACCOUNT_TYPE_IDS
        .iter()
        .map(|(name, id)| ((*name).to_owned(), json!(id)))
        .collect();
    let transfer_state: Map<String, Value> = TransferState::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), json!(s.api_state().as_str())))
        .collect();
    Ok(Json(json!({
        "ledgerAccountType": ledger_account_type,
        "participantLimitType": {(NET_DEBIT_CAP): 1},
        "transferState": transfer_state,
        "hubParticipant": {"participantId": hub.participant_id, "name": hub.name},
    })))
}
