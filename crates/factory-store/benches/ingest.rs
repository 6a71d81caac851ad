//! Event-log ingest benchmark: durable events per second through the factory store, beside
//! the same SQLite driven directly (rusqlite) and the `sqlite3` command-line tool, with the
//! same rows and the same durability settings (WAL, synchronous=FULL).
//!
//! Run: `cargo bench -p factory-store --bench ingest` (optional argument: events per run).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use factory_store::{BuildId, BuildKey, Digest, Event, LogStream, Seq, Store, WireEvent};

const LOG_LINE: &str =
    "cc -O2 -g -Wall -c src/greet.c -o build/greet.o  # compiling libgreet 1.2.3\n";

fn log_event(build: BuildId, i: usize) -> Event {
    Event::BuildLog {
        build,
        stream: LogStream::Stdout,
        chunk: format!("{i:>8} {LOG_LINE}"),
    }
}

struct Figure {
    name: String,
    events: usize,
    elapsed: Duration,
}

impl Figure {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

fn print(figure: &Figure) {
    println!(
        "{:<72} {:>9} events {:>8.3} s {:>12.0} events/s",
        figure.name,
        figure.events,
        figure.elapsed.as_secs_f64(),
        figure.rate()
    );
}

async fn queue_builds(store: &Store, count: usize) -> Vec<BuildId> {
    let events = (0..count)
        .map(|i| Event::BuildQueued {
            wave: None,
            component: format!("c{i}"),
            key: Some(BuildKey(Digest::of(format!("key{i}").as_bytes()))),
            reason: "bench".into(),
            inputs: BTreeMap::new(),
        })
        .collect();
    let seqs = store.db().append(events).await.expect("queue builds");
    seqs.into_iter().map(BuildId::from).collect()
}

/// `producers` tasks, each appending one event at a time and awaiting its durable ack.
async fn one_at_a_time(store: &Store, producers: usize, total: usize) -> Figure {
    let builds = queue_builds(store, producers).await;
    let per = total / producers;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for build in builds {
        let db = store.backend();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                db.append_one(log_event(build, i)).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("producer");
    }
    Figure {
        name: format!("factory: {producers} producers, each awaits every append"),
        events: per * producers,
        elapsed: start.elapsed(),
    }
}

/// Latency of one durable append when nothing else is appending (median and 99th percentile).
async fn idle_latency(store: &Store, appends: usize) -> (Duration, Duration) {
    let build = queue_builds(store, 1).await[0];
    let mut samples = Vec::with_capacity(appends);
    for i in 0..appends {
        let start = Instant::now();
        store
            .db()
            .append_one(log_event(build, i))
            .await
            .expect("append");
        samples.push(start.elapsed());
    }
    samples.sort();
    (samples[appends / 2], samples[appends * 99 / 100])
}

/// `producers` tasks, each keeping up to `window` single-event appends in flight.
async fn pipelined(store: &Store, producers: usize, window: usize, total: usize) -> Figure {
    let builds = queue_builds(store, producers).await;
    let per = total / producers;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for build in builds {
        let db = store.backend();
        tasks.push(tokio::spawn(async move {
            let mut in_flight = std::collections::VecDeque::new();
            for i in 0..per {
                in_flight.push_back(db.submit(vec![log_event(build, i)]));
                if in_flight.len() >= window {
                    in_flight
                        .pop_front()
                        .expect("window")
                        .await
                        .expect("append");
                }
            }
            for ack in in_flight {
                ack.await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("producer");
    }
    Figure {
        name: format!(
            "factory: {producers} producers, {window} single-event appends in flight each"
        ),
        events: per * producers,
        elapsed: start.elapsed(),
    }
}

/// A whole build lifecycle per producer: queue, start, logs, artifact, success.
async fn lifecycles(store: &Store, producers: usize, builds_per: usize, logs: usize) -> Figure {
    let start = Instant::now();
    let before = store.db().last_seq().await.expect("last seq");
    let mut tasks = Vec::new();
    for p in 0..producers {
        let db = store.backend();
        tasks.push(tokio::spawn(async move {
            for b in 0..builds_per {
                let id: BuildId = db
                    .append_one(Event::BuildQueued {
                        wave: None,
                        component: format!("p{p}"),
                        key: Some(BuildKey(Digest::of(format!("p{p}b{b}").as_bytes()))),
                        reason: "bench".into(),
                        inputs: BTreeMap::from([("source".into(), format!("rev{b}"))]),
                    })
                    .await
                    .expect("queue")
                    .into();
                let mut events = vec![Event::BuildStarted {
                    build: id,
                    attempt: 1,
                }];
                let acks: Vec<_> = (0..logs)
                    .map(|i| db.submit(vec![log_event(id, i)]))
                    .collect();
                events.push(Event::ArtifactStored {
                    digest: factory_store::Digest::of(format!("p{p}b{b}").as_bytes()),
                    name: "out.deb".into(),
                    kind: "deb".into(),
                    size: 1000,
                    build: Some(id),
                });
                for ack in acks {
                    ack.await.expect("log");
                }
                db.append(events).await.expect("start");
                db.append_one(Event::BuildSucceeded {
                    build: id,
                    outputs: vec![],
                })
                .await
                .expect("succeed");
            }
        }));
    }
    for task in tasks {
        task.await.expect("producer");
    }
    let after = store.db().last_seq().await.expect("last seq");
    Figure {
        name: format!("factory: {producers} producers, build lifecycles ({logs} log chunks each)"),
        events: (after.0 - before.0) as usize,
        elapsed: start.elapsed(),
    }
}

const PEER_SCHEMA: &str = "CREATE TABLE events (seq INTEGER PRIMARY KEY, recorded_at_ms INTEGER NOT NULL, \
    kind TEXT NOT NULL, schema_version INTEGER NOT NULL, build_id INTEGER, body TEXT NOT NULL) STRICT;";

fn peer_rows(count: usize) -> Vec<WireEvent> {
    (0..count)
        .map(|i| WireEvent::encode(&log_event(BuildId(1), i)))
        .collect()
}

fn rusqlite_open(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch(PEER_SCHEMA).expect("schema");
    conn
}

/// The same rows inserted with rusqlite, one transaction (one durable commit) per event.
fn rusqlite_per_event(dir: &Path, count: usize) -> Figure {
    let conn = rusqlite_open(&dir.join("peer-per-event.db"));
    let rows = peer_rows(count);
    let start = Instant::now();
    let mut stmt = conn
        .prepare("INSERT INTO events (seq, recorded_at_ms, kind, schema_version, build_id, body) VALUES (?1, 0, ?2, ?3, 1, ?4)")
        .expect("prepare");
    for (i, row) in rows.iter().enumerate() {
        stmt.execute(rusqlite::params![
            i as i64 + 1,
            row.kind,
            row.schema_version,
            row.body
        ])
        .expect("insert");
    }
    Figure {
        name: "peer: rusqlite, one transaction per event".into(),
        events: count,
        elapsed: start.elapsed(),
    }
}

/// The same rows inserted with rusqlite in one transaction: raw SQLite's ceiling.
fn rusqlite_one_transaction(dir: &Path, count: usize) -> Figure {
    let mut conn = rusqlite_open(&dir.join("peer-batched.db"));
    let rows = peer_rows(count);
    let start = Instant::now();
    let tx = conn.transaction().expect("begin");
    {
        let mut stmt = tx
            .prepare("INSERT INTO events (seq, recorded_at_ms, kind, schema_version, build_id, body) VALUES (?1, 0, ?2, ?3, 1, ?4)")
            .expect("prepare");
        for (i, row) in rows.iter().enumerate() {
            stmt.execute(rusqlite::params![
                i as i64 + 1,
                row.kind,
                row.schema_version,
                row.body
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
    Figure {
        name: "peer: rusqlite, all events in one transaction".into(),
        events: count,
        elapsed: start.elapsed(),
    }
}

/// The same rows fed to the `sqlite3` tool as SQL text, autocommit (one commit per row) or
/// wrapped in one transaction.
fn sqlite3_cli(dir: &Path, count: usize, one_transaction: bool) -> Option<Figure> {
    let db = dir.join(if one_transaction {
        "cli-batched.db"
    } else {
        "cli-per-event.db"
    });
    let mut script = String::from("PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n");
    script.push_str(PEER_SCHEMA);
    script.push('\n');
    if one_transaction {
        script.push_str("BEGIN;\n");
    }
    for (i, row) in peer_rows(count).iter().enumerate() {
        script.push_str(&format!(
            "INSERT INTO events VALUES ({}, 0, '{}', {}, 1, '{}');\n",
            i + 1,
            row.kind,
            row.schema_version,
            row.body.replace('\'', "''")
        ));
    }
    if one_transaction {
        script.push_str("COMMIT;\n");
    }
    let start = Instant::now();
    let mut child = match Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            println!("sqlite3 tool not run: {err}");
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("feed sqlite3");
    let status = child.wait().expect("sqlite3");
    assert!(status.success(), "sqlite3 failed");
    Some(Figure {
        name: format!(
            "peer: sqlite3 tool, {}",
            if one_transaction {
                "one transaction"
            } else {
                "one transaction per event"
            }
        ),
        events: count,
        elapsed: start.elapsed(),
    })
}

fn main() {
    // `cargo bench` passes `--bench`; the first numeric argument, if any, sets the size.
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let peer_per_event = (total / 100).clamp(500, 2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "durable event ingest (WAL, synchronous=FULL) in {}",
        dir.path().display()
    );

    let mut figures = Vec::new();
    runtime.block_on(async {
        for (name, producers) in [("await-256", 256usize), ("await-1024", 1024)] {
            let store = Store::open(&dir.path().join(name)).await.expect("open");
            figures.push(one_at_a_time(&store, producers, total).await);
            print(figures.last().expect("figure"));
            verify_gap_free(&store).await;
        }
        let store = Store::open(&dir.path().join("latency"))
            .await
            .expect("open");
        let (median, p99) = idle_latency(&store, 300).await;
        println!(
            "factory: one append alone, durable: median {} us, p99 {} us",
            median.as_micros(),
            p99.as_micros()
        );
        let store = Store::open(&dir.path().join("pipelined"))
            .await
            .expect("open");
        figures.push(pipelined(&store, 16, 256, total).await);
        print(figures.last().expect("figure"));
        verify_gap_free(&store).await;
        let store = Store::open(&dir.path().join("lifecycle"))
            .await
            .expect("open");
        figures.push(lifecycles(&store, 64, total / 64 / 54, 50).await);
        print(figures.last().expect("figure"));
        verify_gap_free(&store).await;
    });

    let per_event = rusqlite_per_event(dir.path(), peer_per_event);
    print(&per_event);
    let batched = rusqlite_one_transaction(dir.path(), total);
    print(&batched);
    let cli_per_event = sqlite3_cli(dir.path(), peer_per_event, false);
    cli_per_event.iter().for_each(print);
    let cli_batched = sqlite3_cli(dir.path(), total, true);
    cli_batched.iter().for_each(print);

    println!();
    for figure in &figures {
        println!(
            "{:<72} {:>7.1}x rusqlite per-event, {:.2}x rusqlite one-transaction",
            figure.name,
            figure.rate() / per_event.rate(),
            figure.rate() / batched.rate()
        );
    }
}

async fn verify_gap_free(store: &Store) {
    let last = store.db().last_seq().await.expect("last");
    let mut expected = 1;
    let mut after = Seq(0);
    loop {
        let page = store.db().events_since(after, 10_000).await.expect("read");
        let Some(end) = page.last() else { break };
        after = end.seq;
        for event in page {
            assert_eq!(event.seq.0, expected, "gap in the log");
            expected += 1;
        }
    }
    assert_eq!(expected - 1, last.0);
}
