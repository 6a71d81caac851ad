//! The words the engine explains itself with: what a build key is made of, named, so that
//! `factory explain` can say what changed against the previous build, and why each build
//! was queued. [`explain`] is what `factory explain` and the API's explain say.

use std::collections::{BTreeMap, BTreeSet};

use factory_store::{BuildRecord, BuildState, StoreError, Views};

use crate::recipe::{Prepared, recipe_digest};
use crate::wave::ChangeReason;

/// Every ingredient of the key, named: the source, each input, the recipe, the kind, the
/// environment. Recorded with the build; `factory explain` compares two of them.
pub fn ingredients(prepared: &Prepared) -> BTreeMap<String, String> {
    let m = &prepared.material;
    let mut map = BTreeMap::new();
    if let Some(source) = &m.source_digest {
        map.insert("source".into(), source.hex());
    }
    for (name, digest) in &m.inputs {
        map.insert(format!("input:{name}"), digest.hex());
    }
    map.insert("recipe".into(), recipe_digest(m).hex());
    map.insert("kind".into(), m.kind.clone());
    for (name, value) in &m.environment {
        map.insert(format!("env:{name}"), value.clone());
    }
    map
}

/// What differs between two builds' ingredients, one line each, in words.
pub fn differences(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut lines = Vec::new();
    for key in keys {
        let what = match key.split_once(':') {
            Some(("input", name)) => format!("input {name}"),
            Some(("env", name)) => format!("environment {name}"),
            _ => key.clone(),
        };
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a != b => {
                let (a, b) = if key.starts_with("env:") || key == "kind" {
                    (a.clone(), b.clone())
                } else {
                    (short(a), short(b))
                };
                lines.push(format!("{what} changed: {a} -> {b}"));
            }
            (Some(_), None) => lines.push(format!("{what} removed")),
            (None, Some(_)) => lines.push(format!("{what} added")),
            _ => {}
        }
    }
    lines
}

/// Why a build is queued: the change that named it (when it did) and what differs from the
/// job's previous build.
pub fn queue_reason(
    reason: &ChangeReason,
    is_changed: bool,
    previous: Option<&BuildRecord>,
    ingredients: &BTreeMap<String, String>,
) -> String {
    let diff = previous.map(|p| differences(&p.inputs, ingredients));
    let mut parts = Vec::new();
    let said = reason.describe();
    // "source changed" is already said by the difference line that follows.
    let repeated = diff
        .as_ref()
        .is_some_and(|d| d.iter().any(|line| line.starts_with(&said)));
    if is_changed && !repeated {
        parts.push(said);
    }
    match diff {
        None => parts.push("first build".into()),
        Some(d) if d.is_empty() => {
            if !is_changed {
                parts.push("affected; inputs as before".into());
            }
        }
        Some(d) => parts.push(d.join("; ")),
    }
    parts.join(": ")
}

/// Why a build ran: what differs from the previous build of the same component.
pub async fn explain(views: &dyn Views, record: &BuildRecord) -> Result<Vec<String>, StoreError> {
    let key = match record.key {
        Some(key) => format!("key {key}"),
        None => "no build key (it never got as far as computing one)".into(),
    };
    let mut lines = vec![
        format!(
            "build {} of {} ({}), {key}",
            record.id, record.component, record.state
        ),
        format!("queued because: {}", record.reason),
    ];
    if let Some(detail) = &record.detail {
        lines.push(format!("outcome: {detail}"));
    }
    if let (BuildState::Reused, Some(from)) = (record.state, record.related.first()) {
        lines.push(format!(
            "did not run: its build key had already succeeded in {from}"
        ));
    }
    if record.key.is_none() {
        // Without a key there are no ingredients to compare with an earlier build.
        return Ok(lines);
    }
    let history = views.builds_of_component(&record.component).await?;
    let previous = history
        .iter()
        .rev()
        .filter(|b| b.id < record.id && b.key.is_some())
        .find(|b| b.state.has_usable_outputs() || b.state == BuildState::Failed);
    match previous {
        None => lines.push("no earlier build of this component: first build".into()),
        Some(prev) if prev.key == record.key => lines.push(format!(
            "same build key as the previous build {} ({}): nothing changed",
            prev.id, prev.state
        )),
        Some(prev) => {
            lines.push(format!(
                "changed against the previous build {} ({}, key {}):",
                prev.id,
                prev.state,
                short_key(prev.key.as_ref())
            ));
            lines.extend(changed_lines(prev, record));
        }
    }
    Ok(lines)
}

/// What differs between two builds' ingredients, in the words `explain` uses.
fn changed_lines(prev: &BuildRecord, record: &BuildRecord) -> Vec<String> {
    // A tarball source's revision is its sha256, which is also its source digest.
    let tarball = record.inputs.contains_key("source")
        && record.inputs.get("source") == record.inputs.get("revision");
    let mut lines = Vec::new();
    for line in differences(&prev.inputs, &record.inputs) {
        let line = match line.split_once(' ') {
            Some(("revision", _)) if tarball => continue,
            Some(("source", rest)) if tarball => format!("source revision (tarball sha256) {rest}"),
            Some(("source", rest)) => format!("source revision (tree digest) {rest}"),
            Some(("recipe", rest)) => format!("recipe (kind commands, params, env) {rest}"),
            _ => line,
        };
        lines.push(format!("  - {line}"));
    }
    lines
}

fn short_key(key: Option<&factory_store::BuildKey>) -> String {
    key.map(factory_store::BuildKey::short).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn differences_are_named_in_words() {
        let old = map(&[
            ("source", "aaaaaaaaaaaaaaaa"),
            ("env:arch", "amd64"),
            ("input:lib", "1"),
        ]);
        let new = map(&[
            ("source", "bbbbbbbbbbbbbbbb"),
            ("env:arch", "arm64"),
            ("recipe", "r"),
        ]);
        assert_eq!(
            differences(&old, &new),
            [
                "environment arch changed: amd64 -> arm64",
                "input lib removed",
                "recipe added",
                "source changed: aaaaaaaaaaaa -> bbbbbbbbbbbb",
            ]
        );
    }

    #[test]
    fn a_reason_names_the_change_only_when_the_differences_do_not() {
        let first = queue_reason(&ChangeReason::Manual, true, None, &map(&[]));
        assert_eq!(first, "manual rebuild: first build");
        let affected = queue_reason(&ChangeReason::SourceChanged, false, None, &map(&[]));
        assert_eq!(affected, "first build");
    }
}
