//! The releaser: looks at every channel of every product stream, releases what is due, and
//! says why the rest waits. `factory up` runs it beside the engine (woken by the log and by
//! the times its schedules and ages name); `factory release` and the demo call it directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use factory_def::{Channel, Definition, Product, ProductStream};
use factory_engine::{Engine, JobGraph};
use factory_store::{Event, ReleaseRecord};
use factory_types::{BoxFuture, Clock, Digest, Job};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cadence::{self, Asked, Decision, Gate, Notice, Proposal, Released, Wait};
use crate::candidate::{self, Candidate};
use crate::error::ReleaseError;

/// What a gate is asked: does this candidate of a stream pass the decision context?
pub struct GateRequest<'a> {
    pub product: &'a Product,
    pub stream: &'a ProductStream,
    /// Greenwave's `product_version`: `PRODUCT-STREAM`.
    pub product_version: String,
    /// Greenwave's `decision_context`: the channel's `gate`.
    pub context: &'a str,
    pub candidate: &'a Candidate,
}

/// Answers for the gates (the decision engine over results and waivers).
pub trait Gatekeeper: Send + Sync {
    fn ask<'a>(&'a self, request: GateRequest<'a>) -> BoxFuture<'a, Result<Gate, ReleaseError>>;
}

/// What a release is about to be: everything the compose needs to know.
pub struct PublishPlan<'a> {
    pub def: &'a Definition,
    pub product: &'a Product,
    pub stream: &'a ProductStream,
    pub channel: &'a Channel,
    /// Whether this is the stream's last channel (its composes are `production`, the
    /// others `test`).
    pub is_final: bool,
    pub number: u64,
    pub candidate: &'a Candidate,
    pub at: SystemTime,
}

/// A written compose.
pub struct Published {
    pub compose_id: String,
    /// Relative to the store directory.
    pub compose_path: String,
}

/// Writes (and signs) the compose of a release.
pub trait Publisher: Send + Sync {
    fn publish<'a>(
        &'a self,
        plan: &'a PublishPlan<'a>,
    ) -> BoxFuture<'a, Result<Published, ReleaseError>>;
}

/// What one channel did in a pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelOutcome {
    pub product: String,
    pub stream: String,
    pub channel: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Released(ReleaseRecord),
    /// Would be released now (what [`Releaser::look`] says where a pass would release).
    Due(Digest),
    Waiting(Wait),
}

/// A release asked for by hand, sent to the releaser that `factory up` runs.
pub struct ByHand {
    pub product: String,
    pub stream: String,
    pub channel: Option<String>,
    /// Who asked (a token's name).
    pub by: String,
    pub reply: oneshot::Sender<Result<ReleaseRecord, ReleaseError>>,
}

/// How the server asks the running releaser for releases by hand.
#[derive(Clone)]
pub struct ReleaseDoor {
    tx: mpsc::Sender<ByHand>,
}

impl ReleaseDoor {
    /// A door and the receiving end [`Releaser::run`] takes.
    pub fn new() -> (ReleaseDoor, mpsc::Receiver<ByHand>) {
        let (tx, rx) = mpsc::channel(16);
        (ReleaseDoor { tx }, rx)
    }

