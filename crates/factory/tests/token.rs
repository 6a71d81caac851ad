//! `factory token` through the real binary: a token is printed once and never stored (only
//! its hash is), listed without any secret, revoked; mistakes exit with 1 and say what to do.

mod common;
use common::context;

use std::path::Path;

use factory_store::token_hash;
use factory_testkit::{Outcome, TestContext};

/// `factory token create --name NAME --scope SCOPE [--owner O]...`, which must succeed.
fn create(ctx: &TestContext, name: &str, scope: &str, owners: &[&str]) -> Outcome {
    let mut command = ctx
        .factory()
        .args(["token", "create", "--name", name, "--scope", scope]);
    for owner in owners {
        command = command.args(["--owner", owner]);
    }
    let outcome = command.output();
    assert!(outcome.success(), "{outcome}");
    outcome
}

/// The token a successful `create` printed: its whole standard output, one line.
fn printed_token(outcome: &Outcome) -> String {
    let token = outcome.stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains('\n'), "{outcome}");
    token.to_owned()
}

fn assert_token_shape(token: &str) {
    let rest = token
        .strip_prefix("fty_")
        .unwrap_or_else(|| panic!("no fty_ prefix: {token}"));
    assert_eq!(rest.len(), 43, "{token}");
    let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    assert!(rest.chars().all(url_safe), "{token}");
}

/// Every byte of every file below `dir` (the database, its write-ahead log, the blobs).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(fs_err::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn assert_exit_1(outcome: &Outcome) {
    assert_eq!(outcome.status.code(), Some(1), "{outcome}");
}

#[test]
fn create_prints_the_token_once_and_the_store_keeps_only_its_hash() {
    let ctx = context();
    let created = create(&ctx, "ci", "build", &["infra"]);
    let token = printed_token(&created);
    assert_token_shape(&token);
    assert!(
        created.stderr.contains("cannot be shown again"),
        "{created}"
    );
    assert!(!created.stderr.contains(&token), "{created}");

    let stored = all_bytes(ctx.store());
    assert!(ctx.store().join("factory.db").exists());
    assert!(!contains(&stored, &token), "the token is in the store");
    // What the store does keep can be found this way: the grep looks where it should.
    assert!(contains(&stored, &token_hash(&token).hex()));

    // A second token is another one.
    let other = printed_token(&create(&ctx, "web", "read", &[]));
    assert_token_shape(&other);
    assert_ne!(other, token);
}

#[test]
fn list_shows_every_token_and_no_secret() {
    let ctx = context();
    let ci = printed_token(&create(&ctx, "ci", "build", &["infra", "qa"]));
    let admin = printed_token(&create(&ctx, "root", "admin", &[]));
    let out = ctx.factory().args(["token", "list"]).ok();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["name", "scope", "owners", "created", "state"],
        "{out}"
    );
    assert_eq!(lines.len(), 3, "{out}");
    for (line, (name, scope, owners)) in lines[1..]
        .iter()
        .zip([("ci", "build", "infra,qa"), ("root", "admin", "-")])
    {
        assert_eq!(line[..3], [name, scope, owners], "{out}");
        assert!(is_rfc3339_utc(line[3]), "{out}");
        assert_eq!(line[4], "active", "{out}");
    }
    for secret in [&ci, &admin] {
        assert!(!out.contains(secret.as_str()), "{out}");
        assert!(!out.contains(&token_hash(secret).hex()), "{out}");
    }
    // The log audits both, without any hash either.
    let events = ctx.events();
    assert!(
        events.contains("token_created") && events.contains("ci (build)"),
        "{events}"
    );
    assert!(!events.contains(&token_hash(&ci).hex()), "{events}");
}

/// `2024-01-01T00:00:00Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:ddZ";
    text.len() == shape.len()
        && text.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            _ => c == s,
        })
}

#[test]
fn a_revoked_token_is_listed_as_such_and_cannot_be_revoked_twice() {
    let ctx = context();
    create(&ctx, "ci", "read", &[]);
    create(&ctx, "web", "read", &[]);
    let out = ctx.factory().args(["token", "revoke", "ci"]).ok();
    assert!(out.contains("revoked") && out.contains("`ci`"), "{out}");
    let list = ctx.factory().args(["token", "list"]).ok();
    let ci = list.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(ci.ends_with("revoked"), "{list}");
    assert!(ctx.events().contains("token_revoked"));

    let again = ctx.factory().args(["token", "revoke", "ci"]).fails();
    assert_exit_1(&again);
    assert!(
        again
            .stderr
            .contains("token `ci` is already revoked; the active tokens are `web`"),
        "{again}"
    );
    // The name is free again.
    create(&ctx, "ci", "admin", &[]);
}

#[test]
fn revoking_an_unknown_name_exits_1_and_names_the_active_tokens() {
    let ctx = context();
    create(&ctx, "ci", "read", &[]);
    create(&ctx, "web", "build", &["frontend"]);
    let outcome = ctx.factory().args(["token", "revoke", "cj"]).fails();
    assert_exit_1(&outcome);
    assert!(
        outcome
            .stderr
            .contains("no token named `cj`; the active tokens are `ci`, `web`"),
        "{outcome}"
    );
}

#[test]
fn a_second_active_token_of_a_name_exits_1() {
    let ctx = context();
    create(&ctx, "ci", "read", &[]);
    let outcome = ctx
        .factory()
        .args(["token", "create", "--name", "ci", "--scope", "admin"])
        .fails();
    assert_exit_1(&outcome);
    assert!(outcome.stdout.is_empty(), "no token printed: {outcome}");
    assert!(
        outcome
            .stderr
            .contains("an active token named `ci` already exists"),
        "{outcome}"
    );
    let list = ctx.factory().args(["token", "list"]).ok();
    assert_eq!(list.lines().count(), 2, "{list}");
}

#[test]
fn a_build_token_without_owner_is_made_with_a_warning() {
    let ctx = context();
    let created = create(&ctx, "ci", "build", &[]);
    assert_token_shape(&printed_token(&created));
    assert!(
        created.stderr.contains("warning:") && created.stderr.contains("rebuild nothing"),
        "{created}"
    );
    // Read and admin tokens have no use for owners: no warning.
    for (name, scope) in [("r", "read"), ("a", "admin")] {
        let quiet = create(&ctx, name, scope, &[]);
        assert!(!quiet.stderr.contains("warning:"), "{quiet}");
    }
}

#[test]
fn an_empty_owner_or_an_unknown_scope_is_refused() {
    let ctx = context();
    let empty = ctx
        .factory()
        .args(["token", "create", "--name", "ci", "--scope", "build"])
        .args(["--owner", "infra", "--owner", ""])
        .fails();
    assert_exit_1(&empty);
    assert!(empty.stderr.contains("--owner"), "{empty}");
    assert!(empty.stdout.is_empty(), "{empty}");
    let scope = ctx
        .factory()
        .args(["token", "create", "--name", "ci", "--scope", "root"])
        .fails();
    assert!(scope.stderr.contains("read, build, admin"), "{scope}");
}

#[test]
fn list_and_revoke_need_an_existing_store() {
    let ctx = context();
    let outcome = ctx.factory().args(["token", "list"]).fails();
    assert_exit_1(&outcome);
    assert!(outcome.stderr.contains("no factory store"), "{outcome}");
    assert!(!ctx.store().exists());
}
