//! Crash durability: a child process appends as fast as it can and reports every
//! acknowledged sequence number; it is killed with SIGKILL at an arbitrary moment, the store
//! is reopened, and every acknowledged event must be there, with no gap, and the projections
//! must equal a replay of the log. Repeated on the same store, as a restarted factory would.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{change, log, queued};
use factory_store::{BuildId, Event, Seq, Store};

const DIR_VAR: &str = "FACTORY_STORE_CRASH_DIR";

/// Not a test by itself: the process the crash test starts and kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for acknowledged_events_survive_sigkill"]
async fn crash_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the crash test only");
    let store = Store::open(std::path::Path::new(&dir)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for t in 0..16 {
        let db = store.backend();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let seqs = if i % 10 == 0 {
                    let build: BuildId = db
                        .append_one(queued(None, &format!("c{t}"), &format!("k{t}-{i}")))
                        .await
                        .unwrap()
                        .into();
                    let mut seqs = vec![Seq(build.0)];
                    seqs.extend(
                        db.append(vec![
                            Event::BuildStarted { build, attempt: 1 },
                            log(build, "line\n"),
                        ])
                        .await
                        .unwrap(),
                    );
                    seqs
                } else {
                    vec![
                        db.append_one(change(&format!("c{t}"), &i.to_string()))
                            .await
                            .unwrap(),
                    ]
                };
                let mut out = std::io::stdout().lock();
                for seq in seqs {
                    writeln!(out, "ACK {}", seq.0).unwrap();
                }
                out.flush().unwrap();
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn run_and_kill(dir: &std::path::Path, kill_after_acks: usize) -> BTreeSet<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = BTreeSet::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(seq) = line.strip_prefix("ACK ") {
            acked.insert(seq.parse::<u64>().unwrap());
        }
        if !killed && acked.len() >= kill_after_acks {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the child ended by itself: {status:?}");
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut all_acked = BTreeSet::new();
    // Different kill points; a cheap pseudo-random spread without a dependency.
    let seed = std::process::id() as usize;
    for round in 0..4 {
        let kill_after = 300 + (seed.wrapping_mul(2654435761).wrapping_add(round * 977)) % 3000;
        let acked = run_and_kill(dir.path(), kill_after);
        assert!(acked.len() >= kill_after);
        all_acked.extend(acked);

        let store = Store::open(dir.path()).await.unwrap();
        let db = store.db();
        let last = db.last_seq().await.unwrap().0;
        let mut seen = Vec::new();
        let mut after = Seq(0);
        loop {
            let page = db.events_since(after, 5000).await.unwrap();
            let Some(end) = page.last() else { break };
            after = end.seq;
            seen.extend(page.iter().map(|e| e.seq.0));
        }
        assert_eq!(
            seen,
            (1..=last).collect::<Vec<u64>>(),
            "gap after round {round}"
        );
        let missing: Vec<&u64> = all_acked.iter().filter(|s| **s > last).collect();
        assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
        // The projections committed with the events agree with a replay of the log.
        let before = db.dump_projections().await.unwrap();
        db.rebuild_projections().await.unwrap();
        assert_eq!(db.dump_projections().await.unwrap(), before);
        store.close().await;
    }
}
