//! Operator authentication and authorisation.
//!
//! With `ADMIN_AUTH=on` (the default) every admin route but central-ledger's `/health` needs an
//! OAuth2 access token, a JWT in `Authorization: Bearer …`, signed by the configured issuer
//! (RS256, PS256 or ES256, public keys in PEM files that are re-read when they change), for the
//! configured audience, within its `exp`/`nbf` (with a leeway for clock skew), with a `sub`.
//! The operator's roles come from a claim (default `roles`, an array or a space-separated
//! string; a dotted path such as `realm_access.roles` reaches into objects) and from the
//! space-separated `scope` claim. Roles map to [`Privilege`]s ([`RoleMap`]; defaults below, or
//! a JSON file), and each route needs one privilege. No token or a bad one: 401; a valid token
//! without the privilege: 403.
//!
//! `ADMIN_AUTH=off` is central-ledger's unauthenticated API, for onboarding scripts and testing
//! toolkits: every request acts as the configured actor with every privilege, and changes to
//! money, limits and trust execute directly, without maker/checker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Whether the admin API requires tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Tokens required; changes to money, limits and trust need a maker and a different checker.
    On,
    /// central-ledger's unauthenticated admin API (a warning is logged at start).
    Off,
}

/// Token signature algorithms the admin API accepts (never HMAC: the hub holds no secrets of
/// the issuer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "PS256")]
    Ps256,
    #[value(name = "ES256")]
    Es256,
}

impl TokenAlgorithm {
    pub fn jwt(self) -> Algorithm {
        match self {
            TokenAlgorithm::Rs256 => Algorithm::RS256,
            TokenAlgorithm::Ps256 => Algorithm::PS256,
            TokenAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

/// Operator authentication settings (`admin-api --help`).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// `on`: every route but /health needs a bearer token from the configured issuer, and every
    /// change to money, limits or trust (funds, limits, opening positions, endpoints, JWS keys,
    /// activation) goes through maker/checker. `off`: central-ledger's
    /// unauthenticated admin API (onboarding scripts, testing toolkits); logged as a warning.
    #[arg(long = "auth", env = "ADMIN_AUTH", value_enum, default_value_t = AuthMode::On)]
    pub mode: AuthMode,
    /// Required `iss` of tokens (on).
    #[arg(long = "auth-issuer", env = "ADMIN_AUTH_ISSUER")]
    pub issuer: Option<String>,
    /// Required `aud` of tokens (on).
    #[arg(long = "auth-audience", env = "ADMIN_AUTH_AUDIENCE")]
    pub audience: Option<String>,
    /// The issuer's public keys, PEM files (RSA or P-256), comma-separated. A token whose header
    /// has a `kid` is checked against the file with that stem (`issuer.pub` → `issuer`) when
    /// there is one, else against every key of its algorithm's family.
    #[arg(
        long = "auth-key-files",
        env = "ADMIN_AUTH_KEY_FILES",
        value_delimiter = ','
    )]
    pub key_files: Vec<PathBuf>,
    /// A directory of issuer public keys: every `*.pem` in it (kid = file stem), listed again at
    /// every reload, so keys can be added and removed (a mounted Kubernetes Secret).
    #[arg(long = "auth-keys-directory", env = "ADMIN_AUTH_KEYS_DIRECTORY")]
    pub keys_directory: Option<PathBuf>,
    /// How often the key files are checked for changes; changed keys apply to the next request
    /// (a file that no longer parses keeps the previous keys and is logged).
    #[arg(
        long = "auth-keys-reload-interval-ms",
        env = "ADMIN_AUTH_KEYS_RELOAD_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub keys_reload_interval_ms: u64,
    /// Accepted signature algorithms, comma-separated.
    #[arg(
        long = "auth-algorithms",
        env = "ADMIN_AUTH_ALGORITHMS",
        value_enum,
        value_delimiter = ',',
        default_value = "RS256,PS256,ES256"
    )]
    pub algorithms: Vec<TokenAlgorithm>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(
        long = "auth-leeway-seconds",
        env = "ADMIN_AUTH_LEEWAY_SECONDS",
        default_value_t = 30
    )]
    pub leeway_seconds: u64,
    /// Claim holding the operator's roles (array or space-separated string; dots reach into
    /// objects, e.g. `realm_access.roles`). Roles in the space-separated `scope` claim count too.
    #[arg(
        long = "auth-roles-claim",
        env = "ADMIN_AUTH_ROLES_CLAIM",
        default_value = "roles"
    )]
    pub roles_claim: String,
    /// JSON file mapping each role to its privileges, replacing the defaults, e.g.
    /// `{"operator": ["read", "participants:write"], "auditor": ["read", "audit:read"]}`.
    #[arg(
        long = "auth-roles-file",
        env = "ADMIN_AUTH_ROLES_FILE",
        conflicts_with = "roles"
    )]
    pub roles_file: Option<PathBuf>,
    /// The same map as ADMIN_AUTH_ROLES_FILE, inline JSON.
    #[arg(long = "auth-roles", env = "ADMIN_AUTH_ROLES")]
    pub roles: Option<String>,
    /// Longest bearer token accepted, in bytes (longer: 401).
    #[arg(
        long = "auth-max-token-bytes",
        env = "ADMIN_AUTH_MAX_TOKEN_BYTES",
        default_value_t = 8 * 1024
    )]
    pub max_token_bytes: usize,
    /// Who the audit log names as the actor when auth is off.
    #[arg(
        long = "auth-off-actor",
        env = "ADMIN_AUTH_OFF_ACTOR",
        default_value = "anonymous"
    )]
    pub off_actor: String,
}

