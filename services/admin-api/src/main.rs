//! `admin-api`: serves the admin API (no subcommand), or one of the operator tools below.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use ferroloop_admin_api::auth::{self, TokenAlgorithm, TokenRequest};
use ferroloop_store::DatabaseArgs;
use ferroloop_store::audit::Verification;

/// The operator tools; `admin-api` without one of these names serves (its flags are
/// `ferroloop_admin_api::Config`'s), so deployments run it unchanged.
#[derive(Debug, clap::Parser)]
#[command(name = "admin-api", version, about = "ferroloop admin API tools")]
struct Tools {
    #[command(subcommand)]
    command: Command,
}

const TOOLS: [&str; 4] = ["verify-audit", "token", "issuer-keygen", "hub-jws-keygen"];

fn is_tool(args: &[std::ffi::OsString]) -> bool {
    args.get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| TOOLS.contains(&a))
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Walk the audit chain and name the first altered, inserted or deleted row (exit status 1
    /// when the chain is broken).
    VerifyAudit {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Rows per query.
        #[arg(long, default_value_t = 1_000)]
        page_size: u32,
        /// Also require row SEQ to have hash HASH (a head recorded earlier, e.g. from the
        /// `audit appended` log lines), as `SEQ:HASH`.
        #[arg(long, value_name = "SEQ:HASH")]
        expect: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign an operator access token with an issuer's private key (the local demo issuer).
    Token {
        /// PEM private key (PKCS#8 for ES256; PKCS#1 or PKCS#8 for RS256/PS256).
        #[arg(long)]
        signing_key: PathBuf,
        #[arg(long, value_enum, default_value_t = TokenAlgorithm::Es256)]
        algorithm: TokenAlgorithm,
        /// `kid` header: the stem of the public key file the API loads.
        #[arg(long)]
        key_id: Option<String>,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
        /// The operator (`sub`).
        #[arg(long)]
        subject: String,
        /// Roles, comma-separated (operator, finance-maker, finance-checker, auditor).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3_600)]
        ttl_seconds: u64,
    },
    /// Create a local issuer key pair (P-256): <dir>/<name>.key (0600) and <dir>/<name>.pub,
    /// unless both exist. Prints the public key's path.
    IssuerKeygen {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "issuer")]
        name: String,
    },
    /// Create the hub's callback signing key pair (RSA, for RS256): <dir>/signing-key.pem (0600,
    /// the notification handler's JWS_SIGNING_KEY_PATH) and <dir>/<hub-name>.pem (the public key:
    /// HUB_JWS_PUBLIC_KEY_PATH of this API, and the file DFSPs put in their key directory),
    /// unless both exist. Prints the public key's path.
    HubJwsKeygen {
        #[arg(long)]
        dir: PathBuf,
        /// The hub's participant name (`FSPIOP-Source` of its callbacks).
        #[arg(long, env = "HUB_NAME", default_value = "Hub")]
        hub_name: String,
        /// RSA modulus size (at least 2048).
        #[arg(long, default_value_t = ferroloop_fspiop::jws::MIN_RSA_BITS)]
        bits: usize,
    },
}

/// `hub-jws-keygen`: the pair for local stacks (`scripts/services.sh`); production keys come from
/// the operator's own key management.
fn hub_jws_keygen(dir: &std::path::Path, hub_name: &str, bits: usize) -> anyhow::Result<ExitCode> {
    if hub_name.is_empty() || hub_name.contains(['/', '\\']) || hub_name.starts_with('.') {
        bail!("--hub-name must be a plain file stem");
    }
    let public = dir.join(format!("{hub_name}.pem"));
    let created = auth::write_key_pair(&dir.join("signing-key.pem"), &public, || {
        ferroloop_fspiop::jws::SigningKey::generate_rsa_pem(bits).map_err(|e| e.to_string())
    })
    .map_err(anyhow::Error::msg)?;
    if created {
        eprintln!("created hub JWS key pair {}", public.display());
    }
    println!("{}", public.display());
    Ok(ExitCode::SUCCESS)
}

