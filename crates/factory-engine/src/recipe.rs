//! From the definition to what the engine runs: a job (a component or an
//! image) plus the output digests of its inputs become a [`KeyMaterial`]
//! (hence a build key) and a [`Work`] item.
//!
//! Placeholders are mapped to the engine's environment variables
//! (`"$FACTORY_SRC"`, `"$FACTORY_OUT"`, `"$FACTORY_INPUT_<NAME>"`), never to
//! host paths: a host path in a command would enter the build key and make
//! every scratch directory a new key, defeating reuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use factory_def::{
    Component, DebPackage, Definition, Image, ImageBase, Recipe, Source, TarballSpec, Var,
};
use factory_exec::{
    BuildCommand, BuildSpec, Builtin, DEFAULT_SOURCE_DATE_EPOCH, ImageAssembly, ImageLayer,
    SourceTree, TreeError, Work, WorkItem, digest_tree, input_env_name,
};
use factory_types::{BuildKey, Digest, Fault, HasFault, Job};

use crate::key::KeyMaterial;
use crate::plan::inputs_in;

/// A job ready to run (or to be reused): its key material and its work.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub job: Job,
    pub material: KeyMaterial,
    pub work: Work,
    /// Where its source tree is, when it has one.
    pub source: Option<PathBuf>,
}

impl Prepared {
    /// Whether its outputs are packages, each recorded as an artifact of the build too.
    pub fn makes_packages(&self) -> bool {
        matches!(self.material.kind.as_str(), "deb" | "tarball")
    }

    /// The work item an executor runs: the work, its source, and its inputs by digest.
    /// `key`: this material's key, computed once by the caller; `platform`: the
    /// executor's facts that went into it.
    pub fn work_item(&self, key: BuildKey, platform: &BTreeMap<String, String>) -> WorkItem {
        let artifacts = if self.makes_packages() {
            self.material.spec.outputs.clone()
        } else {
            Vec::new()
        };
        WorkItem {
            key,
            name: self.job.name(),
            work: self.work.clone(),
            source: self.source.clone().map(|path| SourceTree {
                digest: self.material.source_digest,
                path,
            }),
            inputs: self.material.inputs.clone(),
            artifacts,
            platform: platform.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("`{job}` is not in the definition; check the name (`factory check` lists problems)")]
    Unknown { job: String },
    #[error(
        "image `{image}` contains package `{package}`, which no component produces; add it to a component's `packages` or fix the name"
    )]
    UnknownPackage { image: String, package: String },
    #[error(
        "component `{component}` uses kind `{kind}`, which the definition does not declare; declare `[kind.{kind}]`"
    )]
    UnknownKind { component: String, kind: String },
    #[error(
        "component `{component}`: its {what} source was not fetched (the orchestrator fetches git and tarball sources before preparing a build); use the orchestrator, or a local `path` source"
    )]
    UnsupportedSource {
        component: String,
        what: &'static str,
    },
    #[error("component `{component}`: source directory `{path}` cannot be read: {source}")]
    Source {
        component: String,
        path: PathBuf,
        #[source]
        source: TreeError,
    },
    #[error("component `{component}`: the tarball's sha256 is not usable: {reason}")]
    BadTarballDigest { component: String, reason: String },
    #[error("component `{component}` has no source; give it `source = {{ path = \"...\" }}`")]
    NoSource { component: String },
    #[error("`{job}` needs the output of `{input}`, which has no successful build")]
    MissingInput { job: String, input: String },
}

impl HasFault for RecipeError {
    /// What the definition says is the input's to fix; an input whose outputs went missing
    /// while the wave ran (collected by another process, say) is the environment's.
    fn fault(&self) -> Fault {
        match self {
            RecipeError::MissingInput { .. } => Fault::Environment,
            _ => Fault::Input,
        }
    }
}

fn component<'a>(def: &'a Definition, name: &str) -> Result<&'a Component, RecipeError> {
    def.component(name).ok_or_else(|| RecipeError::Unknown {
        job: name.to_owned(),
    })
}

