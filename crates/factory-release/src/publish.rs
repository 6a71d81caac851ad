//! The publisher `factory up` and `factory release` use: a release becomes a compose in
//! `STORE/composes/`, with its apt repository and images signed by the release key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use factory_compose::{
    AptRepository, BuildOrder, ComposeRequest, ComposeType, DebInput, ImageInput, ModuleComponent,
    ModuleProfile, ModuleStream, Release, ReleaseType, SignError, Signer,
};
use factory_def::Recipe;
use factory_engine::Engine;
use factory_types::{BoxFuture, Fault, Job};

use crate::error::ReleaseError;
use crate::runner::{PublishPlan, Published, Publisher};

/// Where composes go, under the store.
pub const COMPOSES_DIR: &str = "composes";

/// The release key as composes need it: the repository's signatures, and images' signatures
/// that containers tooling checks against a `signedBy` policy.
pub trait ReleaseSigner: Signer + Send + Sync {
    /// A containers "simple signing" signature of an image's manifest digest for the
    /// identity it is published under.
    fn sign_image(
        &self,
        docker_reference: &str,
        manifest_digest: &str,
    ) -> Result<Vec<u8>, SignError>;
}

/// modulemd requires a license and the definition's modules carry none yet; this says so
/// in SPDX's words rather than claiming one.
const MODULE_LICENSE: &str = "LicenseRef-unspecified";

pub struct ComposePublisher {
    engine: Engine,
    signer: Arc<dyn ReleaseSigner>,
}

impl ComposePublisher {
    pub fn new(engine: Engine, signer: Arc<dyn ReleaseSigner>) -> ComposePublisher {
        ComposePublisher { engine, signer }
    }

    /// Where a stream's composes go.
    pub fn root(store: &Path) -> PathBuf {
        store.join(COMPOSES_DIR)
    }

    async fn request(&self, plan: &PublishPlan<'_>) -> Result<ComposeRequest, ReleaseError> {
        let mut debs = Vec::new();
        let mut images = Vec::new();
        for (job, digest) in &plan.candidate.contents {
            let tree = self.engine.materialise(digest).await?;
            match job {
                Job::Component(name) if is_deb(plan, name) => debs.extend(debs_in(&tree)?),
                Job::Image(name) => images.push(self.image(plan, name, &tree)?),
                Job::Component(_) => {}
            }
        }
        Ok(ComposeRequest {
            release: Release {
                name: plan
                    .product
                    .description
                    .clone()
                    .unwrap_or_else(|| plan.product.name.clone()),
                short: plan.product.name.clone(),
                version: plan.stream.name.clone(),
                release_type: ReleaseType::Ga,
            },
            compose_type: if plan.is_final {
                ComposeType::Production
            } else {
                ComposeType::Test
            },
            respin: 0,
            created: plan.at,
            variant: "Everything".into(),
            apt: AptRepository {
                origin: "Factory".into(),
                label: plan.product.name.clone(),
                suite: plan.channel.name.clone(),
                codename: crate::candidate::product_version(&plan.product.name, &plan.stream.name),
                description: plan.product.description.clone(),
                architectures: vec![host_architecture().into()],
            },
            debs,
            images,
            modules: modules(plan),
        })
    }

    fn image(
        &self,
        plan: &PublishPlan<'_>,
        name: &str,
        layout: &Path,
    ) -> Result<ImageInput, ReleaseError> {
        let reference = image_reference(&plan.product.name, name, &plan.stream.name);
        let digest = manifest_digest(layout)?;
        let signature = self
            .signer
            .sign_image(&reference, &digest)
            .map_err(|e| publish_error(format!("signing image {name}"), e))?;
        Ok(ImageInput {
            name: name.to_string(),
            layout: layout.to_path_buf(),
            tag: None,
            signatures: vec![signature],
        })
    }
}

impl Publisher for ComposePublisher {
    fn publish<'a>(
        &'a self,
        plan: &'a PublishPlan<'a>,
    ) -> BoxFuture<'a, Result<Published, ReleaseError>> {
        Box::pin(async move {
            let mut request = self.request(plan).await?;
            let store = self.engine.store().dir().to_path_buf();
            let root = ComposePublisher::root(&store);
            let signer = self.signer.clone();
            let written = factory_types::blocking("writing a compose", move || {
                fs_err::create_dir_all(&root).map_err(|e| ComposeFailure::Io(root.clone(), e))?;
                request.respin = factory_compose::next_respin(&root, &request)?;
                Ok::<_, ComposeFailure>(factory_compose::write_compose(
                    &root,
                    &request,
                    signer.as_ref(),
                )?)
            })
            .await
            .map_err(|e| ReleaseError::Publish {
                what: "writing the compose".into(),
                detail: e.to_string(),
                fault: Fault::Factory,
            })?
            .map_err(|e| e.into_release_error())?;
            let relative = written
                .path
                .strip_prefix(&store)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| written.path.clone());
            Ok(Published {
                compose_id: written.id.to_string(),
                compose_path: relative.display().to_string(),
            })
        })
    }
}

