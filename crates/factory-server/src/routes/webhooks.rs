//! Pushes from forges: GitHub (and Forgejo and Gitea, which send the same), GitLab. A push
//! to a repository and ref that a component's git source follows starts a change at once,
//! without waiting for the poll. A delivery must prove it knows the forge's secret (an
//! HMAC of the body, or GitLab's token); one that does not gets 401 and changes nothing.
//! Each delivery is recorded by its id, so a redelivery (forges retry on timeouts) starts
//! no second change.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use factory_def::Source;
use factory_engine::RebuildAccepted;
use factory_store::Event;
use factory_types::Job;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::extract::Json;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::wire::HookOutcome;

/// The secrets deliveries are checked with, per forge; a forge without one is refused.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// The secret of GitHub's (or Forgejo's, Gitea's) webhook: the HMAC-SHA256 key.
    pub github: Option<String>,
    /// The token GitLab sends in `X-Gitlab-Token`.
    pub gitlab: Option<String>,
}

impl std::fmt::Debug for WebhookSecrets {
    /// Never the secrets themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("github", &self.github.as_ref().map(|_| "set"))
            .field("gitlab", &self.gitlab.as_ref().map(|_| "set"))
            .finish()
    }
}

/// The push as both forges describe it (the fields Factory reads).
#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: Option<String>,
    #[serde(default, alias = "project")]
    repository: Repository,
}

#[derive(Debug, Default, Deserialize)]
struct Repository {
    clone_url: Option<String>,
    html_url: Option<String>,
    ssh_url: Option<String>,
    git_url: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    web_url: Option<String>,
    url: Option<String>,
    default_branch: Option<String>,
}

impl Repository {
    fn urls(&self) -> Vec<&str> {
        [
            &self.clone_url,
            &self.html_url,
            &self.ssh_url,
            &self.git_url,
            &self.git_http_url,
            &self.git_ssh_url,
            &self.web_url,
            &self.url,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
    }
}

fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
}

fn unsigned(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad-signature", detail)
        .with_hint("configure the webhook with the secret `factory up` was given")
}

fn not_configured(forge: &str, flag: &str) -> ApiError {
    ApiError::not_found(format!("webhooks from {forge} are not configured here"))
        .with_hint(format!("start `factory up` with {flag}"))
}

/// A push from GitHub, Forgejo or Gitea (`X-Hub-Signature-256`, or Gitea's and Forgejo's
/// own signature headers, which carry the same HMAC without its prefix).
#[utoipa::path(post, path = "/api/v1/hooks/github", tag = "hooks",
    request_body(content = String, content_type = "application/json",
        description = "The forge's push payload"),
    responses((status = 200, body = HookOutcome), (status = 202, body = HookOutcome),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let secret = state.inner.webhooks.github.clone();
    let secret = secret.ok_or_else(|| not_configured("GitHub", "--github-secret-file"))?;
    let signature = header(&headers, &["x-hub-signature-256"])
        .map(|s| s.strip_prefix("sha256=").unwrap_or(""))
        .or_else(|| header(&headers, &["x-gitea-signature", "x-forgejo-signature"]))
        .ok_or_else(|| unsigned("the delivery has no X-Hub-Signature-256"))?;
    let signature =
        hex::decode(signature.trim()).map_err(|_| unsigned("the signature is not hexadecimal"))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(&body);
    // verify_slice compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| unsigned("the signature does not match the body and the secret"))?;
    let kind = header(
        &headers,
        &["x-github-event", "x-gitea-event", "x-forgejo-event"],
    );
    let delivery = header(
        &headers,
        &[
            "x-github-delivery",
            "x-gitea-delivery",
            "x-forgejo-delivery",
        ],
    );
    take(&state, "github", kind, delivery, &body).await
}