/// Builds the key material and work of `job`. `inputs` holds the output
/// digest of every input (see [`crate::plan::inputs_in`]). Reads the source tree to
/// digest it, so call it off the async threads for large sources.
pub fn prepare(
    def: &Definition,
    job: &Job,
    inputs: &BTreeMap<String, Digest>,
    environment: &BTreeMap<String, String>,
) -> Result<Prepared, RecipeError> {
    prepare_fetched(def, job, inputs, environment, None)
}

/// Like [`prepare`], with the fetched tree of the component's remote source
/// (a git checkout or an unpacked tarball).
pub fn prepare_fetched(
    def: &Definition,
    job: &Job,
    inputs: &BTreeMap<String, Digest>,
    environment: &BTreeMap<String, String>,
    fetched: Option<&Path>,
) -> Result<Prepared, RecipeError> {
    let wanted = inputs_in(def, job)?;
    if let Some(missing) = wanted.keys().find(|name| !inputs.contains_key(*name)) {
        return Err(RecipeError::MissingInput {
            job: job.name(),
            input: missing.clone(),
        });
    }
    let inputs: BTreeMap<String, Digest> = wanted
        .keys()
        .map(|name| (name.clone(), inputs[name]))
        .collect();
    let mut material = KeyMaterial {
        kind: String::new(),
        spec: BuildSpec::new(job.name(), Vec::new()),
        recipe: BTreeMap::from([("job".to_owned(), job.name())]),
        source_digest: None,
        inputs,
        environment: environment.clone(),
    };
    let (work, source) = match job {
        Job::Component(name) => {
            prepare_component(def, component(def, name)?, &mut material, fetched)?
        }
        Job::Image(name) => {
            let image = def
                .image(name)
                .ok_or_else(|| RecipeError::Unknown { job: job.name() })?;
            (prepare_image(def, image, &mut material), None)
        }
    };
    Ok(Prepared {
        job: job.clone(),
        material,
        work,
        source,
    })
}

fn prepare_component(
    def: &Definition,
    component: &Component,
    material: &mut KeyMaterial,
    fetched: Option<&Path>,
) -> Result<(Work, Option<PathBuf>), RecipeError> {
    material.kind = component.kind_name().to_owned();
    if let Some(version) = &component.version {
        material
            .recipe
            .insert("version".to_owned(), version.clone());
    }
    match &component.recipe {
        Recipe::Deb(deb) => {
            // The packaged component's owners maintain the package unless it names a maintainer.
            let owners = def
                .component(&deb.from)
                .map_or(&component.owners, |c| &c.owners);
            Ok((prepare_deb(owners, deb, material), None))
        }
        Recipe::Tarball(tarball) => Ok((prepare_tarball(component, tarball, material), None)),
        Recipe::Command { .. } | Recipe::Kind { .. } => {
            prepare_commands(def, component, material, fetched)
        }
    }
}

fn prepare_commands(
    def: &Definition,
    component: &Component,
    material: &mut KeyMaterial,
    fetched: Option<&Path>,
) -> Result<(Work, Option<PathBuf>), RecipeError> {
    let steps = def
        .build_steps(component)
        .ok_or_else(|| RecipeError::UnknownKind {
            component: component.name.clone(),
            kind: component.kind_name().to_owned(),
        })?;
    let source_dir = source_tree(def, component, material, fetched)?;
    let empty = BTreeMap::new();
    let params = steps.params.unwrap_or(&empty);
    for (name, value) in params {
        material
            .recipe
            .insert(format!("param.{name}"), value.clone());
    }
    let placeholders = Placeholders {
        component,
        params,
        deps: component
            .build_requires
            .iter()
            .map(String::as_str)
            .collect(),
    };
    let commands = steps
        .commands
        .iter()
        .map(|t| BuildCommand::Shell(t.render(|var| placeholders.in_command(var))))
        .collect();
    let mut spec = BuildSpec::new(component.name.clone(), commands);
    spec.env = steps
        .env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.render(|var| placeholders.in_env(var))))
        .collect();
    spec.network = steps.network;
    spec.timeout = Some(steps.timeout);
    spec.outputs = steps.outputs.to_vec();
    material.spec = spec.clone();
    Ok((Work::Commands(spec), source_dir))
}

