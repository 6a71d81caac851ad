//! What serving costs, measured on the real binary: the same wave of trivial jobs run by
//! `factory up` without a server and with one that has live stream clients connected
//! (wall time of the wave, and how late each event reaches each client), then `GET` of a
//! build at a fixed rate (latency from the moment each request was due, so a slow answer
//! is not hidden by the requests it delayed).
//!
//! `cargo bench -p factory --bench serve -- [JOBS] [CLIENTS] [RATE]` (default 10000 1000
//! 2000); figures go to docs/benchmarks.md.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use factory_store::{Seq, Store, WaveState};

const FACTORY: &str = env!("CARGO_BIN_EXE_factory");

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let jobs = args.first().copied().unwrap_or(10_000);
    let clients = args.get(1).copied().unwrap_or(1_000);
    let rate = args.get(2).copied().unwrap_or(2_000);
    let work = tempfile::Builder::new()
        .prefix("factory-serve-bench-")
        .tempdir()
        .unwrap();
    write_definition(work.path(), jobs);
    println!("{jobs} jobs, {clients} stream clients, GET at {rate}/s; -j 2, no sandbox");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = run_wave(&runtime, work.path(), "plain", 0, rate);
    let served = run_wave(&runtime, work.path(), "served", clients, rate);
    println!(
        "wave wall time: {:.2} s without a server, {:.2} s serving {clients} clients: {:.3}x",
        plain.wave_s,
        served.wave_s,
        served.wave_s / plain.wave_s
    );
}

/// One root with a source, and `jobs` jobs in layers of about √jobs, each reading up to
/// three jobs of earlier layers (the first layer reads the root): a change to the root's
/// source rebuilds them all.
fn write_definition(dir: &Path, jobs: usize) {
    let def = dir.join("def");
    fs_err::create_dir_all(def.join("src/root")).unwrap();
    fs_err::write(def.join("src/root/input"), "v1\n").unwrap();
    let width = (jobs as f64).sqrt().ceil().max(1.0) as usize;
    let mut seed: u64 = 1;
    let mut next = |below: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % below
    };
    let mut text = String::from(
        "[component.root]\nkind = \"command\"\nsource = { path = \"src/root\" }\n\
         commands = [\"cat {src}/input > {out}/out.txt\"]\noutputs = [\"out.txt\"]\n\n",
    );
    for i in 0..jobs {
        let earlier = (i / width) * width;
        let mut deps: Vec<String> = if earlier == 0 {
            vec!["root".into()]
        } else {
            (0..3).map(|_| format!("j{}", next(earlier))).collect()
        };
        deps.sort();
        deps.dedup();
        let inputs: Vec<String> = deps
            .iter()
            .map(|d| format!("{{dep.{d}}}/out.txt"))
            .collect();
        let requires: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        text += &format!(
            "[component.j{i}]\nkind = \"command\"\nbuild-requires = [{}]\n\
             commands = [\"{{{{ cat {} /dev/null; echo j{i}; }}}} | cksum > {{out}}/out.txt\"]\n\
             outputs = [\"out.txt\"]\n\n",
            requires.join(", "),
            inputs.join(" ")
        );
    }
    fs_err::write(def.join("jobs.toml"), text).unwrap();
}

struct WaveResult {
    wave_s: f64,
}

fn factory(store: &Path) -> Command {
    let mut command = Command::new(FACTORY);
    command.arg("--store").arg(store);
    command
}

/// Builds everything once (not measured), then starts `up` (serving when `clients` > 0),
/// connects the clients, changes the root and measures the wave it starts.
fn run_wave(
    runtime: &tokio::runtime::Runtime,
    work: &Path,
    name: &str,
    clients: usize,
    rate: usize,
) -> WaveResult {
    let def = work.join("def");
    fs_err::write(def.join("src/root/input"), "v1\n").unwrap();
    let store = work.join(format!("store-{name}"));
    let status = factory(&store)
        .args(["up", "--once", "--no-sandbox", "-j", "2", "--definition"])
        .arg(&def)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the first build of {name}");
    let listen = if clients > 0 { "127.0.0.1:0" } else { "" };
    let mut up = factory(&store);
    up.args(["up", "--no-sandbox", "-j", "2", "--poll-interval", "3600"]);
    match listen {
        "" => up.arg("--no-listen"),
        addr => up.args(["--listen", addr]),
    };
    let mut child = up
        .arg("--definition")
        .arg(&def)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _stderr) = wait_watching(&mut child);
    let last = runtime.block_on(last_seq(&store));
    let listeners = addr.as_ref().map(|a| connect(a, clients, last));
    fs_err::write(def.join("src/root/input"), "v2\n").unwrap();
    let (planned, finished) = runtime.block_on(wait_for_wave(&store, last));
    let wave_s = (finished - planned) as f64 / 1000.0;
    if let (Some(addr), Some(listeners)) = (&addr, listeners) {
        report_stream(runtime, &store, last, listeners);
        fixed_rate_gets(addr, rate, runtime.block_on(any_build(&store)));
    }
    stop(child);
    println!("{name}: the wave took {wave_s:.2} s");
    WaveResult { wave_s }
}

