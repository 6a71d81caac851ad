//! One attempt to deliver one event to one hook: its command run in the builds' sandbox,
//! or an HTTP POST. What the attempt says (success or failure, and who is at fault: a
//! failure of the environment may pass when tried again) is for the runner to record.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use factory_bus::Body;
use factory_def::{Hook, HookAction};
use factory_exec::{
    BuildCommand, BuildError, BuildSpec, CancellationToken, ExecRequest, ExitKind, HostDirs,
    LogLine, Sandbox, execute,
};
use factory_types::{Fault, HasFault, LogStream, blocking, detached};

/// Exit status 75 (`EX_TEMPFAIL`, as Factory itself exits): "try again later".
const TRY_AGAIN_LATER: i32 = 75;
/// How much of a hook's output (its last lines) an outcome keeps.
const OUTPUT_LINES: usize = 20;
const OUTPUT_BYTES: usize = 2048;

/// What every attempt needs: where to run, and the scratch directories' parent.
pub(crate) struct Context {
    pub(crate) sandbox: Sandbox,
    pub(crate) scratch: PathBuf,
}

/// An event, ready to be delivered.
pub(crate) struct Delivery<'a> {
    pub(crate) hook: &'a Hook,
    /// The definition directory: the working directory of a command.
    pub(crate) root: Option<&'a Path>,
    pub(crate) event: &'a Body,
    pub(crate) json: &'a str,
}

/// An attempt that did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct DeliveryFailure {
    /// What happened, first line first (the status), then the end of the output.
    pub detail: String,
    fault: Fault,
}

impl DeliveryFailure {
    fn new(fault: Fault, detail: impl Into<String>) -> Self {
        DeliveryFailure {
            detail: detail.into(),
            fault,
        }
    }
}

impl HasFault for DeliveryFailure {
    /// The hook's own failure (an exit status, a 4xx answer) is the input's: trying again
    /// gives the same. A timeout, exit status 75, a 5xx answer, an unreachable server or a
    /// sandbox that cannot start are the environment's: tried again later.
    fn fault(&self) -> Fault {
        self.fault
    }
}

/// Runs or posts once. `Ok` holds the detail of a success.
pub(crate) async fn attempt(
    ctx: &Context,
    delivery: &Delivery<'_>,
    cancel: &CancellationToken,
) -> Result<String, DeliveryFailure> {
    match &delivery.hook.action {
        HookAction::Command { argv, network } => {
            run_command(ctx, delivery, argv, *network, cancel).await
        }
        HookAction::Post { url, headers } => post(delivery, url, headers).await,
    }
}

async fn run_command(
    ctx: &Context,
    delivery: &Delivery<'_>,
    argv: &[String],
    network: bool,
    cancel: &CancellationToken,
) -> Result<String, DeliveryFailure> {
    let hook = delivery.hook;
    let scratch = prepare_scratch(ctx, &hook.name, delivery.json).await?;
    let mut spec = BuildSpec::new(
        format!("hook `{}`", hook.name),
        vec![BuildCommand::Argv(argv.to_vec())],
    );
    spec.network = network;
    spec.timeout = Some(hook.timeout);
    spec.env = BTreeMap::from([
        ("FACTORY_HOOK".to_owned(), hook.name.clone()),
        (
            "FACTORY_EVENT_SEQ".to_owned(),
            delivery.event.seq.to_string(),
        ),
        (
            "FACTORY_EVENT_TOPIC".to_owned(),
            delivery.event.topic.clone(),
        ),
    ]);
    let dirs = HostDirs {
        work: scratch.path().join("work"),
        out: scratch.path().join("out"),
        source: delivery.root.map(Path::to_path_buf),
        inputs: BTreeMap::new(),
    };
    let stdin = scratch.path().join("event.json");
    let report = execute(
        &ctx.sandbox,
        ExecRequest {
            spec: &spec,
            dirs: &dirs,
            sink: None,
            cancel: cancel.clone(),
            stdin: Some(&stdin),
            in_source: delivery.root.is_some(),
        },
    )
    .await;
    // Removing a tree is blocking work; what is left if it fails is only scratch.
    let _ = blocking("removing a hook's scratch directory", move || drop(scratch)).await;
    let output = output_tail(&report.log);
    match report.result {
        Ok(()) => Ok(with_output("exit code 0".to_owned(), &output)),
        Err(error) => {
            let (fault, status) = judge(&error, hook.timeout);
            Err(DeliveryFailure::new(fault, with_output(status, &output)))
        }
    }
}

