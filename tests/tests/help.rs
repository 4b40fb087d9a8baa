//! `--help` never prints a secret: every binary of the workspace (and every subcommand) is run with
//! `--help` while its secret-bearing variables hold a sentinel value — the database URL with its
//! password, librdkafka's extra configuration (SASL passwords), tokens — and the sentinel must
//! not appear. clap prints `[env: NAME=value]` for a variable that is set unless the argument
//! hides its value, so `kubectl exec … -- position-handler --help` in a pod would otherwise show
//! the pod's credentials.

use std::process::Command;

use ferroloop_tests::workspace_binary;

const BINARIES: [&str; 10] = [
    "api-adapter",
    "admin-api",
    "prepare-handler",
    "position-handler",
    "fulfil-handler",
    "timeout-handler",
    "notification-handler",
    "get-handler",
    "db-migrate",
    "ferroloop-load",
];

/// Subcommands whose help is printed separately.
const SUBCOMMANDS: [(&str, &str); 4] = [
    ("admin-api", "verify-audit"),
    ("admin-api", "token"),
    ("admin-api", "issuer-keygen"),
    ("admin-api", "hub-jws-keygen"),
];

const SENTINEL: &str = "s3cr3t-sentinel";

/// Whether a variable name says it carries a credential (connection strings, librdkafka's extra
/// properties, tokens, passwords, secrets, inline keys — not paths to key files).
fn is_secret(name: &str) -> bool {
    let words: Vec<&str> = name.split('_').collect();
    let last = words.last().copied().unwrap_or_default();
    name == "DATABASE_URL"
        || name.ends_with("_EXTRA_CONFIG")
        || ["TOKEN", "KEY", "CREDENTIALS"].contains(&last)
        || words
            .iter()
            .any(|w| ["PASSWORD", "SECRET", "PASSPHRASE"].contains(w))
}

/// The `[env: NAME…]` variable names in a help text.
fn env_names(help: &str) -> Vec<String> {
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(['=', ']'])?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

fn help(args: &[&str], env: &[(String, String)]) -> String {
    let binary = args[0];
    let output = Command::new(workspace_binary(binary))
        .args(&args[1..])
        .arg("--help")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("binary runs");
    assert!(output.status.success(), "{args:?} --help: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

#[test]
fn help_never_prints_secret_values() {
    let mut invocations: Vec<Vec<&str>> = BINARIES.iter().map(|b| vec![*b]).collect();
    invocations.extend(SUBCOMMANDS.iter().map(|(b, s)| vec![*b, *s]));
    let mut secrets_seen = Vec::new();
    for args in &invocations {
        let names = env_names(&help(args, &[]));
        let secrets: Vec<(String, String)> = names
            .iter()
            .filter(|n| is_secret(n))
            .map(|n| {
                (
                    n.clone(),
                    format!("mysql://user:{SENTINEL}@db/x,{SENTINEL}"),
                )
            })
            .collect();
        let text = help(args, &secrets);
        assert!(
            !text.contains(SENTINEL),
            "{args:?} --help prints a secret:\n{}",
            text.lines()
                .filter(|l| l.contains(SENTINEL))
                .collect::<Vec<_>>()
                .join("\n")
        );
        // The variable stays documented, only its value is hidden.
        for (name, _) in &secrets {
            assert!(text.contains(&format!("[env: {name}]")), "{args:?}: {name}");
        }
        secrets_seen.extend(secrets.into_iter().map(|(n, _)| n));
    }
    // Not vacuous: the known secret-bearing variables were among those checked.
    for known in [
        "DATABASE_URL",
        "KAFKA_EXTRA_CONFIG",
        "FERROLOOP_ADMIN_TOKEN",
    ] {
        assert!(
            secrets_seen.iter().any(|n| n == known),
            "{known} not checked"
        );
    }
}

#[test]
fn secret_names_are_recognised() {
    for secret in [
        "DATABASE_URL",
        "KAFKA_EXTRA_CONFIG",
        "FERROLOOP_ADMIN_TOKEN",
        "KAFKA_SASL_PASSWORD",
        "JWS_SIGNING_KEY",
    ] {
        assert!(is_secret(secret), "{secret}");
    }
    for plain in [
        "KAFKA_BROKERS",
        "JWS_SIGNING_KEY_PATH",
        "CALLBACK_TLS_KEY_PATH",
        "ADMIN_AUTH_KEY_FILES",
        "ADMIN_AUTH_MAX_TOKEN_BYTES",
        "JWS_KEYS_SOURCE",
        "ADMIN_API_PUBLIC_URL",
    ] {
        assert!(!is_secret(plain), "{plain}");
    }
}
