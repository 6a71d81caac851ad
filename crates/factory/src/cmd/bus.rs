//! `up --amqp`: the bus relay beside the engine and the server.

use std::time::Duration;

use anyhow::{Context, Result};
use factory_bus::{Relay, RelayConfig, RelayStatus};
use factory_store::Store;

/// Where `up` publishes its events.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BusArgs {
    /// Publish every event to this AMQP broker, in the fedora-messaging format
    /// (`amqp://USER:PASSWORD@HOST:5672/%2F`; docs/events.md). The environment keeps the
    /// password out of process listings; it is never printed.
    #[arg(
        long,
        value_name = "URL",
        env = "FACTORY_AMQP_URL",
        hide_env_values = true
    )]
    pub amqp: Option<String>,
    /// The exchange to publish to (a topic exchange).
    #[arg(long, value_name = "EXCHANGE", default_value = factory_bus::message::DEFAULT_EXCHANGE)]
    pub amqp_exchange: String,
    /// Routing keys are PREFIX.TOPIC (`factory.build.succeeded`).
    #[arg(long, value_name = "PREFIX", default_value = factory_bus::message::DEFAULT_PREFIX)]
    pub amqp_prefix: String,
}

/// How long `up` goes on publishing when it stops, for what is committed but not yet
/// acknowledged. The rest is not lost: the next `up --amqp` publishes it.
const DRAIN: Duration = Duration::from_secs(10);

/// A relay publishing, and how it was configured.
pub(crate) struct Publishing {
    relay: Relay,
    config: RelayConfig,
}

impl Publishing {
    /// Starts the relay when `--amqp` is given; says where it publishes (without the
    /// password).
    pub(crate) async fn start(args: &BusArgs, store: &Store) -> Result<Option<Publishing>> {
        let Some(url) = &args.amqp else {
            return Ok(None);
        };
        let mut config = RelayConfig::new(url);
        config.exchange = args.amqp_exchange.clone();
        config.prefix = args.amqp_prefix.clone();
        let relay = Relay::start(store.backend(), config.clone())
            .await
            .context("cannot start publishing events")?;
        eprintln!(
            "publishing events to {} (exchange {}, topics {}.*) after event #{}",
            config.shown_url(),
            config.exchange,
            config.prefix,
            *relay.progress().borrow()
        );
        Ok(Some(Publishing { relay, config }))
    }

    pub(crate) fn status(&self) -> RelayStatus {
        self.relay.status(&self.config)
    }

    /// Publishes what is committed (for a while), keeps the cursor and stops; a failure here
    /// is reported, not raised: the events are in the log and go out next time.
    pub(crate) async fn stop(self) {
        match self.relay.stop(DRAIN).await {
            Ok(stopped) if stopped.published < stopped.last_seq => eprintln!(
                "bus: events #{}..#{} are not acknowledged by the broker yet; the next \
                 `factory up --amqp` publishes them",
                stopped.published.0 + 1,
                stopped.last_seq.0
            ),
            Ok(_) => {}
            Err(error) => eprintln!("bus: stopping the relay: {error:#}"),
        }
    }
}
