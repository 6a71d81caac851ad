//! The sandbox and executor, against real bubblewrap and real processes.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_no_process_left, bwrap, shell, write};
use factory_exec::{
    BuildCommand, BuildError, BuildFailure, BuildOutcome, BuildRequest, BuildRunner, BuildSpec,
    CancellationToken, ExecRequest, ExitKind, HostDirs, InfraError, LogFile, LogLine, LogSink,
    Sandbox, digest_tree, execute,
};
use factory_types::{Fault, HasFault, LogStream};

async fn run_in(
    sandbox: &Sandbox,
    scratch: &Path,
    spec: BuildSpec,
    source: Option<&Path>,
) -> (Result<BuildOutcome, BuildFailure>, std::path::PathBuf) {
    let out = scratch.join(format!("out-{}", rand_suffix()));
    let mut request = BuildRequest::new(spec, &out);
    request.source = source.map(Path::to_path_buf);
    let runner = BuildRunner::new(sandbox.clone(), scratch.join("work"));
    (runner.run(request).await, out)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

fn stdout_of(log: &[LogLine]) -> Vec<&str> {
    log.iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.text.as_str())
        .collect()
}

/// A shell probe: prints `NAME:ok` if the command succeeds, `NAME:denied` otherwise.
fn probe(name: &str, command: &str) -> String {
    format!("if {command} 2>/dev/null; then echo {name}:ok; else echo {name}:denied; fi")
}

#[tokio::test]
async fn sandbox_without_network_cannot_reach_host_loopback_services() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The service is really there: the host reaches it.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("host must reach its own listener");

    let mut probes = vec![probe(
        "listener",
        &format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'"),
    )];
    // PostgreSQL listens there on this machine; when the host reaches it, the sandbox must not.
    let postgres_on_host = std::net::TcpStream::connect(("127.0.0.1", 5432)).is_ok();
    if postgres_on_host {
        probes.push(probe(
            "postgres",
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432'",
        ));
    }
    let script = probes.join("\n");

    let (isolated, _) = run_in(&sandbox, scratch.path(), shell("no-net", &[&script]), None).await;
    let isolated = isolated.unwrap();
    assert!(
        stdout_of(&isolated.log).contains(&"listener:denied"),
        "{:?}",
        isolated.log
    );
    if postgres_on_host {
        assert!(stdout_of(&isolated.log).contains(&"postgres:denied"));
    }

    let mut with_net = shell("net", &[&script]);
    with_net.network = true;
    let (networked, _) = run_in(&sandbox, scratch.path(), with_net, None).await;
    let networked = networked.unwrap();
    assert!(
        stdout_of(&networked.log).contains(&"listener:ok"),
        "{:?}",
        networked.log
    );
}

#[tokio::test]
async fn sandboxed_build_can_write_only_its_work_and_output_dirs() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("src");
    write(&source.join("main.c"), "int main(void){return 0;}\n");
    let host_elsewhere = scratch.path().join("elsewhere");
    fs_err::create_dir(&host_elsewhere).unwrap();
    let elsewhere = host_elsewhere.display();

    let script = [
        probe("out", "echo x > \"$FACTORY_OUT/file\""),
        probe("work", "echo x > \"$FACTORY_WORK/file\""),
        probe("home", "echo x > \"$HOME/.cache-file\""),
        probe("src", "echo x > \"$FACTORY_SRC/injected\""),
        probe("src-modify", "echo x >> \"$FACTORY_SRC/main.c\""),
        probe("usr", "touch /usr/factory-escape"),
        probe("etc", "touch /etc/factory-escape"),
        // Host paths outside the build are either invisible or read-only;
        // whatever the sandbox does with this, the host dir must stay empty.
        format!("mkdir -p {elsewhere} 2>/dev/null; echo x > {elsewhere}/escape 2>/dev/null; true"),
    ]
    .join("\n");
    let (result, out) = run_in(
        &sandbox,
        scratch.path(),
        shell("writes", &[&script]),
        Some(&source),
    )
    .await;
    let outcome = result.unwrap();
    let lines = stdout_of(&outcome.log);
    for expected in [
        "out:ok",
        "work:ok",
        "home:ok",
        "src:denied",
        "src-modify:denied",
        "usr:denied",
        "etc:denied",
    ] {
        assert!(
            lines.contains(&expected),
            "expected {expected} in {lines:?}"
        );
    }
    assert!(out.join("file").is_file());
    assert!(!source.join("injected").exists());
    assert_eq!(
        fs_err::read_to_string(source.join("main.c")).unwrap(),
        "int main(void){return 0;}\n"
    );
    assert!(!Path::new("/usr/factory-escape").exists());
    assert!(!Path::new("/etc/factory-escape").exists());
    assert_eq!(
        fs_err::read_dir(&host_elsewhere).unwrap().count(),
        0,
        "build wrote into the host"
    );
}

