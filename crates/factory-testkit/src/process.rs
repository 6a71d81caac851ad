//! A `factory up` running in the foreground.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStderr, Command};

use crate::command::ok;

/// Waits until the foreground `factory up` says it is watching (its first wave is done).
/// Returns its standard error, which the caller must keep: once the reading end is closed,
/// the next line `factory up` writes there kills it (the binary restores SIGPIPE).
pub fn watching(up: &mut Child) -> BufReader<ChildStderr> {
    let stderr = up
        .stderr
        .take()
        .expect("factory up started with its standard error piped");
    let mut stderr = BufReader::new(stderr);
    let mut said = String::new();
    while !said.lines().any(|l| l.contains("watching")) {
        let read = stderr.read_line(&mut said).unwrap();
        assert!(read > 0, "factory up ended before watching:\n{said}");
    }
    stderr
}

/// Sends SIGINT (what Ctrl-C sends) to `pid`.
pub fn interrupt(pid: u32) {
    ok(Command::new("kill").args(["-INT", &pid.to_string()]));
}
