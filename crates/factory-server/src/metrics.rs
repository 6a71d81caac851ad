//! `/metrics` in the Prometheus text format. Counters and histograms are fed by the event
//! hub as events are committed (so a build's duration is measured from its own events,
//! whoever ran it) and by the HTTP layer; the queue gauges are read from the store's
//! projections when scraped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use factory_store::{BuildId, Event, RecordedEvent};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabel {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    queue: Family<StateLabel, Gauge>,
    events: Family<TopicLabel, Counter>,
    finished: Family<StateLabel, Counter>,
    durations: Family<KindLabel, Histogram>,
    log_seq: Gauge,
    http: Family<RouteLabels, Histogram>,
    sse_clients: Gauge,
    bus_lag: Gauge,
    /// Builds started and not finished: their kind and start, for the duration histogram.
    running: Mutex<HashMap<BuildId, Running>>,
}

struct Running {
    component: String,
    started_ms: Option<i64>,
}

fn duration_histogram() -> Histogram {
    // 10 ms to about 45 minutes.
    Histogram::new(exponential_buckets(0.01, 2.5, 14))
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("factory");
        let queue = Family::<StateLabel, Gauge>::default();
        let events = Family::<TopicLabel, Counter>::default();
        let finished = Family::<StateLabel, Counter>::default();
        let durations = Family::<KindLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let http = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let log_seq = Gauge::default();
        let sse_clients = Gauge::default();
        registry.register(
            "queue_builds",
            "Unfinished builds by state (scheduled, building)",
            queue.clone(),
        );
        registry.register(
            "events",
            "Events committed since the server started, by topic",
            events.clone(),
        );
        registry.register("builds_finished", "Builds that reached a final state since the server started, by state (reused and unchanged count reuse and early cutoff)", finished.clone());
        registry.register(
            "build_duration_seconds",
            "Wall time of builds that ran, from start to end, by kind",
            durations.clone(),
        );
        registry.register(
            "event_log_seq",
            "Sequence number of the last event in the log",
            log_seq.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency to the response's head, by route and status",
            http.clone(),
        );
        registry.register(
            "sse_clients",
            "Clients following the event stream",
            sse_clients.clone(),
        );
        let bus_lag = Gauge::default();
        registry.register(
            "bus_outbox_lag",
            "Events in the log not yet acknowledged by the message bus (up --amqp)",
            bus_lag.clone(),
        );
        Metrics {
            registry,
            queue,
            events,
            finished,
            durations,
            log_seq,
            http,
            sse_clients,
            bus_lag,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a committed event; `kind_of` names a component's kind (from the definition).
    pub fn observe_event(&self, recorded: &RecordedEvent, kind_of: impl Fn(&str) -> String) {
        let topic = crate::wire::topic(recorded.event.kind());
        self.events.get_or_create(&TopicLabel { topic }).inc();
        self.log_seq.set(recorded.seq.0 as i64);
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match &recorded.event {
            Event::BuildQueued { component, .. } => {
                let entry = Running {
                    component: component.clone(),
                    started_ms: None,
                };
                running.insert(BuildId(recorded.seq.0), entry);
            }
            Event::BuildStarted { build, .. } => {
                if let Some(entry) = running.get_mut(build) {
                    entry.started_ms = Some(recorded.recorded_at_ms);
                }
            }
            event => {
                let Some((build, state)) = final_state(event) else {
                    return;
                };
                self.finished
                    .get_or_create(&StateLabel {
                        state: state.into(),
                    })
                    .inc();
                if let Some(Running {
                    component,
                    started_ms: Some(start),
                }) = running.remove(&build)
                {
                    let seconds = (recorded.recorded_at_ms - start).max(0) as f64 / 1000.0;
                    let kind = kind_of(&component);
                    self.durations
                        .get_or_create(&KindLabel { kind })
                        .observe(seconds);
                }
            }
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.http.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Sets the bus relay's lag: the log's last sequence number minus the last one the
    /// broker acknowledged.
    pub fn set_bus_lag(&self, lag: u64) {
        self.bus_lag.set(lag as i64);
    }

    pub fn sse_clients(&self) -> &Gauge {
        &self.sse_clients
    }

    /// The text exposition, with the queue gauges set from `queue` (state → count).
    pub fn encode(&self, queue: &[(&str, usize)], last_seq: u64) -> String {
        for (state, count) in queue {
            let label = StateLabel {
                state: (*state).to_owned(),
            };
            self.queue.get_or_create(&label).set(*count as i64);
        }
        self.log_seq.set(last_seq as i64);
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The build an event ends and the state it ends in.
fn final_state(event: &Event) -> Option<(BuildId, &'static str)> {
    Some(match event {
        Event::BuildSucceeded { build, .. } => (*build, "succeeded"),
        Event::BuildFailed { build, .. } => (*build, "failed"),
        Event::BuildCancelled { build, .. } => (*build, "cancelled"),
        Event::BuildBlocked { build, .. } => (*build, "blocked"),
        Event::BuildReused { build, .. } => (*build, "reused"),
        Event::BuildCutOff { build, .. } => (*build, "unchanged"),
        _ => return None,
    })
}