impl AuthArgs {
    /// Auth off, as central-ledger (tests and tools).
    pub fn off() -> Self {
        Self {
            mode: AuthMode::Off,
            issuer: None,
            audience: None,
            key_files: Vec::new(),
            keys_directory: None,
            keys_reload_interval_ms: 10_000,
            algorithms: vec![
                TokenAlgorithm::Rs256,
                TokenAlgorithm::Ps256,
                TokenAlgorithm::Es256,
            ],
            leeway_seconds: 30,
            roles_claim: "roles".into(),
            roles_file: None,
            roles: None,
            max_token_bytes: 8 * 1024,
            off_actor: "anonymous".into(),
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Privilege {
    /// Every GET of participants, accounts, limits, positions, endpoints, settlement models.
    Read,
    /// Create and (de)activate participants and accounts; initial position and limits; JWS
    /// keys (with auth on, activation, the opening position and keys are asked as a maker).
    ParticipantsWrite,
    /// Ask for a callback endpoint change (maker).
    EndpointsWrite,
    HubAccountsWrite,
    SettlementModelsWrite,
    /// Ask for a net debit cap change (maker).
    LimitsRequest,
    /// Ask for funds in/out (maker).
    FundsRequest,
    /// Ask to close a settlement window, create a settlement or change a settlement's or an
    /// account's state (maker).
    SettlementsRequest,
    ApprovalsRead,
    /// Approve or reject someone else's request (checker).
    ApprovalsDecide,
    AuditRead,
}

impl Privilege {
    pub const ALL: [Privilege; 11] = [
        Privilege::Read,
        Privilege::ParticipantsWrite,
        Privilege::EndpointsWrite,
        Privilege::HubAccountsWrite,
        Privilege::SettlementModelsWrite,
        Privilege::LimitsRequest,
        Privilege::FundsRequest,
        Privilege::SettlementsRequest,
        Privilege::ApprovalsRead,
        Privilege::ApprovalsDecide,
        Privilege::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Read => "read",
            Privilege::ParticipantsWrite => "participants:write",
            Privilege::EndpointsWrite => "endpoints:write",
            Privilege::HubAccountsWrite => "hub-accounts:write",
            Privilege::SettlementModelsWrite => "settlement-models:write",
            Privilege::LimitsRequest => "limits:request",
            Privilege::FundsRequest => "funds:request",
            Privilege::SettlementsRequest => "settlements:request",
            Privilege::ApprovalsRead => "approvals:read",
            Privilege::ApprovalsDecide => "approvals:decide",
            Privilege::AuditRead => "audit:read",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Role → privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap(BTreeMap<String, BTreeSet<Privilege>>);

impl Default for RoleMap {
    /// operator onboards (asking for the onboarding changes that need a checker);
    /// finance-maker asks for money and limit changes; finance-checker decides every request;
    /// auditor reads everything and the audit log.
    fn default() -> Self {
        use Privilege::*;
        let roles: [(&str, &[Privilege]); 4] = [
            (
                "operator",
                &[
                    Read,
                    ParticipantsWrite,
                    EndpointsWrite,
                    HubAccountsWrite,
                    SettlementModelsWrite,
                    LimitsRequest,
                    ApprovalsRead,
                ],
            ),
            (
                "finance-maker",
                &[
                    Read,
                    FundsRequest,
                    LimitsRequest,
                    SettlementsRequest,
                    ApprovalsRead,
                ],
            ),
            ("finance-checker", &[Read, ApprovalsRead, ApprovalsDecide]),
            ("auditor", &[Read, ApprovalsRead, AuditRead]),
        ];
        Self(
            roles
                .into_iter()
                .map(|(role, privileges)| (role.to_owned(), privileges.iter().copied().collect()))
                .collect(),
        )
    }
}

impl RoleMap {
    /// A mapping from JSON `{"role": ["privilege", …], …}`; unknown privileges are refused.
    pub fn from_json(text: &str) -> Result<Self, AuthConfigError> {
        let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(text)
            .map_err(|e| AuthConfigError::Roles(format!("not a role → privileges map: {e}")))?;
        raw.into_iter()
            .map(|(role, privileges)| {
                let privileges = privileges
                    .iter()
                    .map(|p| {
                        Privilege::parse(p).ok_or_else(|| {
                            AuthConfigError::Roles(format!(
                                "role {role}: unknown privilege {p} (known: {})",
                                Privilege::ALL.map(Privilege::as_str).join(", ")
                            ))
                        })
                    })
                    .collect::<Result<BTreeSet<_>, _>>()?;
                Ok((role, privileges))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The privileges of these roles together.
    pub fn privileges(&self, roles: &[String]) -> BTreeSet<Privilege> {
        roles
            .iter()
            .filter_map(|r| self.0.get(r))
            .flatten()
            .copied()
            .collect()
    }

    /// (role, privileges) pairs, for documentation and logs.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &BTreeSet<Privilege>)> {
        self.0.iter().map(|(r, p)| (r.as_str(), p))
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`, or the configured actor when auth is off.
    pub subject: String,
    /// The token's roles the role map knows, sorted.
    pub roles: Vec<String>,
    pub privileges: BTreeSet<Privilege>,
    /// False when auth is off.
    pub authenticated: bool,
}

impl Identity {
    pub fn may(&self, privilege: Privilege) -> bool {
        self.privileges.contains(&privilege)
    }
}

/// Why a request is not authenticated (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token is not acceptable: {0}")]
    Invalid(String),
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("ADMIN_AUTH=on needs {0}")]
    Missing(&'static str),
    #[error("key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("roles: {0}")]
    Roles(String),
}

/// One issuer public key.
struct VerificationKey {
    /// The file's stem, matched against a token's `kid`.
    kid: String,
    key: DecodingKey,
}

/// The loaded keys and the files they came from (to notice changes).
struct KeySet {
    keys: Vec<VerificationKey>,
    paths: Vec<PathBuf>,
    contents: Vec<Vec<u8>>,
}

/// The configured key files, then the directory's `*.pem` files in name order (hidden entries,
/// such as a mounted Secret's `..data`, skipped).
fn key_paths(files: &[PathBuf], directory: Option<&Path>) -> Result<Vec<PathBuf>, AuthConfigError> {
    let mut paths = files.to_vec();
    if let Some(dir) = directory {
        let entries = std::fs::read_dir(dir).map_err(|e| AuthConfigError::Key {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "pem")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        found.sort();
        paths.extend(found);
    }
    Ok(paths)
}

/// Verifies tokens and maps them to identities.
pub struct Authenticator {
    mode: AuthMode,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway_seconds: u64,
    roles_claim: String,
    roles: RoleMap,
    max_token_bytes: usize,
    off_actor: String,
    key_files: Vec<PathBuf>,
    keys_directory: Option<PathBuf>,
    reload_interval: Duration,
    keys: RwLock<KeySet>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("key_files", &self.key_files)
            .finish_non_exhaustive()
    }
}

fn read_key_files(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, AuthConfigError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|e| AuthConfigError::Key {
                path: path.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

fn parse_keys(
    paths: &[PathBuf],
    contents: &[Vec<u8>],
) -> Result<Vec<VerificationKey>, AuthConfigError> {
    paths
        .iter()
        .zip(contents)
        .map(|(path, pem)| {
            let key = DecodingKey::from_rsa_pem(pem)
                .or_else(|_| DecodingKey::from_ec_pem(pem))
                .map_err(|e| AuthConfigError::Key {
                    path: path.clone(),
                    reason: format!("not an RSA or EC public key in PEM: {e}"),
                })?;
            let kid = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(VerificationKey { kid, key })
        })
        .collect()
}

/// The roles in `claims`: the configured claim (dotted path; array or space-separated string)
/// and `scope`.
fn claimed_roles(claims: &Value, roles_claim: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    let mut add = |value: Option<&Value>| match value {
        Some(Value::String(s)) => found.extend(s.split_whitespace().map(str::to_owned)),
        Some(Value::Array(items)) => {
            found.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        _ => {}
    };
    let mut node = Some(claims);
    for part in roles_claim.split('.') {
        node = node.and_then(|n| n.get(part));
    }
    add(node);
    add(claims.get("scope"));
    found.into_iter().collect()
}

/// Longest subject kept (the audit log's and `created_by` columns).
const MAX_SUBJECT_CHARS: usize = 128;

impl Authenticator {
    /// Checks the settings and loads the keys (auth on).
    pub fn new(args: &AuthArgs) -> Result<Self, AuthConfigError> {
        let roles = match &args.roles_file {
            Some(path) => RoleMap::from_json(
                &std::fs::read_to_string(path)
                    .map_err(|e| AuthConfigError::Roles(format!("{}: {e}", path.display())))?,
            )?,
            None => RoleMap::default(),
        };
        let (issuer, audience, keys) = match args.mode {
            AuthMode::Off => (
                String::new(),
                String::new(),
                KeySet {
                    keys: Vec::new(),
                    paths: Vec::new(),
                    contents: Vec::new(),
                },
            ),
            AuthMode::On => {
                let issuer = args
                    .issuer
                    .clone()
                    .ok_or(AuthConfigError::Missing("ADMIN_AUTH_ISSUER"))?;
                let audience = args
                    .audience
                    .clone()
                    .ok_or(AuthConfigError::Missing("ADMIN_AUTH_AUDIENCE"))?;
                if args.key_files.is_empty() && args.keys_directory.is_none() {
                    return Err(AuthConfigError::Missing(
                        "ADMIN_AUTH_KEY_FILES or ADMIN_AUTH_KEYS_DIRECTORY",
                    ));
                }
                if args.algorithms.is_empty() {
                    return Err(AuthConfigError::Missing("ADMIN_AUTH_ALGORITHMS"));
                }
                let paths = key_paths(&args.key_files, args.keys_directory.as_deref())?;
                if paths.is_empty() {
                    return Err(AuthConfigError::Missing("at least one issuer key (*.pem)"));
                }
                let contents = read_key_files(&paths)?;
                let keys = parse_keys(&paths, &contents)?;
                (
                    issuer,
                    audience,
                    KeySet {
                        keys,
                        paths,
                        contents,
                    },
                )
            }
        };
        Ok(Self {
            mode: args.mode,
            issuer,
            audience,
            algorithms: args.algorithms.iter().map(|a| a.jwt()).collect(),
            leeway_seconds: args.leeway_seconds,
            roles_claim: args.roles_claim.clone(),
            roles,
            max_token_bytes: args.max_token_bytes,
            off_actor: args.off_actor.chars().take(MAX_SUBJECT_CHARS).collect(),
            key_files: args.key_files.clone(),
            keys_directory: args.keys_directory.clone(),
            reload_interval: Duration::from_millis(args.keys_reload_interval_ms.max(1)),
            keys: RwLock::new(keys),
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn roles(&self) -> &RoleMap {
        &self.roles
    }

    /// The identity of a request (auth off: the configured actor with every privilege).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        if self.mode == AuthMode::Off {
            return Ok(Identity {
                subject: self.off_actor.clone(),
                roles: Vec::new(),
                privileges: Privilege::ALL.into_iter().collect(),
                authenticated: false,
            });
        }
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        if header.len() > self.max_token_bytes {
            return Err(AuthError::Invalid("token too long".into()));
        }
        let header = header
            .to_str()
            .map_err(|_| AuthError::Invalid("Authorization is not text".into()))?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(AuthError::Missing),
        };
        self.verify(token)
    }

    /// Verifies a token and maps its roles.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_seconds;
        let keys = self
            .keys
            .read()
            .map_err(|_| AuthError::Invalid("key store unavailable".into()))?;
        // A `kid` naming a loaded key selects it; otherwise every key of the family is tried.
        let named: Vec<&VerificationKey> = match &header.kid {
            Some(kid) if keys.keys.iter().any(|k| &k.kid == kid) => {
                keys.keys.iter().filter(|k| &k.kid == kid).collect()
            }
            _ => keys.keys.iter().collect(),
        };
        let family = header.alg.family();
        let mut last = AuthError::Invalid("no key of the issuer matches the token".into());
        for key in named.into_iter().filter(|k| k.key.family() == family) {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return self.identity(&data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                    last = AuthError::Invalid("bad signature".into());
                }
                Err(e) => return Err(AuthError::Invalid(e.to_string())),
            }
        }
        Err(last)
    }

    fn identity(&self, claims: &Value) -> Result<Identity, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::Invalid("no sub".into()))?;
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(AuthError::Invalid("sub too long".into()));
        }
        let roles: Vec<String> = claimed_roles(claims, &self.roles_claim)
            .into_iter()
            .filter(|r| self.roles.0.contains_key(r))
            .collect();
        Ok(Identity {
            subject: subject.to_owned(),
            privileges: self.roles.privileges(&roles),
            roles,
            authenticated: true,
        })
    }

    /// Re-reads the key files every reload interval until `shutdown`, swapping the keys in when
    /// a file changed and still parses.
    pub fn spawn_key_reloader(self: &Arc<Self>, shutdown: CancellationToken) {
        if self.mode == AuthMode::Off {
            return;
        }
        let auth = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(auth.reload_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = ticks.tick() => { auth.reload_keys(); }
                }
            }
        });
    }

    /// One reload check; true when the keys changed.
    pub fn reload_keys(&self) -> bool {
        let contents = match key_paths(&self.key_files, self.keys_directory.as_deref())
            .and_then(|paths| read_key_files(&paths).map(|c| (paths, c)))
        {
            Ok(contents) => contents,
            Err(error) => {
                tracing::error!(%error, "issuer keys not reloaded; keeping the previous ones");
                metrics::counter!("ferroloop_admin_auth_key_reload_failures_total").increment(1);
                return false;
            }
        };
        let (paths, contents) = contents;
        if self
            .keys
            .read()
            .is_ok_and(|k| k.contents == contents && k.paths == paths)
        {
            return false;
        }
        match parse_keys(&paths, &contents) {
            Ok(keys) => {
                let files = paths.len();
                if let Ok(mut set) = self.keys.write() {
                    *set = KeySet {
                        keys,
                        paths,
                        contents,
                    };
                }
                tracing::info!(files, "issuer keys reloaded");
                true
            }
            Err(error) => {
                tracing::error!(%error, "issuer keys not reloaded; keeping the previous ones");
                metrics::counter!("ferroloop_admin_auth_key_reload_failures_total").increment(1);
                false
            }
        }
    }
}

/// What `admin-api token` signs.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub signing_key_pem: &'a [u8],
    pub algorithm: TokenAlgorithm,
    pub key_id: Option<&'a str>,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub subject: &'a str,
    pub roles: &'a [String],
    pub issued_at: u64,
    pub ttl_seconds: u64,
}

/// Signs an access token (the local demo issuer; tests).
pub fn mint(request: &TokenRequest<'_>) -> Result<String, jsonwebtoken::errors::Error> {
    let key = match request.algorithm {
        TokenAlgorithm::Es256 => EncodingKey::from_ec_pem(request.signing_key_pem)?,
        TokenAlgorithm::Rs256 | TokenAlgorithm::Ps256 => {
            EncodingKey::from_rsa_pem(request.signing_key_pem)?
        }
    };
    let mut header = Header::new(request.algorithm.jwt());
    header.kid = request.key_id.map(str::to_owned);
    let claims = serde_json::json!({
        "iss": request.issuer,
        "aud": request.audience,
        "sub": request.subject,
        "iat": request.issued_at,
        "nbf": request.issued_at,
        "exp": request.issued_at + request.ttl_seconds,
        "jti": uuid::Uuid::now_v7().to_string(),
        "roles": request.roles,
    });
    jsonwebtoken::encode(&header, &claims, &key)
}

/// A new P-256 key pair for a local issuer: (PKCS#8 private key PEM, SPKI public key PEM).
pub fn generate_issuer_key() -> Result<(String, String), String> {
    use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
    let secret = p256::SecretKey::random(&mut rsa::rand_core::OsRng);
    let private = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((private.to_string(), public))
}

/// Writes a new issuer key pair as `<dir>/<name>.key` (mode 0600) and `<dir>/<name>.pub`, unless
/// both exist already. Returns the public key's path.
pub fn write_issuer_key(dir: &Path, name: &str) -> Result<(PathBuf, bool), String> {
    let private_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    let created = write_key_pair(&private_path, &public_path, generate_issuer_key)?;
    Ok((public_path, created))
}

/// Writes `generate()`'s (private, public) PEM pair to the two paths — the private key created
/// with mode 0600 — unless both files exist already (then nothing is generated: the pair stays
/// the same across runs). Returns whether a pair was written.
pub fn write_key_pair(
    private_path: &Path,
    public_path: &Path,
    generate: impl FnOnce() -> Result<(String, String), String>,
) -> Result<bool, String> {
    if private_path.exists() && public_path.exists() {
        return Ok(false);
    }
    for path in [private_path, public_path] {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    let (private, public) = generate()?;
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(private_path)
            .map_err(|e| format!("{}: {e}", private_path.display()))?;
        file.write_all(private.as_bytes())
            .map_err(|e| format!("{}: {e}", private_path.display()))?;
    }
    std::fs::write(public_path, public).map_err(|e| format!("{}: {e}", public_path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_the_claim_and_scope() {
        let claims = serde_json::json!({"roles": ["operator", "x"], "scope": "openid auditor"});
        assert_eq!(
            claimed_roles(&claims, "roles"),
            ["auditor", "openid", "operator", "x"]
        );
        let nested =
            serde_json::json!({"realm_access": {"roles": "finance-maker finance-checker"}});
        assert_eq!(
            claimed_roles(&nested, "realm_access.roles"),
            ["finance-checker", "finance-maker"]
        );
    }

    #[test]
    fn the_role_map_is_configurable_and_strict() {
        let map = RoleMap::from_json(r#"{"ops": ["read", "audit:read"]}"#).unwrap();
        assert_eq!(
            map.privileges(&["ops".into(), "operator".into()]),
            [Privilege::Read, Privilege::AuditRead]
                .into_iter()
                .collect()
        );
        assert!(RoleMap::from_json(r#"{"ops": ["everything"]}"#).is_err());
        let defaults = RoleMap::default();
        assert!(
            defaults
                .privileges(&["finance-checker".into()])
                .contains(&Privilege::ApprovalsDecide)
        );
        assert!(
            !defaults
                .privileges(&["finance-maker".into()])
                .contains(&Privilege::ApprovalsDecide)
        );
        assert!(
            !defaults
                .privileges(&["operator".into()])
                .contains(&Privilege::FundsRequest)
        );
    }

    #[test]
    fn auth_on_needs_issuer_audience_and_keys() {
        let mut args = AuthArgs::off();
        args.mode = AuthMode::On;
        assert!(matches!(
            Authenticator::new(&args),
            Err(AuthConfigError::Missing("ADMIN_AUTH_ISSUER"))
        ));
        args.issuer = Some("i".into());
        args.audience = Some("a".into());
        assert!(matches!(
            Authenticator::new(&args),
            Err(AuthConfigError::Missing(
                "ADMIN_AUTH_KEY_FILES or ADMIN_AUTH_KEYS_DIRECTORY"
            ))
        ));
    }
}