/// A fresh directory for one run: `work` (its home, writable), `out` (unused, but the
/// sandbox binds one) and `event.json` (its standard input).
async fn prepare_scratch(
    ctx: &Context,
    hook: &str,
    json: &str,
) -> Result<tempfile::TempDir, DeliveryFailure> {
    let parent = ctx.scratch.clone();
    let prefix = format!("{hook}-");
    let json = json.to_owned();
    let made = blocking("preparing a hook's scratch directory", move || {
        fs_err::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)?;
        fs_err::create_dir(dir.path().join("work"))?;
        fs_err::create_dir(dir.path().join("out"))?;
        fs_err::write(dir.path().join("event.json"), json)?;
        Ok::<_, std::io::Error>(dir)
    })
    .await;
    match made {
        Ok(Ok(dir)) => Ok(dir),
        Ok(Err(error)) => Err(DeliveryFailure::new(
            Fault::Environment,
            format!("cannot prepare a scratch directory: {error}"),
        )),
        Err(panicked) => Err(DeliveryFailure::new(Fault::Factory, panicked.to_string())),
    }
}

/// Who is at fault for a command that did not succeed, and its status in words.
fn judge(error: &BuildError, limit: Duration) -> (Fault, String) {
    match error {
        BuildError::CommandFailed { status, .. } => match status {
            ExitKind::Code(TRY_AGAIN_LATER) => (
                Fault::Environment,
                format!("exit code {TRY_AGAIN_LATER} (try again later)"),
            ),
            ExitKind::Code(code) => (Fault::Input, format!("exit code {code}")),
            ExitKind::Signal(signal) => (Fault::Input, format!("killed by signal {signal}")),
        },
        BuildError::TimedOut { .. } => (
            Fault::Environment,
            format!(
                "timed out after {}; its processes were killed",
                humantime(limit)
            ),
        ),
        BuildError::Cancelled { .. } => (Fault::Environment, "stopped".to_owned()),
        BuildError::Infrastructure(infra) => (Fault::Environment, infra.to_string()),
        other => (other.fault(), other.to_string()),
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The last lines the command printed (standard output and error, in order).
fn output_tail(log: &[LogLine]) -> String {
    let lines: Vec<&str> = log
        .iter()
        .filter(|l| l.stream != LogStream::Factory)
        .map(|l| l.text.as_str())
        .collect();
    let start = lines.len().saturating_sub(OUTPUT_LINES);
    let text = lines[start..].join("\n");
    last_bytes(&text, OUTPUT_BYTES).to_owned()
}

fn last_bytes(text: &str, limit: usize) -> &str {
    let mut start = text.len().saturating_sub(limit);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn with_output(status: String, output: &str) -> String {
    if output.trim().is_empty() {
        status
    } else {
        format!("{status}\n{output}")
    }
}

/// The POST runs on a thread of its own: a server that does not answer holds up neither
/// the runtime's one thread nor Ctrl-C (the attempt is bounded by the hook's timeout).
async fn post(
    delivery: &Delivery<'_>,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<String, DeliveryFailure> {
    let request = PostRequest {
        url: url.to_owned(),
        headers: headers.clone(),
        hook: delivery.hook.name.clone(),
        seq: delivery.event.seq,
        body: delivery.json.to_owned(),
        timeout: delivery.hook.timeout,
    };
    match detached("posting an event for a hook", move || request.send()).await {
        Ok(result) => result,
        Err(panicked) => Err(DeliveryFailure::new(Fault::Factory, panicked.to_string())),
    }
}

struct PostRequest {
    url: String,
    headers: BTreeMap<String, String>,
    hook: String,
    seq: u64,
    body: String,
    timeout: Duration,
}

impl PostRequest {
    fn send(self) -> Result<String, DeliveryFailure> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            // A webhook that moved is a definition to fix, not a place to follow a POST to.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(format!("factory/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let mut request = agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Factory-Hook", &self.hook)
            // The receiver's key for telling a delivery made again from a new one.
            .header("X-Factory-Event", self.seq.to_string());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match request.send(self.body.as_bytes()) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut body = Vec::new();
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(OUTPUT_BYTES as u64)
                    .read_to_end(&mut body);
                answer(status, &String::from_utf8_lossy(&body))
            }
            Err(error) => Err(unreachable(&error, self.timeout)),
        }
    }
}