#[tokio::test]
async fn only_declared_inputs_are_visible_and_read_only() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let dep = scratch.path().join("dep-output");
    write(&dep.join("include/greet.h"), "void greet(void);\n");
    let undeclared = scratch.path().join("undeclared");
    write(&undeclared.join("secret"), "s3cret\n");

    let script = [
        "cat \"$FACTORY_INPUT_LIB_GREET/include/greet.h\"".to_string(),
        probe("input-write", "touch \"$FACTORY_INPUT_LIB_GREET/new\""),
        probe(
            "undeclared",
            &format!("cat {}/secret", undeclared.display()),
        ),
        probe("home-dirs", "ls /root /home /var"),
        "echo input-at:$FACTORY_INPUT_LIB_GREET".to_string(),
    ]
    .join("\n");
    let runner = BuildRunner::new(sandbox, scratch.path().join("work"));
    let mut request = BuildRequest::new(shell("inputs", &[&script]), scratch.path().join("out"));
    request.inputs = BTreeMap::from([("lib-greet".to_string(), dep.clone())]);
    let outcome = runner.run(request).await.unwrap();
    let lines = stdout_of(&outcome.log);
    for expected in [
        "void greet(void);",
        "input-write:denied",
        "undeclared:denied",
        "home-dirs:denied",
        "input-at:/build/inputs/lib-greet",
    ] {
        assert!(
            lines.contains(&expected),
            "expected {expected} in {lines:?}"
        );
    }
    assert!(!dep.join("new").exists());
    assert_eq!(
        outcome.layout.inputs["lib-greet"],
        Path::new("/build/inputs/lib-greet")
    );
}

/// The exact environment a build sees, one `NAME=value` per line.
async fn environment_seen(sandbox: &Sandbox) -> BTreeMap<String, String> {
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("src");
    fs_err::create_dir(&source).unwrap();
    let mut spec = BuildSpec::new("env", vec![BuildCommand::Argv(vec!["env".into()])]);
    spec.env.insert("CFLAGS".into(), "-O2 -g".into());
    spec.source_date_epoch = 1_700_000_000;
    let (result, _) = run_in(sandbox, scratch.path(), spec, Some(&source)).await;
    stdout_of(&result.unwrap().log)
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn assert_clean_environment(env: &BTreeMap<String, String>) {
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "CFLAGS",
            "FACTORY_OUT",
            "FACTORY_SRC",
            "FACTORY_WORK",
            "HOME",
            "LANG",
            "LC_ALL",
            "PATH",
            "PWD",
            "SOURCE_DATE_EPOCH",
            "TMPDIR",
            "TZ"
        ],
        "nothing from the host environment may leak in"
    );
    assert_eq!(env["CFLAGS"], "-O2 -g");
    assert_eq!(env["SOURCE_DATE_EPOCH"], "1700000000");
    assert_eq!(env["TZ"], "UTC");
    assert_eq!(env["LANG"], "C.UTF-8");
    assert_eq!(env["HOME"], env["FACTORY_WORK"]);
    assert_eq!(env["PWD"], env["FACTORY_WORK"]);
}