/// Where the component's source tree is, its digest recorded in the key material. A
/// tarball's digest is checked before it is unpacked, so it names the tree exactly; any
/// other tree is digested.
fn source_tree(
    def: &Definition,
    component: &Component,
    material: &mut KeyMaterial,
    fetched: Option<&Path>,
) -> Result<Option<PathBuf>, RecipeError> {
    let unfetched = |what| RecipeError::UnsupportedSource {
        component: component.name.clone(),
        what,
    };
    let source_dir = match &component.source {
        None => return Ok(None),
        Some(Source::Git { .. }) => fetched.ok_or_else(|| unfetched("git"))?.to_path_buf(),
        Some(Source::Tarball { sha256, .. }) => {
            let digest =
                Digest::parse_lenient(sha256).map_err(|e| RecipeError::BadTarballDigest {
                    component: component.name.clone(),
                    reason: e.to_string(),
                })?;
            material.source_digest = Some(digest);
            return Ok(Some(
                fetched.ok_or_else(|| unfetched("tarball"))?.to_path_buf(),
            ));
        }
        Some(source) => match def.local_source_dir(source) {
            Some(dir) => dir,
            None => return Ok(None),
        },
    };
    let digest = digest_tree(&source_dir).map_err(|source| RecipeError::Source {
        component: component.name.clone(),
        path: source_dir.clone(),
        source,
    })?;
    material.source_digest = Some(digest);
    Ok(Some(source_dir))
}

/// What the definition's placeholders become in a component's commands and environment.
struct Placeholders<'a> {
    component: &'a Component,
    params: &'a BTreeMap<String, String>,
    deps: Vec<&'a str>,
}

impl Placeholders<'_> {
    /// In a command (run by a shell): the sandbox's environment variables, quoted.
    fn in_command(&self, var: &Var) -> String {
        match var {
            Var::Src => "\"$FACTORY_SRC\"".to_owned(),
            Var::Out => "\"$FACTORY_OUT\"".to_owned(),
            Var::Name => self.component.name.clone(),
            Var::Version => self.component.version.clone().unwrap_or_default(),
            Var::Stream => String::new(),
            Var::Deps => self
                .deps
                .iter()
                .map(|d| format!("\"${}\"", input_env_name(d)))
                .collect::<Vec<_>>()
                .join(" "),
            Var::Dep(name) => format!("\"${}\"", input_env_name(name)),
            Var::Param(name) => self.params.get(name).cloned().unwrap_or_default(),
        }
    }

    /// In an environment value (not run through a shell): the fixed in-sandbox paths.
    fn in_env(&self, var: &Var) -> String {
        match var {
            Var::Src => "/build/src".to_owned(),
            Var::Out => "/build/out".to_owned(),
            Var::Dep(name) => format!("/build/inputs/{name}"),
            Var::Deps => self
                .deps
                .iter()
                .map(|d| format!("/build/inputs/{d}"))
                .collect::<Vec<_>>()
                .join(" "),
            other => self.in_command(other),
        }
    }
}

fn prepare_deb(owners: &[String], deb: &DebPackage, material: &mut KeyMaterial) -> Work {
    let maintainer = deb
        .maintainer
        .clone()
        .or_else(|| owners.first().map(|o| owner_as_maintainer(o)))
        .unwrap_or_else(|| "Factory <factory@localhost>".to_owned());
    let mut extra = BTreeMap::new();
    let mut put = |field: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            extra.insert(field.to_owned(), value);
        }
    };
    put("Section", deb.section.clone());
    put("Priority", deb.priority.clone());
    put("Pre-Depends", Some(deb.pre_depends.join(", ")));
    put("Provides", Some(deb.provides.join(", ")));
    put("Conflicts", Some(deb.conflicts.join(", ")));
    let control = factory_exec::archive::DebControl {
        package: deb.package.clone(),
        version: deb.version.clone(),
        architecture: deb.architecture.clone(),
        maintainer,
        description: deb.description.clone(),
        depends: deb.depends.clone(),
        extra,
    };
    let recipe = &mut material.recipe;
    recipe.insert("from".into(), deb.from.clone());
    recipe.insert("prefix".into(), deb.prefix.clone());
    recipe.insert("control".into(), format!("{control:?}"));
    let file_name = format!(
        "{}_{}_{}.deb",
        deb.package,
        deb.version
            .split_once(':')
            .map_or(deb.version.as_str(), |(_, v)| v),
        deb.architecture
    );
    material.spec.outputs = vec![file_name.clone()];
    Work::Builtin(Builtin::Deb {
        from: deb.from.clone(),
        prefix: deb.prefix.clone(),
        control,
        file_name,
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    })
}

