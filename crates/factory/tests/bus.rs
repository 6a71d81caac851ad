//! `factory up --amqp` against the local RabbitMQ, read by the stock `fedora-messaging` CLI:
//! every event of a wave arrives, in order, with fedora-messaging's headers and a body valid
//! against its topic's schema (as `/api/v1/schemas` serves it); datagrepper's routes serve
//! the same messages with the same ids, and `fedora-messaging reconsume` loads one from
//! them; RabbitMQ stopped for 60 s during a wave loses nothing and does not hold the wave up.
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest), `fedora-messaging` and `rabbitmqctl`;
//! skips loudly without them, except under CI (`FACTORY_CI`), where it fails.

mod common;
use common::context;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use factory_testkit::{Served, TestContext, command_component};
use serde_json::Value;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

/// One test at a time talks to the broker: the outage test stops it.
static BROKER: Mutex<()> = Mutex::new(());

fn have_bus() -> bool {
    let broker = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_ok();
    let tools = ["fedora-messaging", "rabbitmqctl"]
        .iter()
        .all(|tool| Command::new(tool).arg("--help").output().is_ok());
    // A broker with a resource alarm (a full disk, most often) blocks every publisher.
    let alarms = broker
        && !Command::new("rabbitmq-diagnostics")
            .args(["-q", "check_local_alarms"])
            .output()
            .is_ok_and(|o| o.status.success());
    if broker && tools && !alarms {
        return true;
    }
    let message = if alarms {
        "SKIPPED: RabbitMQ reports a resource alarm (free disk space or memory) and blocks \
         publishers; `rabbitmq-diagnostics alarms` says which"
    } else {
        "SKIPPED: needs RabbitMQ on 127.0.0.1:5672, rabbitmqctl and fedora-messaging \
         (apt-get install rabbitmq-server; pip install fedora-messaging)"
    };
    assert!(
        std::env::var_os("FACTORY_CI").is_none(),
        "CI must be able to run this test: {message}"
    );
    eprintln!("{message}");
    false
}

/// `count` independent components, each taking `seconds` to build.
fn definition(ctx: &TestContext, count: usize, seconds: f64) {
    let mut text = String::new();
    for i in 0..count {
        let name = format!("c{i:02}");
        let command = format!("sleep {seconds}; echo {name} > {{out}}/out.txt");
        text += &command_component(&name, &[], &command);
        ctx.write_source(&name, "input", &name);
    }
    ctx.write_definition("components.toml", &text);
}

