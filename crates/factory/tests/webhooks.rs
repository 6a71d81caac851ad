//! Forge webhooks through the real binary: a push that a component's git source follows
//! starts a change at once; a bad signature or token changes nothing; a redelivery starts
//! no second change.

mod common;
use common::context;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use factory_testkit::{Served, TestContext, ok, write};
use hmac::{Hmac, Mac};

fn git(repo: &Path, args: &[&str]) -> String {
    ok(Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Factory Test",
            "-c",
            "user.email=test@example.org",
        ])
        .args(args))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// An upstream repository on `main`, a component following it, and `up` serving with both
/// forges' secrets; polling is slow, so only a webhook can start the change in time.
fn setup(ctx: &TestContext) -> (Served, std::path::PathBuf) {
    let repo = ctx.path("upstream");
    write(&repo.join("input"), "one\n");
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "input"]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    ctx.write_definition(
        "components.toml",
        &format!(
            "[component.g]\nkind = \"command\"\nsource = {{ git = \"file://{}\", rev = \"main\" }}\ncommands = [\"cp {{src}}/input {{out}}/out.txt\"]\noutputs = [\"out.txt\"]\n",
            repo.display()
        ),
    );
    let github = ctx.write("github.secret", "s3cret-github\n");
    let gitlab = ctx.write("gitlab.token", "t0ken-gitlab\n");
    let (github, gitlab) = (github.display().to_string(), gitlab.display().to_string());
    let options = [
        "--listen",
        "127.0.0.1:0",
        "--no-sandbox",
        "--poll-interval",
        "3600",
        "--github-secret-file",
        &github,
        "--gitlab-token-file",
        &gitlab,
    ];
    let served = Served::new(ctx.spawn_up(&options));
    served.wait_for_stderr("watching", Duration::from_secs(120));
    (served, repo)
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn push_body(repo: &Path, commit: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": { "clone_url": format!("file://{}", repo.display()) },
    })
    .to_string()
    .into_bytes()
}

fn post(
    served: &Served,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut request = agent().post(served.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn waves(served: &Served) -> Vec<serde_json::Value> {
    let mut response = agent().get(served.url("/api/v1/waves")).call().unwrap();
    let page: serde_json::Value = response.body_mut().read_json().unwrap();
    page["waves"].as_array().unwrap().clone()
}

fn wait_finished(served: &Served, wave: u64) {
    let started = std::time::Instant::now();
    while !waves(served)
        .iter()
        .any(|w| w["id"] == wave && w["state"] == "finished")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "wave {wave} never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_signed_push_starts_a_change_once_and_a_forged_one_nothing() {
    let ctx = context();
    let (served, repo) = setup(&ctx);
    write(&repo.join("input"), "two\n");
    git(&repo, &["commit", "--quiet", "-am", "two"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let body = push_body(&repo, &commit);
    let before = waves(&served).len();

    let forged = signature("not-the-secret", &body);
    let headers = [("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-1")];
    let (status, problem) = post(
        &served,
        "/api/v1/hooks/github",
        &[headers[0], headers[1], ("X-Hub-Signature-256", &forged)],
        &body,
    );
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["type"], "/api/v1/problems/bad-signature");
    let (status, _) = post(&served, "/api/v1/hooks/github", &headers, &body);
    assert_eq!(status, 401, "no signature at all");
    assert_eq!(
        waves(&served).len(),
        before,
        "a refused delivery changes nothing"
    );

    let signed = signature("s3cret-github", &body);
    let with = [
        headers[0],
        headers[1],
        ("X-Hub-Signature-256", signed.as_str()),
    ];
    let (status, started) = post(&served, "/api/v1/hooks/github", &with, &body);
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "started");
    assert_eq!(started["components"], serde_json::json!(["g"]));
    let wave = started["wave"].as_u64().unwrap();
    wait_finished(&served, wave);
    let (status, again) = post(&served, "/api/v1/hooks/github", &with, &body);
    assert_eq!(
        (status, again["status"].as_str()),
        (200, Some("duplicate")),
        "{again}"
    );
    assert_eq!(
        waves(&served).len(),
        before + 1,
        "one change for one delivery"
    );

    let mut response = agent()
        .get(served.url("/api/v1/components/g"))
        .call()
        .unwrap();
    let g: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(g["latest_build"]["state"], "succeeded", "{g}");
    assert!(
        g["latest_build"]["reason"]
            .as_str()
            .unwrap()
            .contains("a push to"),
        "{g}"
    );

    let ping = signature("s3cret-github", b"{}");
    let (status, ignored) = post(
        &served,
        "/api/v1/hooks/github",
        &[
            ("X-GitHub-Event", "ping"),
            ("X-GitHub-Delivery", "d-2"),
            ("X-Hub-Signature-256", &ping),
        ],
        b"{}",
    );
    assert_eq!((status, ignored["status"].as_str()), (200, Some("ignored")));
    assert!(served.stop().success());
    let events = ctx.events();
    assert_eq!(events.matches("webhook_received").count(), 1, "{events}");
    assert!(!events.contains("s3cret"), "no secret in the events");
}

#[test]
fn gitlab_pushes_need_the_token() {
    let ctx = context();
    let (served, repo) = setup(&ctx);
    write(&repo.join("input"), "three\n");
    git(&repo, &["commit", "--quiet", "-am", "three"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let body = push_body(&repo, &commit);
    let event = ("X-Gitlab-Event", "Push Hook");
    let uuid = ("X-Gitlab-Event-UUID", "g-1");
    let (status, _) = post(
        &served,
        "/api/v1/hooks/gitlab",
        &[event, uuid, ("X-Gitlab-Token", "guess")],
        &body,
    );
    assert_eq!(status, 401);
    let token = ("X-Gitlab-Token", "t0ken-gitlab");
    let (status, started) = post(
        &served,
        "/api/v1/hooks/gitlab",
        &[event, uuid, token],
        &body,
    );
    assert_eq!(status, 202, "{started}");
    wait_finished(&served, started["wave"].as_u64().unwrap());
    let other_branch = String::from_utf8(body.clone())
        .unwrap()
        .replace("refs/heads/main", "refs/heads/dev");
    let (status, ignored) = post(
        &served,
        "/api/v1/hooks/gitlab",
        &[event, ("X-Gitlab-Event-UUID", "g-2"), token],
        other_branch.as_bytes(),
    );
    assert_eq!(
        (status, ignored["status"].as_str()),
        (200, Some("ignored")),
        "{ignored}"
    );
    assert!(served.stop().success());
}