/// Reads standard error until `up` watches; the address it serves on, if it does. The
/// reader is kept (and drained by a thread) so `up` never blocks on a full pipe.
fn wait_watching(child: &mut Child) -> (Option<String>, mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(600))
            .expect("up watches");
        if let Some(rest) = line.split("serving http://").nth(1) {
            addr = rest.split('/').next().map(str::to_owned);
        }
        if line.contains("watching") {
            return (addr, rx);
        }
    }
}

async fn last_seq(store: &Path) -> u64 {
    let store = Store::open(store).await.unwrap();
    store.db().last_seq().await.unwrap().0
}

/// The first wave planned after `after`, once it finished: (planned, finished) in ms.
async fn wait_for_wave(store: &Path, after: u64) -> (i64, i64) {
    let store = Store::open(store).await.unwrap();
    loop {
        let waves = store.db().recent_waves(1).await.unwrap();
        if let Some(wave) = waves.first()
            && wave.id.0 > after
            && wave.state == WaveState::Finished
        {
            return (wave.planned_at_ms, wave.finished_at_ms.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn any_build(store: &Path) -> u64 {
    let store = Store::open(store).await.unwrap();
    let waves = store.db().recent_waves(1).await.unwrap();
    let builds = store.db().builds_of_wave(waves[0].id).await.unwrap();
    builds[builds.len() / 2].id.0
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// `clients` stream readers, each on a thread, connected once this returns; each sends
/// back every (sequence number, time received) until the wave's end.
fn connect(
    addr: &str,
    clients: usize,
    after: u64,
) -> Vec<std::thread::JoinHandle<Vec<(u64, f64)>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let url = format!("http://{addr}/api/v1/events/stream?after={after}");
            let ready = ready_tx.clone();
            std::thread::spawn(move || read_stream(&url, &ready))
        })
        .collect();
    for _ in 0..clients {
        ready_rx.recv().unwrap();
    }
    handles
}

fn read_stream(url: &str, ready: &mpsc::Sender<()>) -> Vec<(u64, f64)> {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let response = agent.get(url).call().expect("the stream");
    ready.send(()).unwrap();
    let mut reader = BufReader::new(response.into_body().into_reader());
    let mut seen = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return seen;
        }
        if let Some(id) = line.strip_prefix("id: ") {
            seen.push((id.trim().parse().unwrap(), now_ms()));
        } else if line.starts_with("event: wave.finished") {
            return seen;
        }
    }
}

/// Every client got every event of the wave, in order; how late, from each event's commit.
fn report_stream(
    runtime: &tokio::runtime::Runtime,
    store: &Path,
    after: u64,
    listeners: Vec<std::thread::JoinHandle<Vec<(u64, f64)>>>,
) {
    let committed: BTreeMap<u64, i64> = runtime.block_on(async {
        let store = Store::open(store).await.unwrap();
        let mut all = BTreeMap::new();
        let mut cursor = after;
        loop {
            let page = store.db().events_since(Seq(cursor), 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            cursor = last.seq.0;
            for event in &page {
                all.insert(event.seq.0, event.recorded_at_ms);
                if event.event.kind() == "wave_finished" {
                    return all;
                }
            }
        }
        all
    });
    let expected: Vec<u64> = committed.keys().copied().collect();
    let mut delays = Vec::new();
    let clients = listeners.len();
    for listener in listeners {
        let seen = listener.join().unwrap();
        let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, expected, "a client missed or reordered events");
        delays.extend(seen.iter().map(|(s, at)| at - committed[s] as f64));
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "stream: {clients} clients each got all {} events in order; event -> client p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        expected.len(),
        percentile(&delays, 0.50),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(0.0)
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `GET /api/v1/builds/{build}` at `rate` per second for 10 s, open loop over 8 keep-alive
/// connections: each request's latency counts from when it was due.
fn fixed_rate_gets(addr: &str, rate: usize, build: u64) {
    let threads = 8;
    let per_thread = rate as f64 / threads as f64;
    let duration = Duration::from_secs(10);
    let url = format!("http://{addr}/api/v1/builds/{build}");
    let start = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let interval = Duration::from_secs_f64(1.0 / per_thread);
                let offset = interval.mul_f64(t as f64 / threads as f64);
                let mut latencies = Vec::new();
                let mut due = start + offset;
                while due < start + duration {
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let mut response = agent.get(&url).call().expect("GET");
                    let _ = response.body_mut().read_to_vec();
                    latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                    due += interval;
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<f64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort_by(f64::total_cmp);
    println!(
        "GET /api/v1/builds/{{id}}: {} requests at {rate}/s over {}s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        duration.as_secs(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(0.0)
    );
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
