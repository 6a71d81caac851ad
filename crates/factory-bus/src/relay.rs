//! The relay: every event of the log, in order, to an AMQP exchange, at least once.
//!
//! It reads the log after a durable cursor ([`factory_store::Cursors`]), publishes with
//! publisher confirms and many messages in flight, and moves the cursor only over events the
//! broker acknowledged, in sequence order. A broker that is down or restarts only delays
//! delivery: the relay reconnects with a growing pause and goes on after the last event
//! acknowledged, so what was in flight is published again (same message ids). It only reads
//! the log, so it never slows a build; events wait in the log, which is durable anyway.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use factory_store::{Backend, EventFollower, Seq};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, PublisherConfirm};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{BusError, redact};
use crate::message::{DEFAULT_EXCHANGE, DEFAULT_PREFIX, Encoder, Message, SCHEMA, SCHEMA_PACKAGE};

/// Where and how the relay publishes.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `amqp://USER:PASSWORD@HOST:PORT/VHOST`; never logged with its password.
    pub url: String,
    pub exchange: String,
    /// Routing keys are `PREFIX.TOPIC`.
    pub prefix: String,
    /// The durable cursor's name in the store.
    pub cursor: String,
    /// Most messages published and not yet confirmed. Enough to keep the connection busy
    /// while confirms come back (RabbitMQ confirms in batches); bounded so a reconnect
    /// publishes at most this many again.
    pub window: usize,
    /// How often the cursor is made durable while it moves. A crash publishes again at most
    /// what was acknowledged in this time; each write is a commit of the store's writer.
    pub persist_every: Duration,
    /// How long a confirm may take before the connection is taken for broken.
    pub confirm_timeout: Duration,
}

impl RelayConfig {
    pub fn new(url: &str) -> RelayConfig {
        RelayConfig {
            url: url.to_owned(),
            exchange: DEFAULT_EXCHANGE.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            cursor: "bus".to_owned(),
            window: 4096,
            persist_every: Duration::from_millis(250),
            confirm_timeout: Duration::from_secs(30),
        }
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> String {
        redact(&self.url)
    }
}

/// The first pause after a failed connection, and the longest.
const MIN_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// A running relay.
pub struct Relay {
    task: tokio::task::JoinHandle<Result<Stopped, BusError>>,
    stop: watch::Sender<Option<Instant>>,
    published: watch::Receiver<u64>,
}

/// What a server shows of a running relay: how far it got, and the prefix its topics have.
#[derive(Debug, Clone)]
pub struct RelayStatus {
    /// The last event the broker acknowledged (see [`Relay::progress`]).
    pub published: watch::Receiver<u64>,
    pub prefix: String,
}

/// What a stopped relay got done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The last event the broker acknowledged (and the cursor).
    pub published: Seq,
    /// The last event of the log when the relay stopped.
    pub last_seq: Seq,
}

impl Relay {
    /// Checks the URL, reads the cursor and the store's identity, and starts publishing on
    /// the current runtime. A broker that cannot be reached is not an error here: the relay
    /// keeps trying (and says so in the log).
    pub async fn start(log: Arc<dyn Backend>, config: RelayConfig) -> Result<Relay, BusError> {
        lapin::uri::AMQPUri::from_str(&config.url).map_err(|reason| BusError::BadUrl {
            url: config.shown_url(),
            reason,
        })?;
        let acked = log.cursor(&config.cursor).await?;
        let encoder = Encoder::new(log.store_identity().await?, &config.prefix);
        let (published_tx, published) = watch::channel(acked.0);
        let (stop, stop_rx) = watch::channel(None);
        let state = State {
            log,
            properties: Properties::new(),
            config,
            encoder,
            acked,
            persisted: acked,
            published: published_tx,
            stop: stop_rx,
            target: None,
        };
        let task = tokio::spawn(state.run());
        Ok(Relay {
            task,
            stop,
            published,
        })
    }

    /// The sequence number of the last event the broker acknowledged, as it moves.
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.published.clone()
    }

    /// Its progress and prefix, for a server.
    pub fn status(&self, config: &RelayConfig) -> RelayStatus {
        RelayStatus {
            published: self.progress(),
            prefix: config.prefix.clone(),
        }
    }

    /// Publishes what the log holds now, for up to `drain`, makes the cursor durable and
    /// stops. What is left goes out with the next relay on this store.
    pub async fn stop(self, drain: Duration) -> Result<Stopped, BusError> {
        let _ = self.stop.send(Some(Instant::now() + drain));
        match self.task.await {
            Ok(result) => result,
            Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
        }
    }
}

/// The relay's task.
struct State {
    log: Arc<dyn Backend>,
    config: RelayConfig,
    properties: Properties,
    encoder: Encoder,
    /// The last event acknowledged, in sequence order.
    acked: Seq,
    /// What the durable cursor says.
    persisted: Seq,
    published: watch::Sender<u64>,
    /// The deadline of a stop, once asked for.
    stop: watch::Receiver<Option<Instant>>,
    /// The log's end when the stop was asked for: what is published before stopping.
    target: Option<Seq>,
}