async fn verify_audit(
    database: DatabaseArgs,
    page_size: u32,
    expect: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let anchor = match expect {
        Some(text) => {
            let (seq, hash) = text.split_once(':').context("--expect must be SEQ:HASH")?;
            let seq: u64 = seq.parse().context("--expect: SEQ must be a number")?;
            let hash = ferroloop_core::audit::parse_hex(hash)
                .context("--expect: HASH must be 64 hex digits")?;
            Some((seq, hash))
        }
        None => None,
    };
    let pool = ferroloop_store::connect(&database).await?;
    let verification = ferroloop_store::audit::verify(&pool, page_size, anchor).await?;
    if json {
        println!(
            "{}",
            ferroloop_admin_api::audit_api::verification_json(&verification)
        );
    }
    Ok(match verification {
        Verification::Intact(chain) => {
            if !json {
                println!(
                    "audit chain intact: {} rows, head {}:{}",
                    chain.rows,
                    chain.rows,
                    ferroloop_core::audit::hex(&chain.head_hash)
                );
            }
            ExitCode::SUCCESS
        }
        Verification::Broken(broken) => {
            if !json {
                println!("audit chain BROKEN at row {}: {broken}", broken.seq());
            }
            ExitCode::FAILURE
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if !is_tool(&args) {
        let config = ferroloop_admin_api::Config::parse_from(args);
        ferroloop_telemetry::init_logging(&config.telemetry);
        let shutdown = ferroloop_telemetry::shutdown_on_signal();
        let running = ferroloop_admin_api::build_app(config, shutdown).await?;
        running.task.await??;
        return Ok(ExitCode::SUCCESS);
    }
    match Tools::parse_from(args).command {
        Command::VerifyAudit {
            database,
            page_size,
            expect,
            json,
        } => verify_audit(database, page_size, expect, json).await,
        Command::Token {
            signing_key,
            algorithm,
            key_id,
            issuer,
            audience,
            subject,
            roles,
            ttl_seconds,
        } => {
            let pem = std::fs::read(&signing_key)
                .with_context(|| format!("reading {}", signing_key.display()))?;
            let issued_at = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp())
                .context("clock before 1970")?;
            let token = auth::mint(&TokenRequest {
                signing_key_pem: &pem,
                algorithm,
                key_id: key_id.as_deref(),
                issuer: &issuer,
                audience: &audience,
                subject: &subject,
                roles: &roles,
                issued_at,
                ttl_seconds,
            })
            .context("signing the token")?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::IssuerKeygen { dir, name } => {
            if name.is_empty() || name.contains('/') {
                bail!("--name must be a plain file stem");
            }
            let (public, created) =
                auth::write_issuer_key(&dir, &name).map_err(anyhow::Error::msg)?;
            if created {
                eprintln!("created issuer key pair {}", public.display());
            }
            println!("{}", public.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::HubJwsKeygen {
            dir,
            hub_name,
            bits,
        } => hub_jws_keygen(&dir, &hub_name, bits),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_parses() {
        Tools::command().debug_assert();
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(!is_tool(&os(&[
            "admin-api",
            "--database-url",
            "mysql://u:p@h/db"
        ])));
        let serve = ferroloop_admin_api::Config::try_parse_from([
            "admin-api",
            "--database-url",
            "mysql://u:p@h/db",
        ])
        .unwrap();
        assert_eq!(serve.auth.mode, auth::AuthMode::On, "secure by default");
        let args = os(&[
            "admin-api",
            "token",
            "--signing-key",
            "k.pem",
            "--issuer",
            "i",
            "--audience",
            "a",
            "--subject",
            "alice",
            "--roles",
            "operator,finance-maker",
        ]);
        assert!(is_tool(&args));
        let token = Tools::try_parse_from(args).unwrap();
        assert!(matches!(token.command, Command::Token { ref roles, .. } if roles.len() == 2));
        assert!(is_tool(&os(&["admin-api", "hub-jws-keygen", "--dir", "d"])));
    }

    /// The local stack's hub key: made once, kept on later runs, a usable pair.
    #[test]
    fn hub_jws_keygen_makes_one_usable_pair() {
        use ferroloop_fspiop::jws::{SigningKey, VerifyingKey};
        let dir = std::env::temp_dir().join(format!("hub-jws-{}", uuid::Uuid::now_v7().simple()));
        hub_jws_keygen(&dir, "Hub", 2_048).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let (private, public) = (read("signing-key.pem"), read("Hub.pem"));
        assert_eq!(
            SigningKey::from_pem(&private).unwrap().verifying_key(),
            VerifyingKey::from_pem(&public).unwrap()
        );
        hub_jws_keygen(&dir, "Hub", 2_048).unwrap();
        assert_eq!(
            (read("signing-key.pem"), read("Hub.pem")),
            (private, public)
        );
        assert!(hub_jws_keygen(&dir, "../x", 2_048).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
