//! `factory token`: the API tokens of the server. A token is generated here and shown once;
//! the store keeps only its hash ([`factory_store::token_hash`]), so a lost token is revoked
//! and replaced, never shown again.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use factory_store::{Scope, Store, TokenRecord, token_hash};
use factory_types::{Fault, HasFault};

use crate::cli::{ScopeArg, TokenCommand};

/// What every token starts with, so that one pasted in the wrong place (a log, a commit) is
/// recognisable, and secret scanners can be taught to look for it.
pub(crate) const TOKEN_PREFIX: &str = "fty_";

/// Random bytes in a token: 256 bits, beyond guessing, which is also why a plain sha256 is
/// enough to store it.
const TOKEN_BYTES: usize = 32;

/// The operating system gave no random bytes: the machine's fault, not the request's.
#[derive(Debug, thiserror::Error)]
#[error("cannot get random bytes from the operating system to make a token: {0}")]
pub(crate) struct NoRandomness(#[source] getrandom::Error);

impl HasFault for NoRandomness {
    fn fault(&self) -> Fault {
        Fault::Environment
    }
}

/// A new token: [`TOKEN_PREFIX`] and 32 random bytes from the operating system in URL-safe
/// base64 without padding (43 characters), so it travels in a header or a URL unescaped.
pub(crate) fn generate_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub(super) async fn token(store_dir: &Path, command: &TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            name,
            scope,
            owners,
        } => create(store_dir, name, scope_of(*scope), owners).await,
        TokenCommand::List => list(store_dir).await,
        TokenCommand::Revoke { name } => revoke(store_dir, name).await,
    }
}

fn scope_of(arg: ScopeArg) -> Scope {
    match arg {
        ScopeArg::Read => Scope::Read,
        ScopeArg::Build => Scope::Build,
        ScopeArg::Admin => Scope::Admin,
    }
}

async fn create(store_dir: &Path, name: &str, scope: Scope, owners: &[String]) -> Result<()> {
    if owners.iter().any(String::is_empty) {
        bail!("--owner needs a group name; an empty one was given");
    }
    let token = generate_token()?;
    // Unlike the reading commands, this one makes the store if there is none: tokens can be
    // handed out before the first `factory up`.
    let store = Store::open(store_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))?;
    let record = store
        .db()
        .create_token(name, scope, owners, &token_hash(&token))
        .await?;
    println!("{token}");
    eprintln!(
        "created {} token `{}`{}; this is the only time it is shown (it cannot be shown again): keep it now",
        record.scope,
        record.name,
        owned_by(&record.owners)
    );
    if scope == Scope::Build && owners.is_empty() {
        eprintln!(
            "warning: a build token can rebuild nothing unless it owns something: \
             give --owner GROUP (admin tokens can do anything; read tokens can only read)"
        );
    }
    Ok(())
}

fn owned_by(owners: &[String]) -> String {
    if owners.is_empty() {
        String::new()
    } else {
        format!(" owned by {}", owners.join(", "))
    }
}

async fn list(store_dir: &Path) -> Result<()> {
    let store = super::views::open_store(store_dir).await?;
    let tokens = store.db().tokens().await?;
    if tokens.is_empty() {
        println!("no tokens; `factory token create --name NAME --scope SCOPE` makes one");
        return Ok(());
    }
    for line in table(&tokens) {
        println!("{line}");
    }
    Ok(())
}

/// The lines of `token list`: a header, then a token a line, columns aligned.
fn table(tokens: &[TokenRecord]) -> Vec<String> {
    let mut rows = vec![["name", "scope", "owners", "created", "state"].map(String::from)];
    rows.extend(tokens.iter().map(|t| {
        [
            t.name.clone(),
            t.scope.to_string(),
            if t.owners.is_empty() {
                "-".to_owned()
            } else {
                t.owners.join(",")
            },
            rfc3339(t.created_at_ms),
            if t.is_active() { "active" } else { "revoked" }.to_owned(),
        ]
    }));
    let mut widths = [0; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

/// Milliseconds since the epoch as RFC 3339 in UTC, to the second.
fn rfc3339(ms: i64) -> String {
    let since_epoch = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(UNIX_EPOCH + since_epoch).to_string()
}

async fn revoke(store_dir: &Path, name: &str) -> Result<()> {
    let store = super::views::open_store(store_dir).await?;
    if let Some(record) = store.db().revoke_token(name).await? {
        println!(
            "revoked {} token `{}`; it is refused from now on",
            record.scope, record.name
        );
        return Ok(());
    }
    let tokens = store.db().tokens().await?;
    bail!("{}", not_revocable(name, &tokens))
}

/// Why `name` cannot be revoked, and which tokens can.
fn not_revocable(name: &str, tokens: &[TokenRecord]) -> String {
    let why = if tokens.iter().any(|t| t.name == name) {
        format!("token `{name}` is already revoked")
    } else {
        format!("no token named `{name}`")
    };
    let active: Vec<String> = tokens
        .iter()
        .filter(|t| t.is_active())
        .map(|t| format!("`{}`", t.name))
        .collect();
    if active.is_empty() {
        format!("{why}; there are no active tokens")
    } else {
        format!("{why}; the active tokens are {}", active.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_prefix_and_43_url_safe_characters() {
        let token = generate_token().unwrap();
        let rest = token.strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(rest.len(), 43, "{token}");
        assert!(
            rest.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{token}"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(rest).unwrap().len(), TOKEN_BYTES);
        assert_ne!(generate_token().unwrap(), token);
    }

    fn record(name: &str, active: bool) -> TokenRecord {
        TokenRecord {
            name: name.into(),
            scope: Scope::Build,
            owners: vec!["infra".into(), "qa".into()],
            created_at_ms: 1_704_067_200_000,
            revoked_at_ms: (!active).then_some(1_704_067_260_000),
        }
    }

    #[test]
    fn the_table_aligns_its_columns_and_shows_no_secret() {
        let lines = table(&[record("ci", true), record("nightly-bot", false)]);
        assert_eq!(
            lines,
            [
                "name         scope  owners    created               state",
                "ci           build  infra,qa  2024-01-01T00:00:00Z  active",
                "nightly-bot  build  infra,qa  2024-01-01T00:00:00Z  revoked",
            ]
        );
    }

    #[test]
    fn an_unknown_name_is_answered_with_the_active_ones() {
        let tokens = [
            record("ci", true),
            record("old", false),
            record("web", true),
        ];
        assert_eq!(
            not_revocable("typo", &tokens),
            "no token named `typo`; the active tokens are `ci`, `web`"
        );
        assert_eq!(
            not_revocable("old", &tokens),
            "token `old` is already revoked; the active tokens are `ci`, `web`"
        );
        assert_eq!(
            not_revocable("x", &[]),
            "no token named `x`; there are no active tokens"
        );
    }
}