/// A fedora-messaging configuration consuming `queue`, bound to `key` on amq.topic.
fn consumer_config(ctx: &TestContext, queue: &str, key: &str, durable: bool) -> std::path::PathBuf {
    let auto_delete = !durable;
    let text = format!(
        "amqp_url = \"{URL}\"\ncallback = \"fedora_messaging.example:printer\"\n\
         [[bindings]]\nqueue = \"{queue}\"\nexchange = \"amq.topic\"\nrouting_keys = [\"{key}\"]\n\
         [queues.\"{queue}\"]\ndurable = {durable}\nauto_delete = {auto_delete}\n\
         exclusive = false\narguments = {{}}\n"
    );
    ctx.write(format!("{queue}.toml"), &text)
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("factory-test-{name}-{}-{nanos}", std::process::id())
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn rabbitmqctl(args: &[&str]) -> String {
    let output = Command::new("rabbitmqctl").args(args).output().unwrap();
    assert!(output.status.success(), "rabbitmqctl {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `queue` is bound (its consumer is ready for what is published).
fn wait_for_binding(queue: &str) {
    wait_until(
        "the consumer's queue is bound",
        Duration::from_secs(60),
        || rabbitmqctl(&["list_bindings", "-q", "destination_name"]).contains(queue),
    );
}

fn store_state(store: &Path) -> (u64, [u8; 16]) {
    factory_testkit::block_on(async {
        let store = factory_store::Store::open(store).await.unwrap();
        let db = store.db();
        let state = (
            db.last_seq().await.unwrap().0,
            db.store_identity().await.unwrap(),
        );
        store.close().await;
        state
    })
}

fn get(served: &Served, path: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(served.url(path)).call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn metric(served: &Served, name: &str) -> Option<f64> {
    let agent = ureq::Agent::new_with_defaults();
    let text = agent
        .get(served.url("/metrics"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The recorded messages (`fedora-messaging record`'s JSON lines).
fn recorded(path: &Path) -> Vec<Value> {
    fs_err::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each message as fedora-messaging sends and records it: the headers exactly, the topic
/// under the prefix, the id from the store's identity and the sequence number, the body
/// valid against its topic's schema as the server serves it.
fn check_message(served: &Served, message: &Value, prefix: &str, identity: &[u8; 16]) -> u64 {
    let body = &message["body"];
    let seq = body["seq"].as_u64().unwrap();
    let topic = body["topic"].as_str().unwrap();
    assert_eq!(message["topic"], format!("{prefix}.{topic}"));
    let id = factory_bus::message_id(identity, factory_store::Seq(seq)).to_string();
    assert_eq!(message["id"], id);
    assert_eq!(message["priority"], 0);
    let headers = message["headers"].as_object().unwrap();
    let names: Vec<&str> = headers.keys().map(String::as_str).collect();
    let expected = [
        "fedora_messaging_schema",
        "fedora_messaging_schema_package",
        "fedora_messaging_severity",
        "priority",
        "sent-at",
    ];
    assert_eq!(names, expected, "{message}");
    assert_eq!(headers["fedora_messaging_schema"], "base.message");
    assert_eq!(
        headers["fedora_messaging_schema_package"],
        "fedora_messaging"
    );
    let severity = headers["fedora_messaging_severity"].as_i64().unwrap();
    assert!([10, 20, 30, 40].contains(&severity), "{message}");
    let sent_at = headers["sent-at"].as_str().unwrap();
    assert!(
        sent_at.len() == 25 && sent_at.ends_with("+00:00"),
        "{sent_at}"
    );
    let (status, schema) = get(served, &format!("/api/v1/schemas/{topic}"));
    assert_eq!(status, 200, "{schema}");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{body} against {topic}: {errors:?}");
    seq
}

#[test]
fn the_stock_cli_receives_every_event_of_a_wave_in_order() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    if !have_bus() {
        return;
    }
    let ctx = context();
    definition(&ctx, 4, 0.0);
    // The wave first, with no bus: its events wait in the log for the relay.
    ctx.up_once(&["--no-sandbox", "-j", "2"]).ok();
    let (wave_events, identity) = store_state(ctx.store());

    let queue = unique("record");
    let config = consumer_config(&ctx, &queue, "factory.#", false);
    let out = ctx.path("recorded.jsonl");
    let mut recorder = Command::new("fedora-messaging")
        .arg("--conf")
        .arg(&config)
        .arg("record")
        .arg(&out)
        .args(["--limit", &wave_events.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_binding(&queue);
    let served =
        Served::new(ctx.spawn_up(&["--listen", "127.0.0.1:0", "--no-sandbox", "--amqp", URL]));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = recorder.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            served.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "the recorder: {status}");

    let messages = recorded(&out);
    assert_eq!(messages.len() as u64, wave_events);
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(
            check_message(&served, message, "factory", &identity),
            i as u64 + 1
        );
        assert_eq!(message["queue"], queue.as_str());
    }
    assert!(
        served
            .stderr()
            .contains("publishing events to amqp://guest:***@127.0.0.1")
    );
    assert!(
        !served.stderr().contains("guest:guest"),
        "{}",
        served.stderr()
    );
    wait_until("the bus caught up", Duration::from_secs(30), || {
        metric(&served, "factory_bus_outbox_lag") == Some(0.0)
    });
    let (_, index) = get(&served, "/api/v1/schemas");
    let topics = index["topics"].as_array().unwrap();
    assert!(
        topics
            .iter()
            .any(|t| t["topic"] == "build.succeeded" && t["severity"] == 20)
    );
    assert!(
        topics
            .iter()
            .any(|t| t["topic"] == "build.failed" && t["severity"] == 40)
    );
    let (status, _) = get(&served, "/api/v1/schemas/no.such");
    assert_eq!(status, 404);
    datagrepper(&served, &ctx, &config, &messages);
    served.stop();
}

/// datagrepper's routes serve what the bus carried, with the same ids; the stock
/// `reconsume` loads a message from them.
fn datagrepper(served: &Served, ctx: &TestContext, config: &Path, messages: &[Value]) {
    let strip_queue = |m: &Value| {
        let mut m = m.clone();
        m["queue"] = Value::Null;
        m
    };
    let third = &messages[2];
    let id = third["id"].as_str().unwrap();
    let (status, found) = get(served, &format!("/datagrepper/v2/id?id={id}&is_raw=true"));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found, strip_queue(third));
    let (status, missing) = get(
        served,
        "/datagrepper/v2/id?id=c0b4b5e0-6a3e-4b8e-9f4a-2d7f5e1c3a90",
    );
    assert_eq!(
        (status, missing),
        (
            404,
            serde_json::json!({"error": "not_found", "detail": "no message c0b4b5e0-6a3e-4b8e-9f4a-2d7f5e1c3a90"})
        )
    );

    let (status, page) = get(served, "/datagrepper/v2/search?rows_per_page=3&order=asc");
    assert_eq!(status, 200, "{page}");
    let firsts: Vec<Value> = messages[..3].iter().map(strip_queue).collect();
    assert_eq!(page["raw_messages"], Value::Array(firsts));
    assert_eq!(page["count"], 3);
    let total = page["total"].as_u64().unwrap();
    assert!(total >= messages.len() as u64);
    assert_eq!(page["pages"], total.div_ceil(3));
    assert_eq!(page["arguments"]["rows_per_page"], 3);

    let (_, succeeded) = get(
        served,
        "/datagrepper/raw?topic=factory.build.succeeded&rows_per_page=100",
    );
    let wanted = messages
        .iter()
        .filter(|m| m["topic"] == "factory.build.succeeded")
        .count();
    assert!(succeeded["total"].as_u64().unwrap() >= wanted as u64);
    for legacy in succeeded["raw_messages"].as_array().unwrap() {
        assert_eq!(legacy["topic"], "factory.build.succeeded");
        assert!(legacy["timestamp"].is_f64() && legacy["msg"]["data"]["outputs"].is_array());
    }
    let (_, none) = get(
        served,
        "/datagrepper/v2/search?category=wave&not_topic=factory.wave.planned&not_topic=factory.wave.finished",
    );
    assert_eq!(none["total"], 0, "{none}");
    let (status, bad) = get(served, "/datagrepper/v2/search?rows_per_page=101");
    assert_eq!(
        (status, &bad["error"]),
        (400, &Value::from("invalid_argument"))
    );

    // The stock client fetches /v2/id and hands the message to a callback.
    let seen = ctx.path("reconsumed.json");
    let callback = ctx.write(
        "callback.py",
        &format!(
            "import json\ndef callback(message):\n    with open({:?}, 'w') as f:\n        \
             json.dump({{'topic': message.topic, 'id': message.id, 'body': message.body}}, f)\n",
            seen.display().to_string()
        ),
    );
    let output = Command::new("fedora-messaging")
        .arg("--conf")
        .arg(config)
        .arg("reconsume")
        .arg("--callback-file")
        .arg(format!("{}:callback", callback.display()))
        .arg("--datagrepper-url")
        .arg(served.url("/datagrepper"))
        .arg(id)
        .output()
        .unwrap();
    assert!(output.status.success(), "reconsume: {output:?}");
    let reconsumed: Value = serde_json::from_str(&fs_err::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(reconsumed["id"], id);
    assert_eq!(reconsumed["topic"], third["topic"]);
    assert_eq!(reconsumed["body"], third["body"]);
}

/// A durable queue bound to `key`, declared before anything is published (it survives the
/// broker's stop, as the messages in it do: they are persistent); its message count.
fn durable_queue(queue: &str, key: &str, delete: bool) -> u32 {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::FieldTable;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connection = lapin::Connection::connect(URL, lapin::ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.into(),
                "amq.topic".into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        if delete {
            let options = QueueDeleteOptions::default();
            channel.queue_delete(queue.into(), options).await.unwrap();
        }
        declared.message_count()
    })
}

/// Starts the broker again however the test ends.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

#[test]
fn a_broker_stopped_for_a_minute_during_a_wave_loses_nothing() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    if !have_bus() {
        return;
    }
    let ctx = context();
    definition(&ctx, 24, 1.0);
    let prefix = unique("outage").replace('-', "");
    let queue = unique("outage");
    durable_queue(&queue, &format!("{prefix}.#"), false);
    let served = Served::new(ctx.spawn_up(&[
        "--listen",
        "127.0.0.1:0",
        "--no-sandbox",
        "-j",
        "2",
        "--amqp",
        URL,
        "--amqp-prefix",
        &prefix,
    ]));
    // The wave runs (24 builds of a second at -j 2) and its first events are out.
    wait_until(
        "the first events are published",
        Duration::from_secs(60),
        || {
            metric(&served, "factory_bus_outbox_lag").is_some()
                && get(&served, "/api/v1/waves").1["waves"]
                    .as_array()
                    .is_some_and(|w| !w.is_empty())
        },
    );
    let restart = Restart;
    rabbitmqctl(&["stop_app"]);
    let stopped_at = Instant::now();
    // The builds go on without the broker: the wave finishes while it is down.
    wait_until(
        "the wave finishes with the broker down",
        Duration::from_secs(55),
        || get(&served, "/api/v1/waves").1["waves"][0]["state"] == "finished",
    );
    assert!(metric(&served, "factory_bus_outbox_lag").unwrap() > 0.0);
    std::thread::sleep(Duration::from_secs(60).saturating_sub(stopped_at.elapsed()));
    rabbitmqctl(&["start_app"]);
    drop(restart);
    wait_until(
        "the bus caught up after the outage",
        Duration::from_secs(120),
        || metric(&served, "factory_bus_outbox_lag") == Some(0.0),
    );
    let said = served.stderr();
    served.stop();
    let (last_seq, identity) = store_state(ctx.store());
    // The outage is reported, without the password, and without flooding the log: the
    // retries back off to one every 5 s.
    assert!(said.contains("the broker is unreachable"), "{said}");
    assert!(!said.contains("guest:guest"), "{said}");
    let warnings = said.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings < 40, "{warnings} warnings:\n{said}");

    let out = record_durable(&ctx, &queue, &prefix, last_seq);
    let seqs = seqs_with_their_ids(&out, &identity);
    let restarts = check_at_least_once_in_order(&seqs, last_seq);
    eprintln!(
        "{} messages for {last_seq} events, {restarts} restart(s)",
        seqs.len()
    );
}

/// Everything waiting in the durable `queue`, as the stock CLI records it (then the queue is
/// deleted); at least `events` messages are expected.
fn record_durable(ctx: &TestContext, queue: &str, prefix: &str, events: u64) -> std::path::PathBuf {
    let key = format!("{prefix}.#");
    let waiting = durable_queue(queue, &key, false);
    assert!(
        u64::from(waiting) >= events,
        "{waiting} messages for {events} events"
    );
    let config = consumer_config(ctx, queue, &key, true);
    let out = ctx.path("after-outage.jsonl");
    let status = Command::new("fedora-messaging")
        .arg("--conf")
        .arg(&config)
        .arg("record")
        .arg(&out)
        .args(["--limit", &waiting.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    durable_queue(queue, &key, true);
    assert!(status.success());
    out
}

/// The sequence numbers of the recorded messages, each checked to have its event's id: an
/// event published again has the id it had.
fn seqs_with_their_ids(out: &Path, identity: &[u8; 16]) -> Vec<u64> {
    recorded(out)
        .iter()
        .map(|m| {
            let seq = m["body"]["seq"].as_u64().unwrap();
            let id = factory_bus::message_id(identity, factory_store::Seq(seq));
            assert_eq!(m["id"], id.to_string());
            seq
        })
        .collect()
}

/// `count` events in the log of the store at `store` before any factory runs there.
fn backlog(store: &Path, count: usize) {
    factory_testkit::block_on(async {
        let store = factory_store::Store::open(store).await.unwrap();
        for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
            let events = chunk.iter().map(|i| factory_store::Event::ChangeDetected {
                component: format!("upstream-{i}"),
                reason: "upstream commit".into(),
                revision: Some(format!("{i:08x}")),
            });
            store.db().append(events.collect()).await.unwrap();
        }
        store.close().await;
    });
}

#[test]
fn a_factory_killed_while_publishing_goes_on_from_its_cursor() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    if !have_bus() {
        return;
    }
    let ctx = context();
    definition(&ctx, 1, 0.0);
    backlog(ctx.store(), 20_000);
    let prefix = unique("crash").replace('-', "");
    let queue = unique("crash");
    durable_queue(&queue, &format!("{prefix}.#"), false);
    let up = || {
        let options = [
            "--listen",
            "127.0.0.1:0",
            "--no-sandbox",
            "--amqp",
            URL,
            "--amqp-prefix",
            &prefix,
        ];
        Served::new(ctx.spawn_up(&options))
    };
    let first = up();
    wait_until("the relay is under way", Duration::from_secs(60), || {
        metric(&first, "factory_bus_outbox_lag").is_some_and(|lag| lag < 17_000.0)
    });
    let lag_at_kill = metric(&first, "factory_bus_outbox_lag").unwrap();
    // SIGKILL: no drain, no last write of the cursor.
    drop(first);
    let second = up();
    wait_until(
        "the second factory caught up",
        Duration::from_secs(120),
        || metric(&second, "factory_bus_outbox_lag") == Some(0.0),
    );
    second.stop();
    let (last_seq, identity) = store_state(ctx.store());
    let out = record_durable(&ctx, &queue, &prefix, last_seq);
    let seqs = seqs_with_their_ids(&out, &identity);
    let restarts = check_at_least_once_in_order(&seqs, last_seq);
    if lag_at_kill > 0.0 {
        assert!(
            restarts <= 1,
            "the second factory went back to its cursor once"
        );
    }
    eprintln!(
        "{} messages for {last_seq} events after a kill at lag {lag_at_kill}",
        seqs.len()
    );
}

/// Every event 1..=last arrived; in order, except that after a reconnect the relay goes back
/// to the last acknowledged event, so some arrive twice: each repetition starts where an
/// outage cut the stream and never skips.
fn check_at_least_once_in_order(seqs: &[u64], last: u64) -> usize {
    let mut seen = BTreeMap::new();
    let mut restarts = 0;
    let mut previous = 0;
    for &seq in seqs {
        if seq <= previous {
            restarts += 1;
        } else {
            assert_eq!(
                seq,
                previous + 1,
                "nothing skipped after {previous}: {seqs:?}"
            );
        }
        assert!(seq <= previous + 1, "nothing skipped after {previous}");
        *seen.entry(seq).or_insert(0) += 1;
        previous = seq;
    }
    assert_eq!(seen.len() as u64, last, "every event, once at least");
    assert_eq!(seen.keys().next(), Some(&1));
    // One outage, and maybe a failed attempt or two while the broker came back.
    assert!(restarts <= 3, "{restarts} restarts: {seqs:?}");
    restarts
}
