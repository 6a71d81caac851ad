//! What a build records while it runs, before and after it has a number: its work starts
//! while its queued event (whose sequence number is the build's) is still being committed,
//! so events meanwhile wait here and follow the queued event in the log.

use std::sync::Mutex;

use factory_exec::{LogLine, LogSink};
use factory_store::{BuildId, Event, LogStream, Store};

pub(crate) struct BuildEvents {
    store: Store,
    state: Mutex<Result<BuildId, Vec<Unnumbered>>>,
}

/// An event of a build that may not have its number yet.
pub(crate) enum Unnumbered {
    Started { attempt: u32 },
    Log(LogStream, String),
}

impl Unnumbered {
    fn numbered(self, build: BuildId) -> Event {
        match self {
            Unnumbered::Started { attempt } => Event::BuildStarted { build, attempt },
            Unnumbered::Log(stream, mut text) => {
                text.push('\n');
                Event::BuildLog {
                    build,
                    stream,
                    chunk: text,
                }
            }
        }
    }
}

impl BuildEvents {
    pub(crate) fn new(store: Store) -> BuildEvents {
        BuildEvents {
            store,
            state: Mutex::new(Err(Vec::new())),
        }
    }

    /// Submitted without waiting for the commit: a start or a log line lost in a crash
    /// only means the restarted wave runs the build again. Submitted under the lock, so
    /// the events of one build keep their order.
    pub(crate) fn record(&self, event: Unnumbered) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Ok(build) => drop(self.store.db().submit_lazy(vec![event.numbered(*build)])),
            Err(waiting) => waiting.push(event),
        }
    }

    /// The build has its number: what waited goes to the log, and what follows goes at once.
    pub(crate) fn numbered(&self, build: BuildId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(waiting) = &mut *state {
            let events: Vec<Event> = waiting.drain(..).map(|e| e.numbered(build)).collect();
            if !events.is_empty() {
                drop(self.store.db().submit_lazy(events));
            }
        }
        *state = Ok(build);
    }
}

impl LogSink for BuildEvents {
    fn line(&self, line: &LogLine) {
        self.record(Unnumbered::Log(line.stream, line.text.clone()));
    }
}
