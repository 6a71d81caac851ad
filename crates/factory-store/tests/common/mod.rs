//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use factory_store::{BuildId, BuildKey, Digest, Event, LogStream, WaveId};

/// A build key named by a word, for tests that only compare keys.
pub(crate) fn key(name: &str) -> BuildKey {
    BuildKey(Digest::of(name.as_bytes()))
}

pub(crate) fn change(component: &str, revision: &str) -> Event {
    Event::ChangeDetected {
        component: component.into(),
        reason: "upstream commit".into(),
        revision: Some(revision.into()),
    }
}

pub(crate) fn queued(wave: Option<WaveId>, component: &str, key: &str) -> Event {
    Event::BuildQueued {
        wave,
        component: component.into(),
        key: Some(self::key(key)),
        reason: format!("{component} changed"),
        inputs: BTreeMap::from([("source".into(), format!("rev-of-{key}"))]),
    }
}

pub(crate) fn log(build: BuildId, text: &str) -> Event {
    Event::BuildLog {
        build,
        stream: LogStream::Stdout,
        chunk: text.into(),
    }
}

pub(crate) fn wave(trigger: &str, components: &[&str]) -> Event {
    Event::WavePlanned {
        trigger: trigger.into(),
        affected: components.iter().map(|c| c.to_string()).collect(),
        plan: components.iter().map(|c| vec![c.to_string()]).collect(),
    }
}