/// `Name <mail>` as Debian wants it; an owner that is only an address becomes both.
fn owner_as_maintainer(owner: &str) -> String {
    if owner.contains('<') {
        owner.to_owned()
    } else {
        format!("{owner} <{owner}>")
    }
}

fn prepare_tarball(
    component: &Component,
    tarball: &TarballSpec,
    material: &mut KeyMaterial,
) -> Work {
    let file_name = match &component.version {
        Some(version) => format!("{}-{version}.tar.gz", component.name),
        None => format!("{}.tar.gz", component.name),
    };
    material.recipe.insert("from".into(), tarball.from.clone());
    material
        .recipe
        .insert("prefix".into(), tarball.prefix.clone());
    material.spec.outputs = vec![file_name.clone()];
    Work::Builtin(Builtin::Tarball {
        from: tarball.from.clone(),
        prefix: tarball.prefix.clone(),
        file_name,
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    })
}

fn prepare_image(def: &Definition, image: &Image, material: &mut KeyMaterial) -> Work {
    material.kind = "oci-image".to_owned();
    // (layer name, input name, whether the input holds a .deb to unpack): the key material
    // names layers in this form, so keys stay what they were.
    let mut layers: Vec<(String, String, bool)> = Vec::new();
    for package in &image.packages {
        if let Some(producer) = def.component_for_package(package) {
            let is_deb = matches!(producer.recipe, Recipe::Deb(_));
            layers.push((package.clone(), producer.name.clone(), is_deb));
        }
    }
    for component in &image.components {
        layers.push((component.clone(), component.clone(), false));
    }
    let base = match &image.base {
        ImageBase::Scratch => None,
        ImageBase::Image(name) => Some(factory_exec::ImageBase::Input(
            Job::Image(name.clone()).name(),
        )),
        ImageBase::OciLayout(path) => Some(factory_exec::ImageBase::Layout(
            def.root
                .as_deref()
                .map_or_else(|| path.clone(), |root| root.join(path)),
        )),
    };
    let recipe = &mut material.recipe;
    recipe.insert("layers".into(), format!("{layers:?}"));
    recipe.insert("base".into(), format!("{:?}", image.base));
    recipe.insert("entrypoint".into(), format!("{:?}", image.entrypoint));
    recipe.insert("cmd".into(), format!("{:?}", image.cmd));
    recipe.insert("env".into(), format!("{:?}", image.env));
    recipe.insert("labels".into(), format!("{:?}", image.labels));
    if let Some(factory_exec::ImageBase::Layout(path)) = &base {
        // A base layout on disk is an input like a source: its content is in the key.
        if let Ok(digest) = digest_tree(path) {
            material.source_digest = Some(digest);
        }
    }
    Work::Builtin(Builtin::Image(ImageAssembly {
        layers: layers
            .into_iter()
            .map(|(name, input, unpack_deb)| ImageLayer {
                name,
                input,
                unpack_deb,
            })
            .collect(),
        base,
        entrypoint: image.entrypoint.clone(),
        cmd: image.cmd.clone(),
        env: image.env.clone(),
        labels: image.labels.clone(),
        architecture: factory_exec::local::debian_arch().to_owned(),
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    }))
}

/// A digest of everything in the key material except the source and the
/// inputs: what `factory explain` reports as "the recipe changed".
pub fn recipe_digest(material: &KeyMaterial) -> Digest {
    let mut reduced = material.clone();
    reduced.source_digest = None;
    reduced.inputs.clear();
    reduced.environment.clear();
    reduced.key().0
}