#[tokio::test]
async fn environment_is_clean_and_fixed_in_the_sandbox() {
    // The test process has plenty of variables (cargo sets CARGO_* for tests).
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let env = environment_seen(&bwrap().await).await;
    assert_clean_environment(&env);
    assert_eq!(env["HOME"], "/build/work");
    assert_eq!(env["FACTORY_SRC"], "/build/src");
}

#[tokio::test]
async fn environment_is_clean_without_the_sandbox_too() {
    let env = environment_seen(&Sandbox::plain()).await;
    assert_clean_environment(&env);
    assert!(env["FACTORY_SRC"].ends_with("/src"));
}

async fn timeout_kills_group(sandbox: Sandbox, marker: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let mut spec = shell("hangs", &[&format!("sleep {marker} & sleep {marker}1")]);
    spec.timeout = Some(Duration::from_millis(800));
    let started = Instant::now();
    let (result, _) = run_in(&sandbox, scratch.path(), spec, None).await;
    let failure = result.unwrap_err();
    assert!(
        matches!(failure.error, BuildError::TimedOut { index: 0, .. }),
        "{:?}",
        failure.error
    );
    assert_eq!(failure.error.fault(), Fault::Input);
    assert!(!failure.error.is_cancelled());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_no_process_left(marker).await;
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group_in_the_sandbox() {
    timeout_kills_group(bwrap().await, "987601").await;
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group_without_sandbox() {
    timeout_kills_group(Sandbox::plain(), "987602").await;
}

async fn cancel_kills_group(sandbox: Sandbox, marker: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let runner = BuildRunner::new(sandbox, scratch.path().join("work"));
    let mut request = BuildRequest::new(
        shell("cancelled", &[&format!("sleep {marker} & sleep {marker}1")]),
        scratch.path().join("out"),
    );
    let cancel = CancellationToken::new();
    request.cancel = cancel.clone();
    let build = tokio::spawn(async move { runner.run(request).await });
    // Wait until the build really runs before cancelling.
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::live_processes_with(&format!("sleep {marker}1")).is_empty() {
        assert!(Instant::now() < deadline, "build never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let failure = build.await.unwrap().unwrap_err();
    assert!(matches!(failure.error, BuildError::Cancelled { .. }));
    assert!(failure.error.is_cancelled());
    assert!(!failure.error.is_retryable());
    assert_no_process_left(marker).await;
}

#[tokio::test]
async fn cancellation_kills_the_whole_process_group_in_the_sandbox() {
    cancel_kills_group(bwrap().await, "987603").await;
}

#[tokio::test]
async fn cancellation_kills_the_whole_process_group_without_sandbox() {
    cancel_kills_group(Sandbox::plain(), "987604").await;
}

async fn finished_command_leaves_nothing(sandbox: Sandbox, marker: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (result, _) = run_in(
        &sandbox,
        scratch.path(),
        shell("leaky", &[&format!("sleep {marker} & echo done")]),
        None,
    )
    .await;
    let outcome = result.unwrap();
    assert!(stdout_of(&outcome.log).contains(&"done"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the build waited for its background child"
    );
    assert_no_process_left(marker).await;
}

#[tokio::test]
async fn background_children_of_a_finished_build_are_killed_in_the_sandbox() {
    finished_command_leaves_nothing(bwrap().await, "987605").await;
}

#[tokio::test]
async fn background_children_of_a_finished_build_are_killed_without_sandbox() {
    finished_command_leaves_nothing(Sandbox::plain(), "987606").await;
}

#[tokio::test]
async fn logs_are_delivered_while_the_build_runs() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<LogLine>();
    let runner = BuildRunner::new(sandbox, scratch.path().join("work"));
    let mut request = BuildRequest::new(
        shell(
            "chatty",
            &[
                "echo first; echo oops >&2; sleep 4; echo second",
                "printf 'no newline'",
            ],
        ),
        scratch.path().join("out"),
    );
    let log_path = scratch.path().join("build.log");
    let log_file: Arc<dyn LogSink> = Arc::new(LogFile::create(&log_path).unwrap());
    let channel: Arc<dyn LogSink> = Arc::new(tx);
    request.sink = Some(Arc::new(vec![channel, log_file]));
    let build = tokio::spawn(async move { runner.run(request).await });

    let mut early = Vec::new();
    while early.len() < 3 {
        let line = tokio::time::timeout(Duration::from_millis(3000), rx.recv())
            .await
            .expect("log lines must arrive while the command still sleeps")
            .unwrap();
        early.push(line);
    }
    assert!(
        !build.is_finished(),
        "lines arrived only after the build ended"
    );
    assert_eq!(early[0].stream, LogStream::Factory);
    let mut first_two: Vec<(LogStream, &str)> = early[1..]
        .iter()
        .map(|l| (l.stream, l.text.as_str()))
        .collect();
    first_two.sort_by_key(|(s, _)| *s as u8);
    assert_eq!(
        first_two,
        [(LogStream::Stdout, "first"), (LogStream::Stderr, "oops")]
    );

    let outcome = build.await.unwrap().unwrap();
    let texts: Vec<(usize, &str)> = outcome
        .log
        .iter()
        .filter(|l| l.stream != LogStream::Factory)
        .map(|l| (l.command, l.text.as_str()))
        .collect();
    assert!(texts.contains(&(0, "second")));
    assert!(
        texts.contains(&(1, "no newline")),
        "a last line without newline is kept"
    );
    // The sink saw exactly the returned log, in the same order.
    let mut streamed = early;
    while let Ok(line) = rx.try_recv() {
        streamed.push(line);
    }
    assert_eq!(streamed, outcome.log);
    let file_lines: Vec<String> = fs_err::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let log_lines: Vec<String> = outcome.log.iter().map(|l| l.text.clone()).collect();
    assert_eq!(file_lines, log_lines);
}

#[tokio::test]
async fn endless_lines_are_split_instead_of_growing_without_bound() {
    let scratch = tempfile::tempdir().unwrap();
    // 200 KiB without a newline.
    let spec = shell("noisy", &["head -c 204800 /dev/zero | tr '\\0' x"]);
    let (result, _) = run_in(&bwrap().await, scratch.path(), spec, None).await;
    let outcome = result.unwrap();
    let chunks: Vec<usize> = outcome
        .log
        .iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.text.len())
        .collect();
    assert_eq!(chunks, [65536, 65536, 65536, 8192]);
}

#[tokio::test]
async fn failing_command_is_the_builds_own_failure_with_command_and_exit_code() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let (result, _) = run_in(
        &sandbox,
        scratch.path(),
        shell(
            "fails",
            &["true", "echo about to fail; exit 3", "echo never"],
        ),
        None,
    )
    .await;
    let failure = result.unwrap_err();
    match &failure.error {
        BuildError::CommandFailed {
            index,
            command,
            status,
            ..
        } => {
            assert_eq!(*index, 1);
            assert_eq!(command, "echo about to fail; exit 3");
            assert_eq!(*status, ExitKind::Code(3));
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    assert!(!failure.error.is_retryable());
    assert!(stdout_of(&failure.log).contains(&"about to fail"));
    assert!(
        !stdout_of(&failure.log).contains(&"never"),
        "commands after a failure must not run"
    );
    assert!(failure.error.to_string().contains("exit code 3"));
}

#[tokio::test]
async fn missing_tool_is_a_retryable_infrastructure_failure() {
    for sandbox in [bwrap().await, Sandbox::plain()] {
        let scratch = tempfile::tempdir().unwrap();
        let spec = BuildSpec::new(
            "no-tool",
            vec![BuildCommand::Argv(vec!["factory-no-such-tool".into()])],
        );
        let (result, _) = run_in(&sandbox, scratch.path(), spec, None).await;
        let failure = result.unwrap_err();
        assert!(
            matches!(&failure.error, BuildError::Infrastructure(InfraError::ToolMissing { tool, .. }) if tool == "factory-no-such-tool"),
            "{:?} with {sandbox:?}",
            failure.error
        );
        assert!(failure.error.is_retryable());
    }
}

#[tokio::test]
async fn broken_sandbox_setup_is_an_infrastructure_failure() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    // A source that vanished between planning and running: bwrap cannot bind it.
    let dirs = HostDirs {
        work: scratch.path().to_path_buf(),
        out: scratch.path().to_path_buf(),
        source: Some(scratch.path().join("vanished")),
        inputs: BTreeMap::new(),
    };
    let spec = shell("setup", &["true"]);
    let report = execute(
        &sandbox,
        ExecRequest {
            spec: &spec,
            dirs: &dirs,
            sink: None,
            cancel: CancellationToken::new(),
            stdin: None,
            in_source: false,
        },
    )
    .await;
    let error = report.result.unwrap_err();
    assert!(
        matches!(&error, BuildError::Infrastructure(InfraError::SandboxSetup { message }) if message.contains("vanished")),
        "{error:?}"
    );
    assert!(error.is_retryable());

    // bubblewrap itself missing.
    let gone = Sandbox::bubblewrap("/nonexistent/bwrap");
    let report = execute(
        &gone,
        ExecRequest {
            spec: &spec,
            dirs: &dirs,
            sink: None,
            cancel: CancellationToken::new(),
            stdin: None,
            in_source: false,
        },
    )
    .await;
    assert!(matches!(
        report.result,
        Err(BuildError::Infrastructure(InfraError::ToolMissing {
            in_sandbox: false,
            ..
        }))
    ));
}

#[tokio::test]
async fn runner_checks_its_directories_and_declared_outputs() {
    let sandbox = bwrap().await;
    let scratch = tempfile::tempdir().unwrap();
    let runner = BuildRunner::new(sandbox, scratch.path().join("work"));

    let mut spec = shell(
        "partial",
        &[
            "mkdir -p $FACTORY_OUT/bin $FACTORY_WORK/tmp && touch $FACTORY_OUT/bin/tool $FACTORY_WORK/tmp/left-behind",
        ],
    );
    spec.outputs = vec!["bin/tool".into(), "share/doc/README".into()];
    let failure = runner
        .run(BuildRequest::new(spec, scratch.path().join("out1")))
        .await
        .unwrap_err();
    assert!(
        matches!(&failure.error, BuildError::MissingOutput { path, .. } if path == "share/doc/README")
    );
    assert_eq!(failure.error.fault(), Fault::Input);
    assert!(!failure.error.is_cancelled());

    let mut request = BuildRequest::new(shell("src", &["true"]), scratch.path().join("out2"));
    request.source = Some(scratch.path().join("vanished-source"));
    let failure = runner.run(request).await.unwrap_err();
    assert!(
        matches!(&failure.error, BuildError::Infrastructure(InfraError::Io { path, .. }) if path.ends_with("vanished-source"))
    );

    let stale = scratch.path().join("stale");
    write(&stale.join("old-output"), "old");
    let failure = runner
        .run(BuildRequest::new(shell("stale", &["true"]), &stale))
        .await
        .unwrap_err();
    assert!(
        failure.error.to_string().contains("must be empty"),
        "{}",
        failure.error
    );

    let mut bad = shell("bad", &["true"]);
    bad.outputs = vec!["../escape".into()];
    let failure = runner
        .run(BuildRequest::new(bad, scratch.path().join("out3")))
        .await
        .unwrap_err();
    assert!(matches!(failure.error, BuildError::InvalidSpec { .. }));

    // Work directories are private, emptied after each build for the next one, and removed
    // with the runner.
    let work_dirs: Vec<_> = fs_err::read_dir(scratch.path().join("work"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!work_dirs.is_empty());
    for dir in &work_dirs {
        assert_eq!(
            fs_err::read_dir(dir).unwrap().count(),
            0,
            "{dir:?} was not emptied"
        );
    }
    drop(runner);
    assert_eq!(
        fs_err::read_dir(scratch.path().join("work"))
            .unwrap()
            .count(),
        0
    );
}

/// A real compile in the sandbox: the fixed in-sandbox paths make the
/// output independent of where the host keeps its directories.
#[tokio::test]
async fn compiling_in_the_sandbox_is_reproducible_across_host_directories() {
    let sandbox = bwrap().await;
    let mut digests = Vec::new();
    for _ in 0..2 {
        let scratch = tempfile::tempdir().unwrap();
        let source = scratch.path().join("src");
        write(
            &source.join("hello.c"),
            "#include <stdio.h>\nint main(void){puts(\"hello \" __FILE__);return 0;}\n",
        );
        let mut spec = shell(
            "hello",
            &["cc -g -O1 -o $FACTORY_OUT/hello $FACTORY_SRC/hello.c"],
        );
        spec.outputs = vec!["hello".into()];
        let (result, out) = run_in(&sandbox, scratch.path(), spec, Some(&source)).await;
        result.unwrap_or_else(|f| panic!("{f}: {:?}", f.log));
        let printed = common::run_tool(out.join("hello").to_str().unwrap(), &[]);
        assert_eq!(printed, "hello /build/src/hello.c\n");
        digests.push(digest_tree(&out).unwrap());
    }
    assert_eq!(digests[0], digests[1]);
}

#[tokio::test]
async fn a_build_cancelled_before_it_starts_runs_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let runner = BuildRunner::new(Sandbox::plain(), scratch.path().join("work"));
    let out = scratch.path().join("out");
    let request = BuildRequest::new(shell("early", &["touch $FACTORY_OUT/ran"]), &out);
    request.cancel.cancel();
    let failure = runner.run(request).await.unwrap_err();
    assert!(matches!(failure.error, BuildError::Cancelled { .. }));
    assert!(!out.join("ran").exists());
}

/// A command may read a file as its standard input and run in its (read-only) source
/// directory: what a hook of the definition is given, in both kinds of sandbox.
#[tokio::test]
async fn standard_input_from_a_file_and_the_source_as_working_directory() {
    for sandbox in [bwrap().await, Sandbox::plain()] {
        let scratch = tempfile::tempdir().unwrap();
        let source = scratch.path().join("def");
        write(&source.join("hooks/say.sh"), "echo script:ran\n");
        let input = scratch.path().join("event.json");
        write(&input, "{\"topic\":\"build.failed\"}\n");
        let dirs = HostDirs {
            work: scratch.path().join("work"),
            out: scratch.path().join("out"),
            source: Some(source.clone()),
            inputs: BTreeMap::new(),
        };
        fs_err::create_dir_all(&dirs.work).unwrap();
        fs_err::create_dir_all(&dirs.out).unwrap();
        let spec = shell(
            "hook",
            &[
                "cat",
                "sh hooks/say.sh",
                "test \"$PWD\" = \"$FACTORY_SRC\" && echo pwd:ok",
                "touch here 2>/dev/null && echo write:ok || echo write:denied",
            ],
        );
        let report = execute(
            &sandbox,
            ExecRequest {
                spec: &spec,
                dirs: &dirs,
                sink: None,
                cancel: CancellationToken::new(),
                stdin: Some(&input),
                in_source: true,
            },
        )
        .await;
        report.result.unwrap();
        let out = stdout_of(&report.log);
        assert_eq!(
            out[..3],
            ["{\"topic\":\"build.failed\"}", "script:ran", "pwd:ok"]
        );
        // bubblewrap shows the source read-only; a plain process is not isolated.
        let write = if sandbox.is_isolated() {
            "write:denied"
        } else {
            "write:ok"
        };
        assert_eq!(out[3], write, "{}", sandbox.describe());
    }
}