/// A message published and not confirmed yet.
struct InFlight {
    seq: Seq,
    sent: Instant,
    stage: Stage,
}

/// lapin's `basic_publish` numbers the message and queues its frames when first polled,
/// then waits for its I/O thread to write them. Waiting for that before publishing the
/// next message costs a round trip between threads per message; instead the relay polls
/// it once (which fixes the message's place in the channel's order) and waits later, with
/// the confirm.
enum Stage {
    Writing(Pin<Box<dyn Future<Output = lapin::Result<PublisherConfirm>> + Send>>),
    Confirming(PublisherConfirm),
}

impl Stage {
    async fn confirmation(&mut self) -> lapin::Result<Confirmation> {
        if let Stage::Writing(writing) = self {
            *self = Stage::Confirming(writing.await?);
        }
        match self {
            Stage::Confirming(confirm) => confirm.await,
            Stage::Writing(_) => unreachable!("written above"),
        }
    }
}

/// What one turn of a session's loop saw.
enum Step {
    /// The oldest message in flight was acknowledged (true) or refused.
    Confirmed(Seq, lapin::Result<bool>),
    Read(Result<factory_store::RecordedEvent, factory_store::StoreError>),
    Persist,
    StopAsked,
    Unconfirmed(Seq),
    GaveUp,
}

