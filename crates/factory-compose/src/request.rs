//! What a compose is made from: a release's content, as whoever releases knows it. Plain
//! data, with no knowledge of the engine or the store; the caller fills it from a release
//! (and the definition's product, stream and modules) and hands it to
//! [`write_compose`](crate::write_compose).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Everything one compose holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeRequest {
    pub release: Release,
    pub compose_type: ComposeType,
    /// Which compose of the same release, type and date this is (productmd's respin: 0 for
    /// the first, see [`next_respin`](crate::next_respin)).
    pub respin: u32,
    /// When the release was made (from the factory's clock): the compose's date (UTC), the
    /// apt `Release` file's `Date`, the images' `mtime` in `images.json`.
    pub created: SystemTime,
    /// The productmd variant everything is filed under: letters and digits, e.g.
    /// `Everything`.
    pub variant: String,
    /// The apt repository's names; written only when there are `.deb`s.
    pub apt: AptRepository,
    pub debs: Vec<DebInput>,
    pub images: Vec<ImageInput>,
    pub modules: Vec<ModuleStream>,
}

/// The release a compose belongs to, as productmd names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Shown to people, e.g. `Demo OS`.
    pub name: String,
    /// The first part of the compose id, e.g. `DemoOS` or `demo-os`: letters, digits and
    /// single dashes inside.
    pub short: String,
    /// Digits and dots (`1.0`), or anything starting with a non-digit (`Rawhide`).
    pub version: String,
    pub release_type: ReleaseType,
}

/// productmd's release types (`release.type`); anything but `ga` shows in the compose id
/// (`DemoOS-1.0-updates-20261203.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseType {
    Fast,
    Ga,
    Updates,
    UpdatesTesting,
    Eus,
    Aus,
    Els,
    Tus,
    E4s,
}

impl ReleaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseType::Fast => "fast",
            ReleaseType::Ga => "ga",
            ReleaseType::Updates => "updates",
            ReleaseType::UpdatesTesting => "updates-testing",
            ReleaseType::Eus => "eus",
            ReleaseType::Aus => "aus",
            ReleaseType::Els => "els",
            ReleaseType::Tus => "tus",
            ReleaseType::E4s => "e4s",
        }
    }
}

/// productmd's compose types; each but `production` has a suffix in the compose id after
/// the date (`.n`, `.t`, `.ci`, `.d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComposeType {
    Production,
    Nightly,
    Test,
    Ci,
    Development,
}

impl ComposeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ComposeType::Production => "production",
            ComposeType::Nightly => "nightly",
            ComposeType::Test => "test",
            ComposeType::Ci => "ci",
            ComposeType::Development => "development",
        }
    }

    /// What follows the date in a compose id (productmd's `type_suffix`).
    pub fn suffix(self) -> &'static str {
        match self {
            ComposeType::Production => "",
            ComposeType::Nightly => ".n",
            ComposeType::Test => ".t",
            ComposeType::Ci => ".ci",
            ComposeType::Development => ".d",
        }
    }
}

/// The names an apt repository's `Release` file carries. The one component is `main`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptRepository {
    /// `Origin` and `Label`, which apt pinning matches on (`o=`, `l=`).
    pub origin: String,
    pub label: String,
    /// The directory under `dists/` and the `Suite` field: what a `sources.list` line
    /// names, e.g. `stable`.
    pub suite: String,
    /// `Codename`, e.g. `demo-os-1.0`.
    pub codename: String,
    pub description: Option<String>,
    /// Debian architectures to index even when no `.deb` is built for them (an
    /// `Architecture: all` package is listed under each). The architectures of the
    /// `.deb`s are always indexed.
    pub architectures: Vec<String>,
}

/// A `.deb` to publish. Its name, version and architecture are read from its own control
/// file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebInput {
    /// A file on disk (e.g. a blob of the store).
    Path(PathBuf),
    /// Bytes in memory, with what errors call them (the artifact's name or subject).
    Bytes { name: String, bytes: Vec<u8> },
}

impl DebInput {
    /// What errors call this `.deb`.
    pub fn display_name(&self) -> String {
        match self {
            DebInput::Path(path) => path.display().to_string(),
            DebInput::Bytes { name, .. } => name.clone(),
        }
    }
}

/// An OCI image to publish, from an OCI image layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInput {
    /// The directory name in the compose and the image's productmd `subvariant`: lowercase
    /// letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// An OCI image layout (`oci-layout`, `index.json`, `blobs/`).
    pub layout: PathBuf,
    /// Which image of the layout's `index.json` (its `org.opencontainers.image.ref.name`);
    /// may be omitted when the index holds one.
    pub tag: Option<String>,
    /// Signatures of the image's manifest digest, each a containers "simple signing"
    /// signature as `skopeo standalone-sign` writes it. When there are any, the compose
    /// also holds the image in the `dir:` form with them as `signature-1`, `signature-2`,
    /// …, which `skopeo copy` checks against a `signedBy` policy.
    pub signatures: Vec<Vec<u8>>,
}

/// One module stream's modulemd v2 document. Shaped after the definition's modules: a
/// module's profiles, its build order batches and the stream of each component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    /// A uint64, growing with each build of the stream: usually the release's time as
    /// `YYYYMMDDhhmmss` (see [`module_version`](crate::module_version)).
    pub version: u64,
    /// Tells apart builds of one version against different dependencies: up to 10
    /// letters, digits or `_` (see [`module_context`](crate::module_context)).
    pub context: String,
    /// One line.
    pub summary: String,
    pub description: String,
    /// SPDX expressions of the module itself (`license.module`); at least one.
    pub license: Vec<String>,
    /// One entry per combination of build and run time dependencies.
    pub dependencies: Vec<ModuleDependencies>,
    pub profiles: BTreeMap<String, ModuleProfile>,
    /// Package names the module promises as its interface.
    pub api: Vec<String>,
    pub components: Vec<ModuleComponent>,
    /// Package names of this compose's `.deb`s the module ships; each becomes an artifact
    /// in `N-E:V-R.A` form.
    pub artifacts: Vec<String>,
}

/// Module streams needed to build and to run, by module name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ModuleDependencies {
    pub buildrequires: BTreeMap<String, Vec<String>>,
    pub requires: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleProfile {
    pub description: Option<String>,
    /// Package names installed by the profile.
    pub packages: Vec<String>,
}

/// A component built as part of the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleComponent {
    pub name: String,
    /// Why it is part of the module (modulemd requires one).
    pub rationale: String,
    /// The component's stream (modulemd's `ref`), when it has several.
    pub git_ref: Option<String>,
    pub order: BuildOrder,
}

/// Where a component builds relative to the others. One module uses one form for every
/// component: modulemd refuses both in one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOrder {
    /// Its batch: the index of the definition's `build-order` batch it is in.
    Batch(u64),
    /// The components it builds after.
    After(Vec<String>),
}
