//! The relay against the local RabbitMQ: every event arrives once, in order, with the
//! properties and headers fedora-messaging sends and a body valid against its topic's
//! schema; a stop drains what was committed and makes the cursor durable, and the next
//! relay goes on after it.

use std::collections::BTreeMap;
use std::time::Duration;

use factory_bus::{Relay, RelayConfig, message_id, schema};
use factory_store::{BuildId, Event, LogStream, Seq, Store};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

/// Whether RabbitMQ answers on 127.0.0.1:5672; without it the test skips loudly, except
/// under CI (`FACTORY_CI`), where it fails.
fn have_rabbitmq() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_ok();
    if !up {
        let message = "SKIPPED: no RabbitMQ on 127.0.0.1:5672 (apt-get install rabbitmq-server)";
        assert!(
            std::env::var_os("FACTORY_CI").is_none(),
            "CI must be able to run this test: {message}"
        );
        eprintln!("{message}");
    }
    up
}

/// A prefix no other test uses, so parallel tests never see each other's messages.
fn unique_prefix(test: &str) -> String {
    format!("factorytest{}{test}", std::process::id())
}

/// An exclusive queue bound to `PREFIX.#` and a consumer on it.
async fn listen(prefix: &str) -> (Connection, lapin::Consumer) {
    let connection = Connection::connect(URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare("".into(), options, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            "amq.topic".into(),
            format!("{prefix}.#").into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let consumer = channel
        .basic_consume(
            queue.name().clone(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    (connection, consumer)
}

/// Events of several topics: a change, a build's life with log lines, a failure.
fn events(count: usize) -> Vec<Event> {
    let mut events = vec![Event::ChangeDetected {
        component: "hello".into(),
        reason: "upstream commit".into(),
        revision: Some("abc".into()),
    }];
    events.push(Event::BuildQueued {
        wave: None,
        component: "hello".into(),
        key: None,
        reason: "first".into(),
        inputs: BTreeMap::new(),
    });
    events.push(Event::BuildStarted {
        build: BuildId(2),
        attempt: 1,
    });
    while events.len() + 1 < count {
        events.push(Event::BuildLog {
            build: BuildId(2),
            stream: LogStream::Stdout,
            chunk: format!("line {}\n", events.len()),
        });
    }
    events.push(Event::BuildFailed {
        build: BuildId(2),
        reason: "exit status 1".into(),
        kind: factory_store::FailureKind::User,
    });
    events
}

fn header<'a>(headers: &'a FieldTable, name: &str) -> &'a AMQPValue {
    headers
        .inner()
        .get(name)
        .unwrap_or_else(|| panic!("no header {name}: {headers:?}"))
}

/// Receives `count` messages and checks each against what the log holds.
async fn receive(consumer: &mut lapin::Consumer, count: u64, identity: &[u8; 16], prefix: &str) {
    let validators: BTreeMap<&str, jsonschema::Validator> = schema::TOPICS
        .iter()
        .map(|t| (t.name, jsonschema::validator_for(&t.schema()).unwrap()))
        .collect();
    for expected in 1..=count {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("message {expected} never came"))
            .unwrap()
            .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(body["seq"], expected, "in order, none twice: {body}");
        let topic = body["topic"].as_str().unwrap();
        assert_eq!(delivery.routing_key.as_str(), format!("{prefix}.{topic}"));
        let errors: Vec<String> = validators[topic]
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{body} against {topic}: {errors:?}");
        let p = &delivery.properties;
        assert_eq!(
            p.content_type().as_ref().unwrap().as_str(),
            "application/json"
        );
        assert_eq!(p.content_encoding().as_ref().unwrap().as_str(), "utf-8");
        assert_eq!(*p.delivery_mode(), Some(2));
        let id = message_id(identity, Seq(expected)).to_string();
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), id);
        assert!(p.timestamp().is_none() && p.app_id().is_none() && p.kind().is_none());
        let headers = p.headers().as_ref().unwrap();
        assert_eq!(headers.inner().len(), 5, "{headers:?}");
        let severity = match topic {
            "build.log" => 10,
            "build.failed" => 40,
            _ => 20,
        };
        assert_eq!(
            header(headers, "fedora_messaging_severity"),
            &AMQPValue::LongInt(severity)
        );
        assert_eq!(header(headers, "priority"), &AMQPValue::LongInt(0));
        let AMQPValue::LongString(sent_at) = header(headers, "sent-at") else {
            panic!("sent-at is a string")
        };
        let sent_at = sent_at.to_string();
        assert!(
            sent_at.len() == 25 && sent_at.ends_with("+00:00"),
            "{sent_at}"
        );
        for (name, value) in [
            ("fedora_messaging_schema", "base.message"),
            ("fedora_messaging_schema_package", "fedora_messaging"),
        ] {
            let AMQPValue::LongString(text) = header(headers, name) else {
                panic!("{name} is a string")
            };
            assert_eq!(text.to_string(), value);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_with_fedora_messaging_headers() {
    if !have_rabbitmq() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let db = store.db();
    let prefix = unique_prefix("order");
    let (_connection, mut consumer) = listen(&prefix).await;
    db.append(events(3000)).await.unwrap();

    let mut config = RelayConfig::new(URL);
    config.prefix = prefix.clone();
    let relay = Relay::start(store.backend(), config.clone()).await.unwrap();
    let identity = db.store_identity().await.unwrap();
    receive(&mut consumer, 3000, &identity, &prefix).await;
    let stopped = relay.stop(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (stopped.published, stopped.last_seq),
        (Seq(3000), Seq(3000))
    );
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(3000));

    // The next relay goes on after the cursor: the new events, not the old ones again.
    let changes = (0..10).map(|i| Event::ChangeDetected {
        component: format!("c{i}"),
        reason: "upstream commit".into(),
        revision: None,
    });
    db.append(changes.collect()).await.unwrap();
    let relay = Relay::start(store.backend(), config).await.unwrap();
    let mut watch = relay.progress();
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|p| *p == 3010))
        .await
        .unwrap()
        .unwrap();
    for expected in 3001..=3010u64 {
        let delivery = consumer.next().await.unwrap().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(body["seq"], expected);
    }
    relay.stop(Duration::from_secs(10)).await.unwrap();
    assert_eq!(db.cursor("bus").await.unwrap(), Seq(3010));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_cannot_be_reached_delays_and_a_stop_keeps_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.db().append(events(5)).await.unwrap();
    // Nothing listens on this port: connecting fails at once, again and again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RelayConfig::new(&format!("amqp://guest:hunter2@127.0.0.1:{port}/%2F"));
    assert!(!config.shown_url().contains("hunter2"));
    let relay = Relay::start(store.backend(), config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = relay.stop(Duration::from_millis(200)).await.unwrap();
    assert_eq!((stopped.published, stopped.last_seq), (Seq(0), Seq(5)));
    assert_eq!(store.db().cursor("bus").await.unwrap(), Seq(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_is_not_amqp_is_the_users_fault() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let Err(error) = Relay::start(store.backend(), RelayConfig::new("http://u:pw@host/")).await
    else {
        panic!("an http URL was taken")
    };
    assert_eq!(
        factory_types::HasFault::fault(&error),
        factory_types::Fault::Input
    );
    assert!(!error.to_string().contains("pw@"), "{error}");
}
