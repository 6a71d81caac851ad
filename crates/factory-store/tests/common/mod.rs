//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use factory_store::{BuildId, BuildKey, Event, LogStream, WaveId};

pub fn change(component: &str, revision: &str) -> Event {
    Event::ChangeDetected {
        component: component.into(),
        reason: "upstream commit".into(),
        revision: Some(revision.into()),
    }
}

pub fn queued(wave: Option<WaveId>, component: &str, key: &str) -> Event {
    Event::BuildQueued {
        wave,
        component: component.into(),
        key: BuildKey(key.into()),
        reason: format!("{component} changed"),
        inputs: BTreeMap::from([("source".into(), format!("rev-of-{key}"))]),
    }
}

pub fn log(build: BuildId, text: &str) -> Event {
    Event::BuildLog {
        build,
        stream: LogStream::Stdout,
        chunk: text.into(),
    }
}

pub fn wave(trigger: &str, components: &[&str]) -> Event {
    Event::WavePlanned {
        trigger: trigger.into(),
        affected: components.iter().map(|c| c.to_string()).collect(),
        plan: components.iter().map(|c| vec![c.to_string()]).collect(),
    }
}
