//! The commands that read the store: `status`, `log`, `events` and `explain`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use factory_store::{BuildId, BuildKey, BuildRecord, BuildState, Event, RecordedEvent, Seq, Store};

/// The store in `dir`, which must exist: the reading commands create nothing.
pub(super) async fn open_store(store_dir: &Path) -> Result<Store> {
    if !store_dir.join(factory_store::DATABASE_FILE).exists() {
        bail!(
            "no factory store in {}: run `factory up` (or `factory demo --dir D`) first, or pass --store",
            store_dir.display()
        );
    }
    Store::open(store_dir)
        .await
        .with_context(|| format!("cannot open the store in {}", store_dir.display()))
}

pub(super) async fn status(store_dir: &Path) -> Result<()> {
    let store = open_store(store_dir).await?;
    let db = store.db();
    println!("recent waves:");
    for wave in db.recent_waves(5).await? {
        println!(
            "  {:<7} {:<9} {} — {}",
            wave.id.to_string(),
            format!("{:?}", wave.state).to_lowercase(),
            wave.trigger,
            wave.summary.as_deref().unwrap_or("running")
        );
    }
    println!("components:");
    for record in db.components().await? {
        let name = &record.name;
        let latest = record
            .latest_build
            .as_ref()
            .map(|b| format!("{} {}", b.id, b.state))
            .unwrap_or_else(|| "never built".into());
        let usable = record
            .latest_success
            .as_ref()
            .map(|b| format!("usable: {} ({})", b.id, short_key(b.key.as_ref())))
            .unwrap_or_else(|| "no usable output".into());
        let revision = record
            .revision
            .as_deref()
            .map(|r| format!(" source {}", short(r)))
            .unwrap_or_default();
        println!("  {name:<20} {latest:<16} {usable}{revision}");
    }
    Ok(())
}

/// A key as lists show it: its first 12 hex digits (nothing for a build without one).
fn short_key(key: Option<&BuildKey>) -> String {
    key.map(BuildKey::short).unwrap_or_default()
}

fn short(text: &str) -> String {
    text.chars().take(12).collect()
}

/// `b12`, `12` or a prefix (at least 6 hex digits) of a build key.
async fn find_build(store: &Store, text: &str) -> Result<BuildRecord> {
    let db = store.db();
    let number = text.strip_prefix('b').unwrap_or(text);
    if let Ok(id) = number.parse::<u64>()
        && let Some(build) = db.build(BuildId(id)).await?
    {
        return Ok(build);
    }
    if text.len() >= 6 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut found: Vec<BuildRecord> = Vec::new();
        for name in db.component_names().await? {
            let builds = db.builds_of_component(&name).await?;
            let matching = |b: &BuildRecord| b.key.is_some_and(|k| k.hex().starts_with(text));
            found.extend(builds.into_iter().filter(matching));
        }
        // Several builds can share a key (reuse): the one that ran is the interesting one.
        found.sort_by_key(|b| (b.state != BuildState::Succeeded, b.id));
        if let Some(build) = found.into_iter().next() {
            return Ok(build);
        }
    }
    bail!(
        "no build `{text}`: give a build number (b12) or a build key prefix; `factory status` lists builds"
    )
}