impl State {
    async fn run(mut self) -> Result<Stopped, BusError> {
        let mut pause = MIN_PAUSE;
        loop {
            let before = self.acked;
            match self.session().await {
                Ok(()) => break,
                Err(BusError::Store(error)) => {
                    // The log cannot be read (or the cursor written): the store's trouble,
                    // which the engine reports too; try again, more slowly.
                    tracing::warn!(%error, "bus relay: reading the log failed; retrying");
                    pause = MAX_PAUSE;
                }
                Err(error) => {
                    if self.acked > before {
                        pause = MIN_PAUSE;
                    }
                    tracing::warn!(
                        %error,
                        published = self.acked.0,
                        retry_in_ms = pause.as_millis() as u64,
                        "bus relay: the broker is unreachable; events wait in the log"
                    );
                }
            }
            self.persist().await?;
            if !self.pause(pause).await {
                break;
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
        self.persist().await?;
        let last_seq = self.log.last_seq().await?;
        Ok(Stopped {
            published: self.acked,
            last_seq,
        })
    }

    /// Waits `pause`; false when a stop's deadline passes meanwhile (or has passed).
    async fn pause(&mut self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            let deadline = *self.stop.borrow_and_update();
            if let Some(deadline) = deadline {
                if deadline <= Instant::now() || self.drained().await {
                    return false;
                }
                if deadline < until {
                    tokio::time::sleep_until(deadline).await;
                    return false;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                changed = self.stop.changed() => if changed.is_err() { return false },
            }
        }
    }

    /// Whether everything the stop asked for is acknowledged.
    async fn drained(&mut self) -> bool {
        match self.stop_target().await {
            Some(target) => self.acked >= target,
            None => false,
        }
    }

    async fn stop_target(&mut self) -> Option<Seq> {
        if self.target.is_none() && self.stop.borrow().is_some() {
            self.target = self.log.last_seq().await.ok();
        }
        self.target
    }

    async fn persist(&mut self) -> Result<(), BusError> {
        if self.acked != self.persisted {
            self.log.set_cursor(&self.config.cursor, self.acked).await?;
            self.persisted = self.acked;
        }
        Ok(())
    }

    fn broker(&self) -> impl Fn(lapin::Error) -> BusError + '_ {
        move |source| BusError::Broker {
            url: self.config.shown_url(),
            source,
        }
    }

    /// One connection: publishes until it breaks or a stop is done.
    async fn session(&mut self) -> Result<(), BusError> {
        let connection = Connection::connect(&self.config.url, ConnectionProperties::default())
            .await
            .map_err(self.broker())?;
        let channel = connection.create_channel().await.map_err(self.broker())?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(self.broker())?;
        tracing::info!(
            url = %self.config.shown_url(),
            exchange = %self.config.exchange,
            after = self.acked.0,
            "bus relay: connected; publishing"
        );
        let result = self.publish_on(&channel).await;
        if result.is_ok() {
            let _ = connection
                .close(200, "factory stops publishing".into())
                .await;
        }
        result
    }

    async fn publish_on(&mut self, channel: &lapin::Channel) -> Result<(), BusError> {
        let mut follower = EventFollower::new(self.log.clone(), self.acked)
            .with_poll_interval(Duration::from_millis(200));
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut tick = tokio::time::interval(self.config.persist_every);
        loop {
            if self.drained().await {
                return Ok(());
            }
            let step = self
                .next_step(&mut follower, &mut in_flight, &mut tick)
                .await;
            match step {
                Step::Confirmed(seq, confirmation) => {
                    in_flight.pop_front();
                    self.confirmed(seq, confirmation)?;
                }
                Step::Read(recorded) => {
                    let message = self.encoder.encode(&recorded?);
                    let stage = self.publish(channel, message.clone()).await?;
                    in_flight.push_back(InFlight {
                        seq: message.seq,
                        sent: Instant::now(),
                        stage,
                    });
                }
                Step::Persist => self.persist().await?,
                Step::StopAsked => {
                    self.stop_target().await;
                }
                Step::Unconfirmed(seq) => {
                    return Err(BusError::Unconfirmed {
                        url: self.config.shown_url(),
                        seq,
                        seconds: self.config.confirm_timeout.as_secs(),
                    });
                }
                Step::GaveUp => return Ok(()),
            }
        }
    }

    /// Waits for whichever comes first: the oldest confirm, the next event (while the
    /// window has room and a stop still wants more), the cursor's tick, a stop.
    async fn next_step(
        &mut self,
        follower: &mut EventFollower,
        in_flight: &mut VecDeque<InFlight>,
        tick: &mut tokio::time::Interval,
    ) -> Step {
        let wants_more = match self.target {
            Some(target) => follower.position() < target,
            None => true,
        };
        let reading = in_flight.len() < self.config.window && wants_more;
        let deadline = *self.stop.borrow();
        let front = in_flight.front_mut();
        let oldest = front.as_ref().map(|f| (f.seq, f.sent));
        tokio::select! {
            biased;
            confirmation = confirmation_of(front), if oldest.is_some() => {
                let acked = confirmation.map(|c| matches!(c, Confirmation::Ack(_)));
                Step::Confirmed(oldest.expect("guarded").0, acked)
            }
            _ = tick.tick() => match oldest {
                // Checked on the tick rather than with a timer per message.
                Some((seq, sent)) if sent.elapsed() > self.config.confirm_timeout => {
                    Step::Unconfirmed(seq)
                }
                _ => Step::Persist,
            },
            changed = self.stop.changed(), if deadline.is_none() => {
                match changed { Ok(()) => Step::StopAsked, Err(_) => Step::GaveUp }
            }
            _ = sleep_until_some(deadline) => Step::GaveUp,
            recorded = follower.next(), if reading => Step::Read(recorded),
        }
    }

    /// Takes the broker's answer for the oldest message in flight.
    fn confirmed(&mut self, seq: Seq, acked: lapin::Result<bool>) -> Result<(), BusError> {
        if acked.map_err(self.broker())? {
            self.acked = seq;
            self.published.send_replace(seq.0);
            Ok(())
        } else {
            Err(BusError::Refused {
                url: self.config.shown_url(),
                seq,
            })
        }
    }

    /// Queues the message on the channel, in order; see [`Stage`].
    async fn publish(&self, channel: &lapin::Channel, message: Message) -> Result<Stage, BusError> {
        let channel = channel.clone();
        let exchange: ShortString = self.config.exchange.as_str().into();
        let properties = self.properties.of(&message);
        let mut writing = Box::pin(async move {
            channel
                .basic_publish(
                    exchange,
                    message.routing_key.as_str().into(),
                    // Not mandatory: a topic nobody is bound to is not an error for a relay
                    // (the event stays in the log and in datagrepper's view of it).
                    BasicPublishOptions::default(),
                    &message.body,
                    properties,
                )
                .await
        });
        match futures_util::poll!(&mut writing) {
            Poll::Ready(confirm) => Ok(Stage::Confirming(confirm.map_err(self.broker())?)),
            Poll::Pending => Ok(Stage::Writing(writing)),
        }
    }
}

/// The confirmation of the oldest message in flight (never, when there is none).
async fn confirmation_of(front: Option<&mut InFlight>) -> lapin::Result<Confirmation> {
    match front {
        Some(front) => front.stage.confirmation().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The AMQP properties of a message, from the parts every message shares.
struct Properties {
    content_type: ShortString,
    content_encoding: ShortString,
    schema: AMQPValue,
    package: AMQPValue,
}

impl Properties {
    fn new() -> Properties {
        Properties {
            content_type: "application/json".into(),
            content_encoding: "utf-8".into(),
            schema: AMQPValue::LongString(LongString::from(SCHEMA)),
            package: AMQPValue::LongString(LongString::from(SCHEMA_PACKAGE)),
        }
    }

    /// As fedora-messaging publishes: content type, encoding, persistent, the id, the
    /// headers; nothing else (no timestamp, app id or type). Integers go as 32-bit signed
    /// (`I`), strings as long strings (`S`), as pika encodes them.
    fn of(&self, message: &Message) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers
            .insert("fedora_messaging_schema".into(), self.schema.clone())
            .insert(
                "fedora_messaging_schema_package".into(),
                self.package.clone(),
            )
            .insert(
                "fedora_messaging_severity".into(),
                AMQPValue::LongInt(message.severity.level()),
            )
            .insert(
                "sent-at".into(),
                AMQPValue::LongString(LongString::from(message.sent_at.as_str())),
            )
            .insert("priority".into(), AMQPValue::LongInt(0));
        BasicProperties::default()
            .with_content_type(self.content_type.clone())
            .with_content_encoding(self.content_encoding.clone())
            .with_delivery_mode(2)
            .with_message_id(message.id.to_string().into())
            .with_headers(headers)
    }
}