/// An HTTP answer: 2xx delivered; 408, 429 and 5xx may pass later; the rest will not.
fn answer(status: u16, body: &str) -> Result<String, DeliveryFailure> {
    let detail = with_output(format!("HTTP {status}"), body.trim());
    match status {
        200..=299 => Ok(detail),
        408 | 429 | 500..=599 => Err(DeliveryFailure::new(Fault::Environment, detail)),
        300..=399 => Err(DeliveryFailure::new(
            Fault::Input,
            format!("{detail}\nredirects are not followed: post to the address it names"),
        )),
        _ => Err(DeliveryFailure::new(Fault::Input, detail)),
    }
}

/// No answer: a malformed request is the definition's to fix; the rest (no connection, no
/// name, a timeout, a broken answer) may pass.
fn unreachable(error: &ureq::Error, timeout: Duration) -> DeliveryFailure {
    match error {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_) => {
            DeliveryFailure::new(Fault::Input, format!("cannot send the request: {error}"))
        }
        ureq::Error::Timeout(_) => DeliveryFailure::new(
            Fault::Environment,
            format!("no answer within {}", humantime(timeout)),
        ),
        other => DeliveryFailure::new(Fault::Environment, format!("no answer: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_status() {
        assert_eq!(answer(204, "").unwrap(), "HTTP 204");
        assert_eq!(answer(200, "ok\n").unwrap(), "HTTP 200\nok");
        for transient in [408, 429, 500, 503] {
            assert_eq!(
                answer(transient, "").unwrap_err().fault(),
                Fault::Environment
            );
        }
        for own in [301, 400, 404] {
            assert_eq!(answer(own, "").unwrap_err().fault(), Fault::Input);
        }
    }

    #[test]
    fn exit_statuses_by_fault() {
        let failed = |code| BuildError::CommandFailed {
            build: "hook".into(),
            index: 0,
            command: "x".into(),
            status: ExitKind::Code(code),
        };
        let limit = Duration::from_secs(30);
        assert_eq!(
            judge(&failed(1), limit),
            (Fault::Input, "exit code 1".into())
        );
        assert_eq!(judge(&failed(75), limit).0, Fault::Environment);
        let timed_out = BuildError::TimedOut {
            build: "hook".into(),
            index: 0,
            command: "x".into(),
            limit,
        };
        assert_eq!(
            judge(&timed_out, limit),
            (
                Fault::Environment,
                "timed out after 30s; its processes were killed".into()
            )
        );
    }

    #[test]
    fn output_keeps_the_end() {
        assert_eq!(last_bytes("héllo", 4), "llo");
        let long = "x".repeat(5000);
        assert_eq!(last_bytes(&long, OUTPUT_BYTES).len(), OUTPUT_BYTES);
        assert_eq!(with_output("exit code 0".into(), " \n"), "exit code 0");
    }
}