/// A push from GitLab (`X-Gitlab-Token`).
#[utoipa::path(post, path = "/api/v1/hooks/gitlab", tag = "hooks",
    request_body(content = String, content_type = "application/json",
        description = "GitLab's push payload"),
    responses((status = 200, body = HookOutcome), (status = 202, body = HookOutcome),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn gitlab(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let secret = state.inner.webhooks.gitlab.clone();
    let secret = secret.ok_or_else(|| not_configured("GitLab", "--gitlab-token-file"))?;
    let token = header(&headers, &["x-gitlab-token"])
        .ok_or_else(|| unsigned("the delivery has no X-Gitlab-Token"))?;
    if !bool::from(token.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(unsigned("the X-Gitlab-Token is not the configured one"));
    }
    let kind = header(&headers, &["x-gitlab-event"]).map(|k| match k {
        "Push Hook" | "Tag Push Hook" => "push",
        other => other,
    });
    let delivery = header(&headers, &["x-gitlab-event-uuid", "idempotency-key"]);
    take(&state, "gitlab", kind, delivery, &body).await
}

fn outcome(status: StatusCode, outcome: HookOutcome) -> Response {
    (status, Json(outcome)).into_response()
}

/// An authentic delivery: recorded once by its id, and a push turned into a change of the
/// components that follow its repository and ref.
async fn take(
    state: &AppState,
    forge: &str,
    kind: Option<&str>,
    delivery: Option<&str>,
    body: &[u8],
) -> ApiResult<Response> {
    let kind = kind.ok_or_else(|| ApiError::bad_request("the delivery does not say its event"))?;
    if kind != "push" {
        let said = format!("`{kind}` events change nothing; only pushes do");
        return Ok(outcome(StatusCode::OK, HookOutcome::ignored(said)));
    }
    let delivery = delivery
        .filter(|d| !d.is_empty() && d.len() <= 200)
        .ok_or_else(|| ApiError::bad_request("the delivery has no delivery id header"))?;
    let push: Push = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-body",
            format!("the push payload: {e}"),
        )
    })?;
    let db = state.store().db();
    if let Some(seq) = db.webhook_delivery(forge, delivery).await? {
        return Ok(outcome(
            StatusCode::OK,
            HookOutcome::duplicate(delivery, seq.0),
        ));
    }
    let jobs = following(state, &push);
    let repository = push.repository.urls().first().map_or("", |u| *u).to_owned();
    let event = Event::WebhookReceived {
        forge: forge.to_owned(),
        delivery: delivery.to_owned(),
        repository: repository.clone(),
        git_ref: push.git_ref.clone(),
        commit: push.after.clone(),
        components: jobs.iter().map(Job::name).collect(),
    };
    let seq = db.append_one(event).await?;
    // Two copies of one delivery at once: the first recorded owns it.
    if db.webhook_delivery(forge, delivery).await? != Some(seq) {
        return Ok(outcome(
            StatusCode::OK,
            HookOutcome::duplicate(delivery, seq.0),
        ));
    }
    if jobs.is_empty() {
        let said = format!("no component follows {repository} {}", push.git_ref);
        return Ok(outcome(StatusCode::OK, HookOutcome::ignored(said)));
    }
    let control = state.inner.control.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read-only",
            "no factory loop runs here",
        )
    })?;
    let by = format!(
        "a push to {repository} {} ({forge} delivery {delivery})",
        push.git_ref
    );
    let accepted = control
        .rebuild(jobs.clone(), &by)
        .await
        .map_err(|e| ApiError::from_fault(&e))?;
    let wave = match accepted {
        RebuildAccepted::Started(wave) | RebuildAccepted::Queued { behind: wave } => wave,
    };
    let names: Vec<String> = jobs.iter().map(Job::name).collect();
    Ok(outcome(
        StatusCode::ACCEPTED,
        HookOutcome::started(names, wave.0, seq.0),
    ))
}

/// The components whose git source is this push's repository and follows its ref.
fn following(state: &AppState, push: &Push) -> Vec<Job> {
    let Some(graph) = state.graph() else {
        return Vec::new();
    };
    let pushed: BTreeSet<String> = push
        .repository
        .urls()
        .iter()
        .filter_map(|u| repo_key(u))
        .collect();
    let default_branch = push.repository.default_branch.as_deref();
    graph
        .def()
        .components
        .values()
        .filter(|c| match &c.source {
            Some(Source::Git { url, rev }) => {
                repo_key(url).is_some_and(|k| pushed.contains(&k))
                    && follows(rev, &push.git_ref, default_branch)
            }
            _ => false,
        })
        .map(|c| Job::Component(c.name.clone()))
        .collect()
}

/// Whether a source's `rev` follows `git_ref`: a branch or tag by its short or full name,
/// or `HEAD` for the default branch. A commit id follows nothing.
fn follows(rev: &str, git_ref: &str, default_branch: Option<&str>) -> bool {
    if rev == git_ref {
        return true;
    }
    let short = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"));
    if short == Some(rev) {
        return true;
    }
    rev == "HEAD" && default_branch.is_some() && short == default_branch
}

/// A repository URL reduced to what names the repository, so the forms a forge sends
/// (`https://host/o/r.git`, `git@host:o/r.git`, `ssh://git@host/o/r`) and the one a
/// definition names compare equal: host lowercased and path, without `.git` or a trailing
/// slash, without user or scheme.
pub fn repo_key(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let (rest, scheme) = match url.split_once("://") {
        Some((scheme, rest)) => (rest, Some(scheme)),
        None => (url, None),
    };
    let (host, path) = match (scheme, rest.split_once('/'), rest.split_once(':')) {
        // A local path (`file:///srv/r`, `/srv/r`): no host.
        (Some("file"), _, _) | (None, _, None) => ("", rest),
        // scp-like `user@host:path`.
        (None, _, Some((host, path))) => (host, path),
        (Some(_), Some((host, path)), _) => (host, path),
        (Some(_), None, _) => (rest, ""),
    };
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or(&host).to_owned();
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let path = path.trim_start_matches('/');
    Some(format!("{host}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::{follows, repo_key};

    #[test]
    fn the_forms_of_one_repository_compare_equal() {
        let key = repo_key("https://GitHub.com/octo/greet.git");
        for form in [
            "https://github.com/octo/greet",
            "git@github.com:octo/greet.git",
            "ssh://git@github.com/octo/greet",
            "git://github.com/octo/greet.git/",
            "https://user@github.com:443/octo/greet",
        ] {
            assert_eq!(repo_key(form), key, "{form}");
        }
        assert_ne!(repo_key("https://github.com/octo/other"), key);
        assert_eq!(
            repo_key("file:///srv/git/greet.git"),
            repo_key("/srv/git/greet")
        );
        assert_eq!(repo_key(""), None);
    }

    #[test]
    fn a_rev_follows_its_branch_or_tag() {
        assert!(follows("main", "refs/heads/main", None));
        assert!(follows("refs/heads/main", "refs/heads/main", None));
        assert!(follows("v1.2", "refs/tags/v1.2", None));
        assert!(follows("HEAD", "refs/heads/trunk", Some("trunk")));
        assert!(!follows("HEAD", "refs/heads/dev", Some("trunk")));
        assert!(!follows("main", "refs/heads/maint", None));
        assert!(!follows(
            "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "refs/heads/main",
            None
        ));
    }
}
