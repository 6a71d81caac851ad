//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "factory",
    version,
    about = "Rebuilds exactly what changed, from upstream source to released product"
)]
pub(crate) struct Cli {
    /// The factory's store: graph, event log and artifacts.
    #[arg(long, global = true, default_value = ".factory", env = "FACTORY_STORE")]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate a factory definition directory; changes nothing.
    Check {
        /// The definition directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Import real metadata into the store's graph.
    #[command(subcommand)]
    Import(Import),
    /// Everything that must be rebuilt if NAME changes.
    Affected(AffectedArgs),
    /// The rebuild order of the affected set: waves, cycles, critical path.
    Plan(PlanArgs),
    /// What NAME is built from and what is built from it.
    Trace {
        /// `src:NAME` for a source, otherwise a binary (or image, product…).
        name: String,
        /// How many steps to follow each way.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// One shortest dependency path from A to B.
    Why {
        from: String,
        to: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The whole pipeline on the bundled example: build everything, an upstream change,
    /// then a comment-only change (early cutoff). A second run on the same --dir builds nothing.
    Demo {
        /// The definition to use (default: the bundled example).
        #[arg(long)]
        definition: Option<PathBuf>,
        /// Work directory (definition copy, store, exported artifacts); default: a temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Builds run at the same time (default: the number of cores).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        /// Serve the API and dashboard while the demo runs, and after it until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Where to serve with `--serve` (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long, value_name = "ADDR", requires = "serve")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run the factory in the foreground: build what changed, watch for changes.
    Up(crate::cmd::engine::UpArgs),
    /// Recent waves and the state of every component.
    Status,
    /// The log of a build (`b12`, `12` or a build key prefix).
    Log {
        build: String,
        /// Keep printing while the build runs.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// The event log, one line per event.
    Events {
        /// Keep printing new events.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Rebuild components (or images) by hand, and what depends on them.
    Rebuild {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        run: crate::cmd::engine::RunArgs,
    },
    /// Why a build ran: what changed against the previous build of the same component.
    Explain {
        /// `b12`, `12` or a build key prefix.
        build: String,
    },
    /// Remove stored outputs that no live build references.
    Gc,
    /// API tokens for the server: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Signing keys: the build key (artifacts, provenance) and the release key (what
    /// users verify): init, list, rotate, export.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make the build key and the release key (two distinct keys) in STORE/keys.
    Init {
        /// Write the release key's private part to FILE (a new file, mode 0600) instead of
        /// the store; it is then handed in when releasing.
        #[arg(long, value_name = "FILE")]
        release_key: Option<PathBuf>,
        /// The build key's OpenPGP user ID.
        #[arg(long, value_name = "UID", default_value = "Factory build key")]
        build_uid: String,
        /// The release key's OpenPGP user ID, e.g. "Example release key <release@example.org>".
        #[arg(long, value_name = "UID", default_value = "Factory release key")]
        release_uid: String,
        /// How long the keys are valid, e.g. 2years, 18months, 90days.
        #[arg(long, value_name = "DURATION", default_value = "2years", value_parser = parse_validity)]
        expires: std::time::Duration,
    },
    /// Every key, active and retired: role, fingerprint, algorithm, created, expires, state.
    List,
    /// Make a new key for ROLE; the old one is retired, and exported until it expires.
    Rotate {
        #[arg(value_enum)]
        role: RoleArg,
        /// The new key's OpenPGP user ID (default: the old key's).
        #[arg(long, value_name = "UID")]
        uid: Option<String>,
        /// How long the new key is valid, e.g. 2years, 18months, 90days.
        #[arg(long, value_name = "DURATION", default_value = "2years", value_parser = parse_validity)]
        expires: std::time::Duration,
        /// For the release key: write the new private part to FILE (a new file) rather
        /// than the store; required when the old one was kept outside the store.
        #[arg(long, value_name = "FILE")]
        release_key: Option<PathBuf>,
    },
    /// The public keys of ROLE that verify (the active one, and retired ones until they
    /// expire): binary for apt's `signed-by` and `gpgv --keyring`, or armored.
    Export {
        #[arg(value_enum)]
        role: RoleArg,
        /// ASCII armor instead of binary.
        #[arg(long)]
        armor: bool,
        /// Write to FILE instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RoleArg {
    Build,
    Release,
}

/// A key's validity as humantime reads it ("2years", "90days"); a year is 365.25 days.
fn parse_validity(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}; say e.g. 2years, 18months or 90days"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token and print it, this once: the store keeps only its hash.
    Create {
        /// Its name, unique among the active tokens.
        #[arg(long)]
        name: String,
        /// What it may do: read; build (read, and rebuild what its owners own); admin
        /// (anything).
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// A group whose components it acts for; repeat for several.
        #[arg(long = "owner", value_name = "GROUP")]
        owners: Vec<String>,
    },
    /// Every token, active and revoked: name, scope, owners, creation, state.
    List,
    /// Revoke the active token NAME: from now on it is refused.
    Revoke { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScopeArg {
    Read,
    Build,
    Admin,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Import {
    /// Debian archive indexes (plain, .gz, .xz or .lz4).
    Debian {
        /// A `Sources` index; repeat for several.
        #[arg(long, required = true)]
        sources: Vec<PathBuf>,
        /// A `Packages` index; repeat for several.
        #[arg(long, required = true)]
        packages: Vec<PathBuf>,
        /// The architecture to resolve for.
        #[arg(long, default_value = "amd64")]
        arch: String,
        /// Build profiles to activate (none by default).
        #[arg(long = "profile")]
        profiles: Vec<String>,
        /// Do not count `build-essential` as an implicit build dependency
        /// of every source (Debian policy counts it, and so does dose).
        #[arg(long)]
        no_build_essential: bool,
    },
    /// RPM spec files, evaluated by the real `rpmspec`.
    Rpm {
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// modulemd v2 YAML documents.
    Modulemd {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A factory definition directory.
    Definition {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct Selection {
    /// `src:NAME` for a source package, a bare NAME for a binary package
    /// (or a component, image, module or product of that name).
    #[arg(required = true)]
    pub names: Vec<String>,
    #[arg(long, value_enum, default_value_t = ModeArg::Closure)]
    pub mode: ModeArg,
    #[arg(long, value_enum, default_value_t = AlternativesArg::All)]
    pub alternatives: AlternativesArg,
}

#[derive(Debug, Args)]
pub(crate) struct AffectedArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Seconds assumed for a build with no recorded history.
    #[arg(long, default_value_t = 60.0)]
    pub default_duration: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    Closure,
    Direct,
    Transitive,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AlternativesArg {
    All,
    First,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
    Lines,
    Dot,
}
