//! Every topic Factory publishes, with its meaning, severity, JSON Schema (generated from
//! its wire type) and an example; and `docs/events.md`'s section on topics, rendered from
//! the same table so the page cannot drift from the code (a test compares them).

use std::collections::BTreeMap;

use factory_store::{
    BuildId, BuildKey, BuildOutput, Digest, Event, FailureKind, LogStream, RecordedEvent, Seq,
    WaveId,
};
use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::message::Severity;
use crate::wire::{self, Envelope};

/// One topic: what it means and what its messages hold.
pub struct Topic {
    /// Without the prefix: `build.succeeded`.
    pub name: &'static str,
    pub meaning: &'static str,
    pub severity: Severity,
    schema: fn(&Topic) -> Value,
    example: fn() -> Event,
}

impl Topic {
    /// The JSON Schema (2020-12) of a whole message body of this topic.
    pub fn schema(&self) -> Value {
        (self.schema)(self)
    }

    /// A message body of this topic, as published.
    pub fn example(&self) -> Value {
        serde_json::to_value(self.example_body()).expect("bodies are JSON")
    }

    fn example_body(&self) -> wire::Body {
        let recorded = RecordedEvent {
            seq: Seq(42),
            recorded_at_ms: 1_796_278_495_123,
            event: (self.example)(),
        };
        wire::Body::from_recorded(&recorded)
    }
}

/// The schema of [`Envelope`]`<D>` for `topic`: generated, with `topic` pinned to its name.
fn envelope<D: JsonSchema>(topic: &Topic) -> Value {
    let mut schema = schemars::schema_for!(Envelope<D>).to_value();
    schema["$id"] = json!(format!("/api/v1/schemas/{}", topic.name));
    schema["title"] = json!(topic.name);
    schema["description"] = json!(topic.meaning);
    let described = schema["properties"]["topic"]["description"].clone();
    schema["properties"]["topic"] = json!({"const": topic.name, "description": described});
    schema
}

macro_rules! topic {
    ($name:literal, $wire:ty, $severity:ident, $meaning:literal, $example:expr) => {
        Topic {
            name: $name,
            meaning: $meaning,
            severity: Severity::$severity,
            schema: envelope::<$wire>,
            example: $example,
        }
    };
}

fn digest() -> Digest {
    Digest::of(b"hello_1.0_amd64.deb")
}

