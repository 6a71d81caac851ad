//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use factory_exec::{BuildCommand, BuildSpec, Sandbox};

/// The real bubblewrap sandbox. The tests need it installed (CI installs the
/// `bubblewrap` package); without it they fail rather than silently test less.
pub(crate) async fn bwrap() -> Sandbox {
    let sandbox = Sandbox::detect().await;
    assert!(
        sandbox.is_isolated(),
        "bubblewrap is required for these tests: apt-get install bubblewrap"
    );
    sandbox
}

pub(crate) fn shell(name: &str, scripts: &[&str]) -> BuildSpec {
    BuildSpec::new(
        name,
        scripts
            .iter()
            .map(|s| BuildCommand::Shell(s.to_string()))
            .collect(),
    )
}

/// Live (non-zombie) processes whose command line contains `marker`.
pub(crate) fn live_processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // Zombies have an empty command line, and are already dead anyway.
        let Ok(cmdline) = fs_err::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push(format!("{}: {cmdline}", name.to_string_lossy()));
        }
    }
    found
}

/// Waits until no live process carries `marker`, or fails the test listing them.
pub(crate) async fn assert_no_process_left(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = live_processes_with(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn write(path: &Path, contents: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, contents).unwrap();
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs a host tool, failing the test with its stderr if it fails.
pub(crate) fn run_tool(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
