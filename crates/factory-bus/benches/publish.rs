//! The relay's throughput: N events (a wave's mix: builds queued, started, logging and
//! succeeding) from a store to the local RabbitMQ with publisher confirms, into a durable
//! queue, timed from the relay's start to the broker's last ack. Then the peer: pika
//! publishing the same messages with confirms and the same window (`pika_publish.py`), when
//! python3 has pika. `cargo bench -p factory-bus --bench publish`; FACTORY_BENCH_EVENTS sets N
//! (default 200,000), FACTORY_BENCH_QUEUE the queue the messages go to: `durable` (the
//! default, as a consumer that must not miss a message binds), `transient`, or `none` (no
//! queue: the broker drops them, which measures the publishers rather than the broker);
//! FACTORY_BENCH_WINDOW the messages in flight (default the relay's, 4,096).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use factory_bus::{Encoder, Relay, RelayConfig};
use factory_store::{BuildId, BuildOutput, Digest, Event, LogStream, Seq, Store};
use lapin::options::{
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
const QUEUE: &str = "factory-bench";
const PREFIX: &str = "factorybench";

fn main() {
    let events: u64 = std::env::var("FACTORY_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(events));
}

/// One build's events: queued, started, `logs` lines, succeeded.
fn build_events(first_seq: u64, component: usize, logs: usize) -> Vec<Event> {
    let build = BuildId(first_seq);
    let mut events = vec![
        Event::BuildQueued {
            wave: None,
            component: format!("component-{component}"),
            key: Some(factory_store::BuildKey(Digest::of(
                format!("k{component}").as_bytes(),
            ))),
            reason: "input libgreet changed".into(),
            inputs: BTreeMap::from([("source".into(), format!("rev-{component}"))]),
        },
        Event::BuildStarted { build, attempt: 1 },
    ];
    for line in 0..logs {
        events.push(Event::BuildLog {
            build,
            stream: LogStream::Stdout,
            chunk: format!("gcc -O2 -c src/file{line}.c -o build/file{line}.o\n"),
        });
    }
    events.push(Event::BuildSucceeded {
        build,
        outputs: vec![BuildOutput {
            name: format!("component-{component}.deb"),
            digest: Digest::of(format!("out{component}").as_bytes()),
            size: 4096,
        }],
    });
    events
}

async fn fill(store: &Store, total: u64) {
    let db = store.db();
    let mut component = 0;
    while db.last_seq().await.unwrap().0 < total {
        let next = db.last_seq().await.unwrap().0 + 1;
        let left = (total - next + 1) as usize;
        let mut batch = Vec::new();
        while batch.len() + 10 <= left.min(10_000) {
            let seq = next + batch.len() as u64;
            batch.extend(build_events(seq, component, 7));
            component += 1;
        }
        if batch.is_empty() {
            batch = (0..left)
                .map(|i| Event::ChangeDetected {
                    component: format!("c{i}"),
                    reason: "upstream commit".into(),
                    revision: None,
                })
                .collect();
        }
        db.append(batch).await.unwrap();
    }
}

/// The queue of the run, declared (or deleted, for `none`) and empty.
async fn queue(kind: &str) -> (Connection, lapin::Channel) {
    let connection = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let channel = connection.create_channel().await.unwrap();
    let _ = channel
        .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
        .await;
    let options = match kind {
        "none" => return (connection, channel),
        "transient" => QueueDeclareOptions::default(),
        _ => QueueDeclareOptions::durable(),
    };
    channel
        .queue_declare(QUEUE.into(), options, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            QUEUE.into(),
            "amq.topic".into(),
            format!("{PREFIX}.#").into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    (connection, channel)
}

/// CPU seconds this process used so far (user and system, every thread: lapin's I/O
/// thread and SQLite's included).
fn cpu_seconds() -> f64 {
    let stat = fs_err::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

async fn bench(events: u64) {
    let kind = std::env::var("FACTORY_BENCH_QUEUE").unwrap_or_else(|_| "durable".into());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    fill(&store, events).await;
    let (connection, channel) = queue(&kind).await;

    let mut config = RelayConfig::new(URL);
    config.prefix = PREFIX.into();
    if let Some(window) = std::env::var("FACTORY_BENCH_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        config.window = window;
    }
    let cpu = cpu_seconds();
    let started = Instant::now();
    let relay = Relay::start(store.backend(), config.clone()).await.unwrap();
    let mut progress = relay.progress();
    progress.wait_for(|p| *p >= events).await.unwrap();
    let took = started.elapsed();
    let cpu = cpu_seconds() - cpu;
    relay.stop(Duration::from_secs(5)).await.unwrap();
    let rate = events as f64 / took.as_secs_f64();
    println!(
        "factory relay: {events} events in {:.3} s: {rate:.0} events/s, {:.1} µs of CPU per event \
         (queue {kind}, window {})",
        took.as_secs_f64(),
        cpu * 1e6 / events as f64,
        config.window
    );
    if kind != "none" {
        channel
            .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
            .await
            .unwrap();
    }
    // Nothing of ours runs beside the peer (this thread waits for it).
    let _ = connection.close(200, "measured".into()).await;

    if let Some(pika) = pika_peer(&store, events, config.window, dir.path()).await {
        println!("pika (SelectConnection, confirms, same window): {pika:.0} events/s");
        println!("ratio factory / pika: {:.2}", rate / pika);
    }
    let (_connection, channel) = queue("none").await;
    let _ = channel;
}

/// The same messages through pika; None when python3 has no pika.
async fn pika_peer(
    store: &Store,
    events: u64,
    window: usize,
    dir: &std::path::Path,
) -> Option<f64> {
    let have = std::process::Command::new("python3")
        .args(["-c", "import pika"])
        .status();
    if !have.is_ok_and(|s| s.success()) {
        println!("pika: not installed (python3 -m pip install pika); no peer measured");
        return None;
    }
    let db = store.db();
    let encoder = Encoder::new(db.store_identity().await.unwrap(), PREFIX);
    let path = dir.join("messages.jsonl");
    let mut file = std::io::BufWriter::new(fs_err::File::create(&path).unwrap());
    let mut after = Seq(0);
    loop {
        let page = db.events_since(after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for recorded in &page {
            let message = encoder.encode(recorded);
            let line = serde_json::json!({
                "topic": message.routing_key,
                "headers": message.headers(),
                "id": message.id.to_string(),
                "body": String::from_utf8(message.body).unwrap(),
            });
            writeln!(file, "{line}").unwrap();
        }
    }
    file.flush().unwrap();
    drop(file);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pika_publish.py");
    let output = std::process::Command::new("python3")
        .args([script, URL, "amq.topic"])
        .arg(&path)
        .arg(window.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    let seconds: f64 = text
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pika said: {text} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    Some(events as f64 / seconds)
}