/// Every topic, in the order of a build's life.
pub static TOPICS: &[Topic] = &[
    topic!(
        "change.detected",
        wire::ChangeDetected,
        Info,
        "A component changed upstream, in the definition, or by hand (`factory rebuild`, `POST .../rebuild`).",
        || Event::ChangeDetected {
            component: "libgreet".into(),
            reason: "upstream commit".into(),
            revision: Some("4f2a9c1".into())
        }
    ),
    topic!(
        "wave.planned",
        wire::WavePlanned,
        Info,
        "A wave was planned: the affected set of a change and the order it is rebuilt in. The wave's id is this message's `seq`.",
        || Event::WavePlanned {
            trigger: "libgreet: upstream commit".into(),
            affected: vec!["libgreet".into(), "hello".into()],
            plan: vec![vec!["libgreet".into()], vec!["hello".into()]]
        }
    ),
    topic!(
        "wave.finished",
        wire::WaveFinished,
        Info,
        "Every build of a wave reached a final state.",
        || Event::WaveFinished {
            wave: WaveId(7),
            summary: "2 succeeded".into()
        }
    ),
    topic!(
        "build.queued",
        wire::BuildQueued,
        Info,
        "A build was scheduled. The build's id is this message's `seq`.",
        || Event::BuildQueued {
            wave: Some(WaveId(7)),
            component: "hello".into(),
            key: Some(BuildKey(Digest::of(b"key"))),
            reason: "input libgreet changed".into(),
            inputs: BTreeMap::from([("source".into(), "4f2a9c1".into())])
        }
    ),
    topic!(
        "build.blocked",
        wire::BuildBlocked,
        Warning,
        "A dependency of the build failed: it will not run in its wave.",
        || Event::BuildBlocked {
            build: BuildId(44),
            by: vec![BuildId(43)],
            reason: "libgreet failed".into()
        }
    ),
    topic!(
        "build.started",
        wire::BuildStarted,
        Info,
        "An attempt of the build started running.",
        || Event::BuildStarted {
            build: BuildId(44),
            attempt: 1
        }
    ),
    topic!(
        "build.log",
        wire::BuildLog,
        Debug,
        "Lines of a running build's log.",
        || Event::BuildLog {
            build: BuildId(44),
            stream: LogStream::Stdout,
            chunk: "compiling hello.c\n".into()
        }
    ),
    topic!(
        "build.succeeded",
        wire::BuildSucceeded,
        Info,
        "The build ran and its outputs are stored.",
        || Event::BuildSucceeded {
            build: BuildId(44),
            outputs: vec![BuildOutput {
                name: "hello.deb".into(),
                digest: digest(),
                size: 2048
            }]
        }
    ),
    topic!(
        "build.failed",
        wire::BuildFailed,
        Error,
        "The build failed: by its own fault (`user`, never retried) or the machine's (`infrastructure`, after the retries).",
        || Event::BuildFailed {
            build: BuildId(44),
            reason: "exit status 2".into(),
            kind: FailureKind::User
        }
    ),
    topic!(
        "build.cancelled",
        wire::BuildCancelled,
        Info,
        "The build was cancelled: superseded by a newer change, asked for, or shut down.",
        || Event::BuildCancelled {
            build: BuildId(44),
            reason: "superseded by wave w50".into()
        }
    ),
    topic!(
        "build.reused",
        wire::BuildReused,
        Info,
        "The build key already succeeded: its outputs are reused and nothing runs.",
        || Event::BuildReused {
            build: BuildId(44),
            from: BuildId(12)
        }
    ),
    topic!(
        "build.cut_off",
        wire::BuildCutOff,
        Info,
        "Early cutoff: the inputs turned out identical to those of an earlier build, nothing runs.",
        || Event::BuildCutOff {
            build: BuildId(44),
            reason: "inputs identical to b12".into(),
            previous: Some(BuildId(12))
        }
    ),
    topic!(
        "artifact.stored",
        wire::ArtifactStored,
        Info,
        "A blob was stored in the content-addressed store and named.",
        || Event::ArtifactStored {
            digest: digest(),
            name: "hello.deb".into(),
            kind: "deb".into(),
            size: 2048,
            build: Some(BuildId(44))
        }
    ),
    topic!(
        "token.created",
        wire::TokenCreated,
        Info,
        "An API token was made (an audit record; never the token nor its hash).",
        || Event::TokenCreated {
            name: "ci".into(),
            scope: "build".into(),
            owners: vec!["infra".into()]
        }
    ),
    topic!(
        "token.revoked",
        wire::TokenRevoked,
        Info,
        "The active API token of this name was revoked (an audit record).",
        || Event::TokenRevoked { name: "ci".into() }
    ),
    topic!(
        "access.decided",
        wire::AccessDecided,
        Info,
        "The server decided whether a token holder may rebuild or cancel something (an audit record of every such request, allowed or refused).",
        || Event::AccessDecided {
            who: "ci".into(),
            action: "rebuild".into(),
            target: "hello".into(),
            allowed: true,
            why: "hello is owned by infra".into()
        }
    ),
    topic!(
        "webhook.received",
        wire::WebhookReceived,
        Info,
        "A forge told of a push (a webhook delivery with a valid signature), and which components follow the pushed ref.",
        || Event::WebhookReceived {
            forge: "github".into(),
            delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            repository: "https://git.example.org/greet.git".into(),
            git_ref: "refs/heads/main".into(),
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            components: vec!["libgreet".into()]
        }
    ),
    topic!(
        "hook.ran",
        wire::HookRan,
        Info,
        "A hook of the definition was run for an event: one record per attempt, with its outcome.",
        || Event::HookRan {
            hook: "notify".into(),
            event_seq: factory_store::Seq(9),
            topic: "build.failed".into(),
            attempt: 1,
            outcome: factory_store::HookOutcome::Succeeded,
            detail: "exit status 0".into(),
            duration_ms: 12,
            retry_in_ms: None
        }
    ),
    topic!(
        "release.made",
        wire::ReleaseMade,
        Info,
        "A product stream released a candidate into one of its channels: numbered, immutable, with the compose that holds it.",
        || Event::ReleaseMade {
            product: "demo-os".into(),
            stream: "1.0".into(),
            channel: "stable".into(),
            number: 2,
            candidate: factory_store::Digest::of(b"candidate"),
            contents: [("hello".to_string(), factory_store::Digest::of(b"hello"))].into(),
            compose_id: "demo-os-1.0-20261206.0".into(),
            compose_path: "composes/demo-os-1.0-20261206.0".into(),
            by: "after 3d in testing".into(),
            why: "All required tests (1 total) have passed or been waived".into()
        }
    ),
    topic!(
        "stream.eol",
        wire::StreamEol,
        Warning,
        "A product stream's end of life is near (`warning`) or passed (`ended`: it releases nothing more).",
        || Event::StreamEol {
            product: "demo-os".into(),
            stream: "1.0".into(),
            notice: "warning".into(),
            end_of_life: "2027-12-31".into()
        }
    ),
];

/// The topic of this name, if Factory publishes it.
pub fn topic(name: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.name == name)
}

