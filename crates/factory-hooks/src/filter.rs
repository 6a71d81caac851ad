//! Which events a hook runs for: its topic patterns, its components, and the rules that
//! keep hooks from feeding on themselves.
//!
//! The rules about hooks' own events (`hook.ran`), so that no set of hooks can loop:
//! - they reach only patterns that name them (`hook.ran`, `hook.*`), not `*` or `*.ran`;
//! - never the hook that ran;
//! - never at all when they tell of a hook that ran for a hook's event: hooks on hooks go
//!   one level deep, so two hooks on `hook.*` cannot answer each other forever.

use factory_def::Hook;
use factory_store::{BuildId, Event};
use factory_types::topic::topic_matches;

/// The topics of hooks' own events start so.
const HOOK_TOPICS: &str = "hook.";

/// Whether `hook` wants events of `topic`, `event` being one (its own facts decide for
/// hooks' outcomes). Components are asked separately: see [`subject`].
pub fn runs_for_topic(hook: &Hook, event: &Event, topic: &str) -> bool {
    if let Event::HookRan {
        hook: ran,
        topic: about,
        ..
    } = event
        && (*ran == hook.name || about.starts_with(HOOK_TOPICS))
    {
        return false;
    }
    hook.on.iter().any(|pattern| pattern_takes(pattern, topic))
}

fn pattern_takes(pattern: &str, topic: &str) -> bool {
    if topic.starts_with(HOOK_TOPICS) && !pattern.starts_with(HOOK_TOPICS) {
        return false;
    }
    topic_matches(pattern, topic)
}

/// What an event is about, as far as a `component` filter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// It names its component (`change.detected`, `build.queued`).
    Component(&'a str),
    /// It names a build, whose component the store knows.
    Build(BuildId),
    /// Nothing of one component (waves, tokens, hooks).
    Nothing,
}

pub fn subject(event: &Event) -> Subject<'_> {
    match event {
        Event::ChangeDetected { component, .. } | Event::BuildQueued { component, .. } => {
            Subject::Component(component)
        }
        event => event.build().map_or(Subject::Nothing, Subject::Build),
    }
}

/// Whether `hook` runs for an event about `component` (none: about no one component).
pub fn runs_for_component(hook: &Hook, component: Option<&str>) -> bool {
    hook.components.is_empty()
        || component.is_some_and(|c| hook.components.iter().any(|wanted| wanted == c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use factory_def::HookAction;
    use factory_store::{FailureKind, HookOutcome, Seq};

    fn hook(name: &str, on: &[&str], components: &[&str]) -> Hook {
        Hook {
            name: name.into(),
            origin: factory_def::Origin {
                file: "hooks.toml".into(),
                line: 1,
                column: 1,
            },
            description: None,
            on: on.iter().map(|s| s.to_string()).collect(),
            components: components.iter().map(|s| s.to_string()).collect(),
            action: HookAction::Command {
                argv: vec!["cat".into()],
                network: false,
            },
            timeout: factory_def::DEFAULT_HOOK_TIMEOUT,
            tries: 3,
        }
    }

    fn failed(build: u64) -> Event {
        Event::BuildFailed {
            build: BuildId(build),
            reason: "exit 1".into(),
            kind: FailureKind::User,
        }
    }

    fn ran(hook: &str, about: &str) -> Event {
        Event::HookRan {
            hook: hook.into(),
            event_seq: Seq(3),
            topic: about.into(),
            attempt: 1,
            outcome: HookOutcome::Failed,
            detail: "exit code 1".into(),
            duration_ms: 5,
            retry_in_ms: None,
        }
    }

    #[test]
    fn topics_by_pattern() {
        let on_failures = hook("notify", &["build.failed", "wave.*"], &[]);
        assert!(runs_for_topic(&on_failures, &failed(1), "build.failed"));
        let finished = Event::WaveFinished {
            wave: factory_store::WaveId(1),
            summary: "ok".into(),
        };
        assert!(runs_for_topic(&on_failures, &finished, "wave.finished"));
        let started = Event::BuildStarted {
            build: BuildId(1),
            attempt: 1,
        };
        assert!(!runs_for_topic(&on_failures, &started, "build.started"));
        let everything = hook("all", &["*"], &[]);
        assert!(runs_for_topic(&everything, &started, "build.started"));
    }

    #[test]
    fn hooks_own_events_reach_only_patterns_that_name_them() {
        let everything = hook("all", &["*", "*.ran"], &[]);
        assert!(!runs_for_topic(
            &everything,
            &ran("notify", "build.failed"),
            "hook.ran"
        ));
        let on_hooks = hook("watcher", &["hook.*"], &[]);
        assert!(runs_for_topic(
            &on_hooks,
            &ran("notify", "build.failed"),
            "hook.ran"
        ));
        let exact = hook("watcher", &["hook.ran"], &[]);
        assert!(runs_for_topic(
            &exact,
            &ran("notify", "build.failed"),
            "hook.ran"
        ));
    }

    #[test]
    fn a_hook_never_runs_for_itself_nor_for_a_hook_on_hooks() {
        let on_hooks = hook("watcher", &["hook.*", "build.failed"], &[]);
        // Its own outcome, whatever it ran for.
        assert!(!runs_for_topic(
            &on_hooks,
            &ran("watcher", "build.failed"),
            "hook.ran"
        ));
        // Another hook's outcome for a hook's outcome: one level deep only, so two
        // watchers of `hook.*` cannot answer each other forever.
        assert!(!runs_for_topic(
            &on_hooks,
            &ran("other-watcher", "hook.ran"),
            "hook.ran"
        ));
        // Its other topics are unaffected.
        assert!(runs_for_topic(&on_hooks, &failed(2), "build.failed"));
    }

    #[test]
    fn components_by_the_event_or_its_build() {
        let queued = Event::BuildQueued {
            wave: None,
            component: "hello".into(),
            key: None,
            reason: "first".into(),
            inputs: Default::default(),
        };
        assert_eq!(subject(&queued), Subject::Component("hello"));
        assert_eq!(subject(&failed(7)), Subject::Build(BuildId(7)));
        assert_eq!(subject(&ran("x", "build.failed")), Subject::Nothing);

        let on_hello = hook("notify", &["build.*"], &["hello", "libgreet"]);
        assert!(runs_for_component(&on_hello, Some("hello")));
        assert!(!runs_for_component(&on_hello, Some("motd")));
        assert!(!runs_for_component(&on_hello, None));
        let on_anything = hook("notify", &["*"], &[]);
        assert!(runs_for_component(&on_anything, None));
        assert!(runs_for_component(&on_anything, Some("motd")));
    }
}