enum ComposeFailure {
    Io(PathBuf, std::io::Error),
    Compose(factory_compose::ComposeError),
}

impl From<factory_compose::ComposeError> for ComposeFailure {
    fn from(e: factory_compose::ComposeError) -> Self {
        ComposeFailure::Compose(e)
    }
}

impl ComposeFailure {
    fn into_release_error(self) -> ReleaseError {
        use factory_types::HasFault;
        match self {
            ComposeFailure::Io(path, e) => ReleaseError::Publish {
                what: format!("creating {}", path.display()),
                detail: e.to_string(),
                fault: Fault::Environment,
            },
            ComposeFailure::Compose(e) => ReleaseError::Publish {
                what: "writing the compose".into(),
                fault: e.fault(),
                detail: e.to_string(),
            },
        }
    }
}

fn publish_error(what: String, e: SignError) -> ReleaseError {
    use factory_types::HasFault;
    ReleaseError::Publish {
        what,
        fault: e.fault(),
        detail: e.to_string(),
    }
}

/// The identity an image is signed for: `localhost/PRODUCT/IMAGE:STREAM` (a policy's
/// `signedIdentity` names it; see docs/composes.md).
pub fn image_reference(product: &str, image: &str, stream: &str) -> String {
    format!("localhost/{product}/{image}:{stream}")
}

fn is_deb(plan: &PublishPlan<'_>, component: &str) -> bool {
    plan.def
        .components
        .get(component)
        .is_some_and(|c| matches!(c.recipe, Recipe::Deb(_)))
}

/// The `.deb` files of a package component's output tree.
fn debs_in(tree: &Path) -> Result<Vec<DebInput>, ReleaseError> {
    let entries = fs_err::read_dir(tree).map_err(|e| ReleaseError::Publish {
        what: format!("reading {}", tree.display()),
        detail: e.to_string(),
        fault: Fault::Environment,
    })?;
    let mut debs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    Ok(debs.into_iter().map(DebInput::Path).collect())
}

/// The digest of the one manifest an image layout's `index.json` names.
pub fn manifest_digest(layout: &Path) -> Result<String, ReleaseError> {
    let path = layout.join("index.json");
    let bad = |detail: String| ReleaseError::Publish {
        what: format!("reading {}", path.display()),
        detail,
        fault: Fault::Factory,
    };
    let text = fs_err::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    index["manifests"][0]["digest"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| bad("no manifest in the index".into()))
}

/// The module streams the product stream ships, as modulemd documents describe them.
fn modules(plan: &PublishPlan<'_>) -> Vec<ModuleStream> {
    let mut out = Vec::new();
    for module_name in &plan.product.modules {
        let Some(module) = plan.def.modules.get(module_name) else {
            continue;
        };
        let Some(stream_name) = plan
            .stream
            .modules
            .get(module_name)
            .or_else(|| module.streams.keys().next())
        else {
            continue;
        };
        let stream = module.streams.get(stream_name);
        let components = module
            .build_order
            .iter()
            .enumerate()
            .flat_map(|(batch, names)| names.iter().map(move |n| (batch, n)))
            .map(|(batch, name)| ModuleComponent {
                name: name.clone(),
                rationale: plan
                    .def
                    .components
                    .get(name)
                    .and_then(|c| c.description.clone())
                    .unwrap_or_else(|| format!("part of module {}", module.name)),
                git_ref: stream.and_then(|s| s.components.get(name).cloned()),
                order: BuildOrder::Batch(batch as u64),
            })
            .collect();
        let artifacts: Vec<String> = module
            .components
            .iter()
            .filter_map(|c| plan.def.components.get(c))
            .filter_map(|c| match &c.recipe {
                Recipe::Deb(deb) => Some(deb.package.clone()),
                _ => None,
            })
            .collect();
        let profiles: BTreeMap<String, ModuleProfile> = module
            .profiles
            .values()
            .map(|p| {
                (
                    p.name.clone(),
                    ModuleProfile {
                        description: p.description.clone(),
                        packages: p.packages.clone(),
                    },
                )
            })
            .collect();
        let dependencies = Vec::new();
        out.push(ModuleStream {
            name: module.name.clone(),
            stream: stream_name.clone(),
            version: factory_compose::module_version(plan.at),
            context: factory_compose::module_context(&dependencies),
            summary: module
                .description
                .clone()
                .unwrap_or_else(|| module.name.clone()),
            description: stream
                .and_then(|s| s.description.clone())
                .or_else(|| module.description.clone())
                .unwrap_or_else(|| module.name.clone()),
            license: vec![MODULE_LICENSE.into()],
            dependencies,
            profiles,
            api: artifacts.clone(),
            components,
            artifacts,
        });
    }
    out
}

/// This machine's Debian architecture, indexed even when only `all` packages are built.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}