    /// Asks for a release and waits for it to be made or refused.
    pub async fn release(
        &self,
        product: &str,
        stream: &str,
        channel: Option<&str>,
        by: &str,
    ) -> Result<ReleaseRecord, ReleaseError> {
        let (reply, answer) = oneshot::channel();
        let request = ByHand {
            product: product.into(),
            stream: stream.into(),
            channel: channel.map(str::to_string),
            by: by.into(),
            reply,
        };
        let gone = || ReleaseError::Publish {
            what: "asking for a release".into(),
            detail: "the releaser is not running".into(),
            fault: factory_types::Fault::Environment,
        };
        self.tx.send(request).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

pub struct Releaser {
    engine: Engine,
    clock: Arc<dyn Clock>,
    gate: Arc<dyn Gatekeeper>,
    publisher: Arc<dyn Publisher>,
    /// When a scheduled channel that never released started waiting for its first time.
    started: SystemTime,
}

impl Releaser {
    pub fn new(
        engine: Engine,
        clock: Arc<dyn Clock>,
        gate: Arc<dyn Gatekeeper>,
        publisher: Arc<dyn Publisher>,
    ) -> Releaser {
        let started = clock.wall();
        Releaser {
            engine,
            clock,
            gate,
            publisher,
            started,
        }
    }

    /// The clock releases are timed by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// One look at every channel of every stream, in the order they are written: releases
    /// what is due and says why the rest waits; gives the end-of-life notices due.
    pub async fn pass(&self, def: &Definition) -> Result<Vec<ChannelOutcome>, ReleaseError> {
        self.each_channel(def, true).await
    }

    /// What a pass would do now, doing nothing (the views show it).
    pub async fn look(&self, def: &Definition) -> Result<Vec<ChannelOutcome>, ReleaseError> {
        self.each_channel(def, false).await
    }

    async fn each_channel(
        &self,
        def: &Definition,
        act: bool,
    ) -> Result<Vec<ChannelOutcome>, ReleaseError> {
        let mut outcomes = Vec::new();
        for product in def.products.values() {
            for stream in product.streams.values() {
                if act {
                    self.notices(product, stream).await?;
                }
                let asked = Asked::ByCadence {
                    schedule_from: self.started,
                };
                // Once per stream: every channel of a pass sees the same outputs.
                let current = self.candidate(def, product, stream).await?;
                for channel in &stream.channels {
                    let outcome = self
                        .channel(
                            def,
                            product,
                            stream,
                            channel,
                            &current,
                            asked,
                            Act::by(act, ""),
                        )
                        .await?;
                    outcomes.push(ChannelOutcome {
                        product: product.name.clone(),
                        stream: stream.name.clone(),
                        channel: channel.name.clone(),
                        outcome,
                    });
                }
            }
        }
        Ok(outcomes)
    }

    /// A release asked for by hand (`factory release`), into `channel` or the stream's
    /// first channel. The time conditions are waived; the end of life and the gate are not.
    pub async fn by_hand(
        &self,
        def: &Definition,
        product: &str,
        stream: &str,
        channel: Option<&str>,
        by: &str,
    ) -> Result<ReleaseRecord, ReleaseError> {
        let (product, stream, channel) = find(def, product, stream, channel)?;
        let current = self.candidate(def, product, stream).await?;
        match self
            .channel(
                def,
                product,
                stream,
                channel,
                &current,
                Asked::ByHand,
                Act::Release(by),
            )
            .await?
        {
            Outcome::Released(record) => Ok(record),
            Outcome::Waiting(wait) => Err(refusal(product, stream, channel, wait)),
            Outcome::Due(_) => unreachable!("a release by hand acts"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn channel(
        &self,
        def: &Definition,
        product: &Product,
        stream: &ProductStream,
        channel: &Channel,
        current: &Result<Candidate, String>,
        asked: Asked,
        act: Act<'_>,
    ) -> Result<Outcome, ReleaseError> {
        let now = self.clock.wall();
        // Read per channel: an earlier channel of the same pass may have just released.
        let records = self.history(product, stream).await?;
        let history: Vec<Released> = records.iter().map(released).collect();
        let proposal = cadence::propose(
            stream,
            channel,
            now,
            &history,
            current.as_ref().map(|c| &c.digest).map_err(String::as_str),
            asked,
        );
        let digest = match proposal {
            Proposal::Candidate(digest) => digest,
            Proposal::Wait(wait) => return Ok(Outcome::Waiting(wait)),
        };
        // The proposal is the current candidate or one released earlier into another channel.
        let chosen = match current {
            Ok(c) if c.digest == digest => c.clone(),
            _ => earlier_candidate(&records, &digest),
        };
        let gate = match &channel.gate {
            None => Gate::Ungated,
            Some(context) => {
                self.gate
                    .ask(GateRequest {
                        product,
                        stream,
                        product_version: candidate::product_version(&product.name, &stream.name),
                        context,
                        candidate: &chosen,
                    })
                    .await?
            }
        };
        let why = match &gate {
            Gate::Ungated => "the channel has no gate".to_string(),
            Gate::Passed => format!("gate `{}` passed", channel.gate.as_deref().unwrap_or("")),
            Gate::Held(why) | Gate::Pending(why) => why.clone(),
        };
        match cadence::decide(Proposal::Candidate(digest), gate) {
            Decision::Wait(wait) => Ok(Outcome::Waiting(wait)),
            Decision::Release(digest) => {
                let Act::Release(by) = act else {
                    return Ok(Outcome::Due(digest));
                };
                let by = if by.is_empty() {
                    crate::why::cadence_text(&channel.release)
                } else {
                    by.to_string()
                };
                let number = records.last().map_or(1, |r| r.number + 1);
                let record = self
                    .release(def, product, stream, channel, number, &chosen, by, why)
                    .await?;
                Ok(Outcome::Released(record))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn release(
        &self,
        def: &Definition,
        product: &Product,
        stream: &ProductStream,
        channel: &Channel,
        number: u64,
        candidate: &Candidate,
        by: String,
        why: String,
    ) -> Result<ReleaseRecord, ReleaseError> {
        let is_final = stream
            .channels
            .last()
            .is_some_and(|c| c.name == channel.name);
        let plan = PublishPlan {
            def,
            product,
            stream,
            channel,
            is_final,
            number,
            candidate,
            at: self.clock.wall(),
        };
        let published = self.publisher.publish(&plan).await?;
        let event = Event::ReleaseMade {
            product: product.name.clone(),
            stream: stream.name.clone(),
            channel: channel.name.clone(),
            number,
            candidate: candidate.digest,
            contents: candidate
                .contents
                .iter()
                .map(|(job, digest)| (job.name(), *digest))
                .collect(),
            compose_id: published.compose_id,
            compose_path: published.compose_path,
            by,
            why,
        };
        let db = self.engine.store().db();
        db.append(vec![event]).await?;
        let records = db.releases_of_stream(&product.name, &stream.name).await?;
        records
            .into_iter()
            .find(|r| r.number == number)
            .ok_or_else(|| ReleaseError::Publish {
                what: format!("release {number} of {} {}", product.name, stream.name),
                detail: "was recorded but cannot be read back".into(),
                fault: factory_types::Fault::Factory,
            })
    }

    async fn history(
        &self,
        product: &Product,
        stream: &ProductStream,
    ) -> Result<Vec<ReleaseRecord>, ReleaseError> {
        Ok(self
            .engine
            .store()
            .db()
            .releases_of_stream(&product.name, &stream.name)
            .await?)
    }

    /// The stream's candidate now, or why it has none.
    pub async fn candidate(
        &self,
        def: &Definition,
        product: &Product,
        stream: &ProductStream,
    ) -> Result<Result<Candidate, String>, ReleaseError> {
        let mut outputs = BTreeMap::new();
        for job in candidate::shipped_jobs(def, product, stream) {
            if let Some((digest, _)) = self.engine.usable_output(&job.name()).await? {
                outputs.insert(job, digest);
            }
        }
        Ok(
            candidate::candidate(def, product, stream, |job| outputs.get(job).copied()).map_err(
                |missing| {
                    let names: Vec<String> = missing.0.iter().map(Job::name).collect();
                    format!("no usable build yet of {}", names.join(", "))
                },
            ),
        )
    }

    /// Records the end-of-life notice due for a stream, once.
    async fn notices(&self, product: &Product, stream: &ProductStream) -> Result<(), ReleaseError> {
        let db = self.engine.store().db();
        let said: Vec<Notice> = db
            .stream_notices(&product.name, &stream.name)
            .await?
            .iter()
            .filter_map(|n| match n.as_str() {
                "warning" => Some(Notice::Warning),
                "ended" => Some(Notice::Ended),
                _ => None,
            })
            .collect();
        let Some(notice) = cadence::stream_notice(stream, self.clock.wall(), &said) else {
            return Ok(());
        };
        let notice = match notice {
            Notice::Warning => "warning",
            Notice::Ended => "ended",
        };
        db.append(vec![Event::StreamEol {
            product: product.name.clone(),
            stream: stream.name.clone(),
            notice: notice.into(),
            end_of_life: stream.end_of_life.to_string(),
        }])
        .await?;
        Ok(())
    }

    /// Runs passes until `stop` is set: after the log moves (at most about once a second)
    /// and at least once a minute, so schedules and ages are seen at their time.
    pub async fn run(
        &self,
        graphs: watch::Receiver<Arc<JobGraph>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut commits = self.engine.store().db().commits();
        loop {
            let graph = graphs.borrow().clone();
            if let Err(e) = self.pass(graph.def()).await {
                tracing::warn!(error = %e, "releaser: a pass failed; trying again at the next one");
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = commits.changed() => tokio::time::sleep(Duration::from_secs(1)).await,
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// Whether a look at a channel may release.
#[derive(Clone, Copy)]
enum Act<'a> {
    /// Only say what would happen.
    Look,
    /// Release what is due, recorded as released by this (empty: by the cadence).
    Release(&'a str),
}

impl<'a> Act<'a> {
    fn by(act: bool, by: &'a str) -> Act<'a> {
        if act { Act::Release(by) } else { Act::Look }
    }
}

fn find<'d>(
    def: &'d Definition,
    product: &str,
    stream: &str,
    channel: Option<&str>,
) -> Result<(&'d Product, &'d ProductStream, &'d Channel), ReleaseError> {
    let p = def
        .products
        .get(product)
        .ok_or_else(|| ReleaseError::UnknownProduct(product.to_string()))?;
    let s = p
        .streams
        .get(stream)
        .ok_or_else(|| ReleaseError::UnknownStream {
            product: product.to_string(),
            stream: stream.to_string(),
            known: listed(p.streams.keys()),
        })?;
    let c = match channel {
        None => s.channels.first(),
        Some(name) => s.channels.iter().find(|c| c.name == name),
    };
    let c = c.ok_or_else(|| ReleaseError::UnknownChannel {
        product: product.to_string(),
        stream: stream.to_string(),
        channel: channel.unwrap_or_default().to_string(),
        known: listed(s.channels.iter().map(|c| &c.name)),
    })?;
    Ok((p, s, c))
}

fn listed<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn refusal(
    product: &Product,
    stream: &ProductStream,
    channel: &Channel,
    wait: Wait,
) -> ReleaseError {
    let (product, stream, channel_name) = (
        product.name.clone(),
        stream.name.clone(),
        channel.name.clone(),
    );
    match wait {
        Wait::EndOfLife { date } => ReleaseError::EndOfLife {
            product,
            stream,
            date: date.to_string(),
        },
        Wait::Gate(Gate::Held(why) | Gate::Pending(why)) => ReleaseError::Held {
            product,
            stream,
            channel: channel_name,
            why,
        },
        other => ReleaseError::NothingToRelease {
            product,
            stream,
            channel: channel_name,
            why: crate::why::wait_text(&other),
        },
    }
}

fn released(record: &ReleaseRecord) -> Released {
    Released {
        number: record.number,
        channel: record.channel.clone(),
        candidate: record.candidate,
        at: SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(record.released_at_ms).unwrap_or(0)),
    }
}

/// A candidate released before, rebuilt from its release record.
fn earlier_candidate(records: &[ReleaseRecord], digest: &Digest) -> Candidate {
    let contents = records
        .iter()
        .find(|r| r.candidate == *digest)
        .map(|r| {
            r.contents
                .iter()
                .map(|(job, digest)| (Job::parse(job), *digest))
                .collect()
        })
        .unwrap_or_default();
    Candidate {
        digest: *digest,
        contents,
    }
}
