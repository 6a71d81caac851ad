//! One follower of the event log for the whole server, fanned out to every live client.
//! Each event is encoded once, whoever listens, and what one commit brings is sent as one
//! batch: a client is woken once per batch, not once per event, and a client that is level
//! with the log writes the batch's frames as they are, without copying them. A client that
//! falls behind the fan-out's buffer reads what it missed from the log itself and rejoins,
//! so it never loses an event and a slow client never slows the builds (nor the others).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use factory_store::{Backend, RecordedEvent, Seq, Store};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::metrics::Metrics;
use crate::wire::EventOut;

/// An event as the stream sends it, encoded once: its Server-Sent Events frame is made here,
/// not per client.
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

/// Consecutive events of the log, with all their frames in one piece.
#[derive(Debug)]
pub struct HubBatch {
    events: Vec<HubEvent>,
    frames: Bytes,
}

impl HubBatch {
    fn new(events: Vec<HubEvent>) -> HubBatch {
        let mut frames = BytesMut::with_capacity(events.iter().map(|e| e.frame.len()).sum());
        for event in &events {
            frames.extend_from_slice(&event.frame);
        }
        HubBatch {
            events,
            frames: frames.freeze(),
        }
    }

    fn first(&self) -> u64 {
        self.events.first().map_or(0, |e| e.seq)
    }

    fn last(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// Batches the fan-out holds for clients that are a moment behind.
const BUFFER: usize = 4_096;
/// Events read from the log at once while a client catches up.
const CATCH_UP_PAGE: u32 = 2_048;
/// Bytes a client is sent in one piece at most once it holds more than one batch.
const CHUNK: usize = 256 * 1024;

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<HubBatch>>,
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
                match follower.next_available().await {
                    Ok(recorded) => {
                        for event in &recorded {
                            metrics.observe_event(event, &kind_of);
                        }
                        let batch = HubBatch::new(recorded.iter().map(HubEvent::encode).collect());
                        // No subscriber is not an error: nobody is watching.
                        let _ = sender.send(Arc::new(batch));
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

    /// A client's stream of every event after `after`.
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
    rx: broadcast::Receiver<Arc<HubBatch>>,
    log: Arc<dyn Backend>,
    cursor: u64,
    backlog: VecDeque<HubEvent>,
    catching_up: bool,
}

impl Subscription {
    /// The frames of the next events this client wants (those whose topic `wanted` says
    /// yes to), waiting for them: every event that is already here, in one piece. `Err` only
    /// when the log cannot be read.
    pub async fn next_chunk(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Bytes, factory_store::StoreError> {
        loop {
            let mut chunk = ChunkBuilder::default();
            if self.catching_up {
                self.catch_up(wanted, &mut chunk).await?;
            } else {
                match self.rx.recv().await {
                    Ok(batch) => self.take(&batch, wanted, &mut chunk),
                    // Behind the fan-out's buffer: what was missed is in the log.
                    Err(RecvError::Lagged(_)) => self.catching_up = true,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
                self.take_ready(wanted, &mut chunk);
            }
            if let Some(bytes) = chunk.finish() {
                return Ok(bytes);
            }
        }
    }

    /// One page of the log after the cursor; level with the log once a page is empty.
    async fn catch_up(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        chunk: &mut ChunkBuilder,
    ) -> Result<(), factory_store::StoreError> {
        if self.backlog.is_empty() {
            let page = self
                .log
                .events_since(Seq(self.cursor), CATCH_UP_PAGE)
                .await?;
            if page.is_empty() {
                self.catching_up = false;
                return Ok(());
            }
            self.backlog.extend(page.iter().map(HubEvent::encode));
        }
        while let Some(event) = self.backlog.pop_front() {
            self.cursor = event.seq;
            if wanted(&event.topic) {
                chunk.push(event.frame);
            }
        }
        Ok(())
    }

    /// The batches already waiting in the fan-out, up to a chunk's size.
    fn take_ready(&mut self, wanted: &(dyn Fn(&str) -> bool + Sync), chunk: &mut ChunkBuilder) {
        while chunk.len() < CHUNK {
            match self.rx.try_recv() {
                Ok(batch) => self.take(&batch, wanted, chunk),
                Err(TryRecvError::Lagged(_)) => {
                    self.catching_up = true;
                    return;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// What of a batch is new to this client: all of it, as one piece, when it is level
    /// with the log and wants every topic.
    fn take(
        &mut self,
        batch: &HubBatch,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        chunk: &mut ChunkBuilder,
    ) {
        if batch.last() <= self.cursor {
            return;
        }
        let whole = batch.first() > self.cursor && batch.events.iter().all(|e| wanted(&e.topic));
        if whole {
            chunk.push(batch.frames.clone());
        } else {
            for event in batch.events.iter().filter(|e| e.seq > self.cursor) {
                if wanted(&event.topic) {
                    chunk.push(event.frame.clone());
                }
            }
        }
        self.cursor = batch.last();
    }
}

/// Frames for one write: a single piece is passed on as it is (no copy); several are
/// joined.
#[derive(Default)]
struct ChunkBuilder {
    pieces: Vec<Bytes>,
    len: usize,
}

impl ChunkBuilder {
    fn push(&mut self, piece: Bytes) {
        self.len += piece.len();
        self.pieces.push(piece);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn finish(mut self) -> Option<Bytes> {
        match self.pieces.len() {
            0 => None,
            1 => self.pieces.pop(),
            _ => {
                let mut joined = BytesMut::with_capacity(self.len);
                for piece in &self.pieces {
                    joined.extend_from_slice(piece);
                }
                Some(joined.freeze())
            }
        }
    }
}

/// Whether `topic` matches `pattern`, where `*` stands for any run of characters
/// (`build.*`, `*.failed`); hooks match the same way.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    factory_types::topic::topic_matches(pattern, topic)
}
