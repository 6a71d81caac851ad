//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "factory", version, about = "Rebuilds exactly what changed, from upstream source to released product")]
pub struct Cli {
    /// The factory's store: graph, event log and artifacts.
    #[arg(long, global = true, default_value = ".factory", env = "FACTORY_STORE")]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Load the bundled example definition and show its trace, affected set and plan.
    Demo {
        /// The definition to use (default: the bundled example).
        #[arg(long)]
        definition: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Import {
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
pub struct Selection {
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
pub struct AffectedArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Seconds assumed for a build with no recorded history.
    #[arg(long, default_value_t = 60.0)]
    pub default_duration: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Closure,
    Direct,
    Transitive,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlternativesArg {
    All,
    First,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Lines,
    Dot,
}
