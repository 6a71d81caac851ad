//! A `factory` that serves HTTP (`up --listen 127.0.0.1:0`, `demo --serve`), with the address
//! it printed and everything it writes to standard error kept for the test to read.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::process::interrupt;

/// A running, serving factory. Dropping it kills the process.
pub struct Served {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    /// Takes over `child` (spawned with standard error piped) and waits until it prints the
    /// address it serves on. Standard error is read all along, so the process never blocks
    /// on a full pipe.
    pub fn new(mut child: Child) -> Served {
        let stderr = child
            .stderr
            .take()
            .expect("the serving factory started with its standard error piped");
        let said = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = served_address(&line) {
                    let _ = tx.send(addr);
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(120)) else {
            let _ = child.kill();
            panic!(
                "the factory never said where it serves:\n{}",
                said.lock().unwrap()
            );
        };
        Served {
            child: Some(child),
            addr,
            stderr: said,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` and `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything written to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until standard error contains `needle`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) {
        let started = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                started.elapsed() < timeout,
                "timed out waiting for {needle:?} on standard error:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C, then waits for the exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        interrupt(child.id());
        child.wait().expect("the factory exits")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The address in the line `serving http://ADDR/ ...`.
fn served_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split("serving http://").nth(1)?;
    rest.split('/').next()?.parse().ok()
}