/// The section of `docs/events.md` between its markers: every topic with its fields and an
/// example, rendered from [`TOPICS`].
pub fn render_topics(prefix: &str) -> String {
    let mut out = render_envelope();
    for topic in TOPICS {
        let schema = topic.schema();
        out += &format!("### `{}`\n\n{}\n\n", topic.name, topic.meaning);
        out += &format!(
            "Routing key `{prefix}.{}`, severity {} ({}). Schema: `GET /api/v1/schemas/{}`.\n\n",
            topic.name,
            topic.severity.level(),
            format!("{:?}", topic.severity).to_lowercase(),
            topic.name
        );
        out += "| Field of `data` | Type | Meaning |\n|---|---|---|\n";
        let data = resolve(&schema, &schema["properties"]["data"]);
        for (name, field) in properties(data) {
            let required = data["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|n| n == name.as_str()));
            let kind = type_of(&schema, field);
            let kind = if required || kind.ends_with("or null") {
                kind
            } else {
                format!("{kind}, optional")
            };
            let meaning = description(&schema, field);
            out += &format!("| `{name}` | {kind} | {meaning} |\n");
        }
        // The body itself, not a JSON value: its fields in the order they are sent.
        let example = serde_json::to_string_pretty(&topic.example_body()).expect("JSON");
        out += &format!("\nExample body:\n\n```json\n{example}\n```\n\n");
    }
    out
}

/// The envelope every body shares, from the schema of any topic.
fn render_envelope() -> String {
    let schema = TOPICS[0].schema();
    let mut out = String::from("Every body has the same envelope; `data` is the topic's own.\n\n");
    out += "| Field | Type | Meaning |\n|---|---|---|\n";
    for (name, field) in properties(&schema) {
        let kind = match name.as_str() {
            "topic" => "string".to_owned(),
            "data" => "object".to_owned(),
            _ => type_of(&schema, field),
        };
        out += &format!("| `{name}` | {kind} | {} |\n", description(&schema, field));
    }
    out + "\n"
}

fn properties(schema: &Value) -> Vec<(String, &Value)> {
    schema["properties"]
        .as_object()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

/// The definition a `$ref` points to (`#/$defs/NAME`), or the schema itself.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => &root["$defs"][name],
        None => schema,
    }
}

fn description(root: &Value, field: &Value) -> String {
    let own = field["description"].as_str();
    let text = own.or_else(|| resolve(root, field)["description"].as_str());
    text.unwrap_or("").replace('\n', " ")
}

/// A field's type in words: `integer`, `string or null`, `array of string`, `one of ...`.
fn type_of(root: &Value, field: &Value) -> String {
    if field.get("$ref").is_some() {
        let target = resolve(root, field);
        let values = enum_values(target);
        if !values.is_empty() {
            return format!("one of {}", values.join(", "));
        }
        let names: Vec<String> = properties(target)
            .into_iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        return format!("object ({})", names.join(", "));
    }
    if let Some(any) = field["anyOf"].as_array() {
        let kinds: Vec<String> = any.iter().map(|s| type_of(root, s)).collect();
        return kinds.join(" or ");
    }
    let base = match &field["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => vec!["any".to_owned()],
    };
    let words: Vec<String> = base
        .into_iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", type_of(root, &field["items"])),
            "object" if field["additionalProperties"].is_object() => {
                format!(
                    "object of {}",
                    type_of(root, &field["additionalProperties"])
                )
            }
            _ => t,
        })
        .collect();
    words.join(" or ")
}

fn enum_values(schema: &Value) -> Vec<String> {
    let listed = schema["enum"].as_array().cloned().unwrap_or_default();
    let constants = schema["oneOf"]
        .as_array()
        .map(|one| {
            one.iter()
                .flat_map(enum_values_or_const)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    listed
        .iter()
        .filter_map(|v| v.as_str().map(|s| format!("`{s}`")))
        .chain(constants)
        .collect()
}

fn enum_values_or_const(schema: &Value) -> Vec<String> {
    match schema["const"].as_str() {
        Some(c) => vec![format!("`{c}`")],
        None => enum_values(schema),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_the_store_writes_has_a_topic() {
        let topics: Vec<&str> = TOPICS.iter().map(|t| t.name).collect();
        for kind in Event::KINDS {
            assert!(
                topics.contains(&wire::topic(kind).as_str()),
                "no topic for {kind}"
            );
        }
        assert_eq!(TOPICS.len(), Event::KINDS.len());
        // And none falls back to the stored form.
        for topic in TOPICS {
            let data = wire::Data::from_event(&(topic.example)());
            assert!(!matches!(data, wire::Data::Other(_)), "{}", topic.name);
        }
    }

    #[test]
    fn each_topic_is_its_event_kind_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for topic in TOPICS {
            let example = (topic.example)();
            assert_eq!(wire::topic(example.kind()), topic.name);
            assert!(seen.insert(topic.name), "{} twice", topic.name);
            assert_eq!(Severity::of(&example), topic.severity, "{}", topic.name);
            assert_eq!(topic.example()["topic"], topic.name);
        }
    }
}