pub(super) async fn log(store_dir: &Path, build: &str, follow: bool) -> Result<()> {
    let store = open_store(store_dir).await?;
    let record = find_build(&store, build).await?;
    let mut after = Seq(0);
    loop {
        let chunks = store.db().build_log(record.id, after).await?;
        for chunk in &chunks {
            print!("{}", chunk.chunk);
            after = chunk.seq;
        }
        if !follow {
            break;
        }
        let now = store.db().build(record.id).await?;
        if chunks.is_empty() && now.is_none_or(|b| !b.state.is_unfinished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

pub(super) async fn events(store_dir: &Path, follow: bool, after: u64) -> Result<()> {
    let store = open_store(store_dir).await?;
    let mut follower = store.follow(Seq(after));
    loop {
        let batch = if follow {
            vec![follower.next().await?]
        } else {
            follower.next_available().await?
        };
        if batch.is_empty() {
            break;
        }
        for event in &batch {
            println!("{}", describe_event(event));
        }
    }
    Ok(())
}

/// One line per event: sequence number, type, the essentials.
pub(super) fn describe_event(recorded: &RecordedEvent) -> String {
    format!(
        "{:>6} {:<16} {}",
        recorded.seq.0,
        recorded.event.kind(),
        essentials(&recorded.event)
    )
}

fn webhook_received(event: &Event) -> String {
    let Event::WebhookReceived {
        forge,
        delivery,
        repository,
        git_ref,
        components,
        ..
    } = event
    else {
        return event.kind().to_owned();
    };
    format!(
        "{forge} delivery {delivery}: push to {repository} {git_ref} -> [{}]",
        components.join(", ")
    )
}

fn essentials(event: &Event) -> String {
    match event {
        Event::ChangeDetected {
            component, reason, ..
        } => format!("{component}: {reason}"),
        Event::WavePlanned {
            trigger, affected, ..
        } => format!("{} job(s): {trigger}", affected.len()),
        Event::WaveFinished { wave, summary } => format!("{wave}: {summary}"),
        Event::BuildQueued {
            wave,
            component,
            key,
            reason,
            ..
        } => format!(
            "{component} key {} in {}: {reason}",
            short_key(key.as_ref()),
            wave.map(|w| w.to_string()).unwrap_or_default()
        ),
        Event::BuildBlocked { build, reason, .. } => format!("{build}: {reason}"),
        Event::BuildStarted { build, attempt } => format!("{build} attempt {attempt}"),
        Event::BuildLog { build, chunk, .. } => format!("{build} | {}", chunk.trim_end()),
        Event::BuildSucceeded { build, outputs } => {
            let outputs: Vec<String> = outputs
                .iter()
                .map(|o| format!("{} {}", o.name, o.digest))
                .collect();
            format!("{build}: {}", outputs.join(", "))
        }
        Event::BuildFailed {
            build,
            reason,
            kind,
        } => format!("{build} ({}): {reason}", kind.as_str()),
        Event::BuildCancelled { build, reason } => format!("{build}: {reason}"),
        Event::BuildReused { build, from } => format!("{build}: reuses {from}"),
        Event::BuildCutOff { build, reason, .. } => format!("{build}: {reason}"),
        Event::ArtifactStored {
            digest,
            name,
            build,
            ..
        } => format!(
            "{name} {digest}{}",
            build.map(|b| format!(" of {b}")).unwrap_or_default()
        ),
        Event::TokenCreated {
            name,
            scope,
            owners,
        } if owners.is_empty() => format!("{name} ({scope})"),
        Event::TokenCreated {
            name,
            scope,
            owners,
        } => format!("{name} ({scope}) owned by {}", owners.join(", ")),
        Event::TokenRevoked { name } => name.clone(),
        Event::AccessDecided {
            who,
            action,
            target,
            allowed,
            why,
        } => {
            let verdict = if *allowed { "allowed" } else { "refused" };
            format!("{who} {action} {target}: {verdict}, {why}")
        }
        Event::WebhookReceived { .. } => webhook_received(event),
        Event::HookRan { .. } => hook_ran(event),
        other => other.kind().to_owned(),
    }
}

/// `notify for #12 build.failed attempt 1: failed in 40 ms, again in 1s: exit code 75`.
fn hook_ran(event: &Event) -> String {
    let Event::HookRan {
        hook,
        event_seq,
        topic,
        attempt,
        outcome,
        detail,
        duration_ms,
        retry_in_ms,
    } = event
    else {
        return event.kind().to_owned();
    };
    let retry = retry_in_ms
        .map(|ms| {
            format!(
                ", again in {}",
                humantime::format_duration(Duration::from_millis(ms))
            )
        })
        .unwrap_or_default();
    format!(
        "{hook} for #{} {topic} attempt {attempt}: {} in {duration_ms} ms{retry}: {}",
        event_seq.0,
        outcome.as_str(),
        one_line(detail)
    )
}

/// A multi-line detail (a status, then the end of an output) on the event's one line.
fn one_line(detail: &str) -> String {
    const LIMIT: usize = 240;
    let joined = detail.lines().collect::<Vec<_>>().join(" | ");
    if joined.chars().count() <= LIMIT {
        return joined;
    }
    let cut: String = joined.chars().take(LIMIT).collect();
    format!("{cut}…")
}

pub(super) async fn explain(store_dir: &Path, build: &str) -> Result<()> {
    let store = open_store(store_dir).await?;
    let record = find_build(&store, build).await?;
    for line in factory_engine::explain::explain(store.db(), &record).await? {
        println!("{line}");
    }
    Ok(())
}
