//! Topics: how an event is named where it leaves the factory (the HTTP API's `topic`, the
//! live stream's event names, bus routing keys, hook patterns). An event's topic is its
//! kind with the subject and the verb split by a dot: `build_failed` is `build.failed`.
//!
//! The list of kinds lives here, not in the store that defines the events, because the
//! definition checks hook patterns against it and must not depend on the store; the store's
//! tests hold the list equal to its events.

/// Every event kind of the log, as the store writes it (`Event::kind`).
pub const EVENT_KINDS: &[&str] = &[
    "change_detected",
    "wave_planned",
    "wave_finished",
    "build_queued",
    "build_blocked",
    "build_started",
    "build_log",
    "build_succeeded",
    "build_failed",
    "build_cancelled",
    "build_reused",
    "build_cut_off",
    "artifact_stored",
    "token_created",
    "token_revoked",
    "access_decided",
    "webhook_received",
    "hook_ran",
    "release_made",
    "stream_eol",
];

/// The topic of an event kind: `build_cut_off` → `build.cut_off`.
pub fn topic(kind: &str) -> String {
    kind.replacen('_', ".", 1)
}

/// Every topic, in the order of [`EVENT_KINDS`].
pub fn topics() -> impl Iterator<Item = String> {
    EVENT_KINDS.iter().map(|kind| topic(kind))
}

/// Whether `topic` matches `pattern`, where `*` stands for any run of characters, dots
/// included (`build.*`, `*.failed`, `*`). A pattern this small needs no glob crate.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = topic.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(topic_matches("build.*", "build.succeeded"));
        assert!(topic_matches("*.failed", "build.failed"));
        assert!(topic_matches("*", "wave.planned"));
        assert!(topic_matches("wave.planned", "wave.planned"));
        assert!(topic_matches("b*d.*ed", "build.succeeded"));
        assert!(topic_matches("build.*off", "build.cut_off"));
        assert!(!topic_matches("build.*", "wave.planned"));
        assert!(!topic_matches("wave.planned", "wave.planned.x"));
        assert!(!topic_matches("*.failed", "build.failed.x"));
        assert!(!topic_matches("ab*b*ba", "aba"));
    }

    #[test]
    fn topics_split_subject_and_verb_once() {
        assert_eq!(topic("build_cut_off"), "build.cut_off");
        assert_eq!(topic("hook_ran"), "hook.ran");
        assert_eq!(topics().count(), EVENT_KINDS.len());
    }
}
