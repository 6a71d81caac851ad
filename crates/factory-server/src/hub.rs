//! One follower of the event log for the whole server, fanned out to every live client.
//! Each event is encoded once, whoever listens. A client that falls behind the fan-out's
//! buffer reads what it missed from the log itself and rejoins, so it never loses an event
//! and a slow client never slows the builds (nor the other clients).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use factory_store::{Backend, RecordedEvent, Seq, Store};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::metrics::Metrics;
use crate::wire::EventOut;

/// An event as the stream sends it, encoded once: its Server-Sent Events frame is made here,
/// not per client, so a thousand clients share one copy of it.
#[derive(Debug)]
pub struct HubEvent {
    pub seq: u64,
    pub topic: String,
    /// `id: SEQ`, `event: TOPIC`, `data: JSON` (the [`EventOut`], on one line) and the blank
    /// line that ends an event.
    pub frame: Bytes,
}

impl HubEvent {
    pub fn encode(recorded: &RecordedEvent) -> HubEvent {
        let out = EventOut::from(recorded);
        // serde_json writes no newline inside a document, so the data is one `data:` line.
        let json = serde_json::to_string(&out).unwrap_or_default();
        let frame = format!("id: {}\nevent: {}\ndata: {json}\n\n", out.seq, out.topic);
        HubEvent {
            seq: out.seq,
            topic: out.topic,
            frame: Bytes::from(frame),
        }
    }
}

/// Events the fan-out holds for clients that are a moment behind.
const BUFFER: usize = 16_384;
/// Events read from the log at once while a client catches up.
const CATCH_UP_PAGE: u32 = 2_048;

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<HubEvent>>,
}

impl Hub {
    /// Starts following the log after its current end; every event committed from then on
    /// is counted in `metrics` and sent to the subscribers.
    pub async fn start(
        store: &Store,
        metrics: Arc<Metrics>,
        kind_of: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Result<Hub, factory_store::StoreError> {
        let (tx, _) = broadcast::channel(BUFFER);
        let start = store.db().last_seq().await?;
        let mut follower = store
            .follow(start)
            .with_poll_interval(Duration::from_millis(100));
        let sender = tx.clone();
        tokio::spawn(async move {
            loop {
                match follower.next().await {
                    Ok(recorded) => {
                        metrics.observe_event(&recorded, &kind_of);
                        // No subscriber is not an error: nobody is watching.
                        let _ = sender.send(Arc::new(HubEvent::encode(&recorded)));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the event log for live clients; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Hub { tx })
    }

    /// A client's stream of every event after `after`, matching `filter`.
    pub fn subscribe(&self, log: Arc<dyn Backend>, after: u64) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
            log,
            cursor: after,
            backlog: VecDeque::new(),
            catching_up: true,
        }
    }
}

/// One client's position: it reads the log until it is level with the fan-out, then the
/// fan-out, skipping what it has already seen.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<HubEvent>>,
    log: Arc<dyn Backend>,
    cursor: u64,
    backlog: VecDeque<Arc<HubEvent>>,
    catching_up: bool,
}

impl Subscription {
    /// The next event, waiting for it; `Err` only when the log cannot be read.
    pub async fn next(&mut self) -> Result<Arc<HubEvent>, factory_store::StoreError> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.cursor = event.seq;
                return Ok(event);
            }
            if self.catching_up {
                let page = self
                    .log
                    .events_since(Seq(self.cursor), CATCH_UP_PAGE)
                    .await?;
                if page.is_empty() {
                    self.catching_up = false;
                }
                self.backlog
                    .extend(page.iter().map(|e| Arc::new(HubEvent::encode(e))));
                continue;
            }
            match self.rx.recv().await {
                Ok(event) if event.seq > self.cursor => {
                    self.cursor = event.seq;
                    return Ok(event);
                }
                Ok(_) => {}
                // Behind the fan-out's buffer: what was missed is in the log.
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

impl Subscription {
    /// The next event, waiting for it, and every other one that is already here (up to
    /// `max`): a client that is behind gets them in one write rather than one each, which is
    /// what keeps a thousand clients from costing the runtime a write per event each.
    pub async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Vec<Arc<HubEvent>>, factory_store::StoreError> {
        let mut batch = vec![self.next().await?];
        while batch.len() < max {
            match self.ready() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        Ok(batch)
    }

    /// An event that is here without waiting: from the backlog, or the fan-out. Catching up
    /// from the log is left to [`Subscription::next`], which awaits the read.
    fn ready(&mut self) -> Option<Arc<HubEvent>> {
        if let Some(event) = self.backlog.pop_front() {
            self.cursor = event.seq;
            return Some(event);
        }
        if self.catching_up {
            return None;
        }
        loop {
            match self.rx.try_recv() {
                Ok(event) if event.seq > self.cursor => {
                    self.cursor = event.seq;
                    return Some(event);
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => {
                    self.catching_up = true;
                    return None;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }
}

/// Whether `topic` matches `pattern`, where `*` stands for any run of characters
/// (`build.*`, `*.failed`); hooks match the same way.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    factory_types::topic::topic_matches(pattern, topic)
}
