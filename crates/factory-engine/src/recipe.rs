//! From the definition to what the engine runs: a job (a component or an
//! image) plus the output digests of its inputs become a [`KeyMaterial`]
//! (hence a build key) and a [`Work`] item.
//!
//! Placeholders are mapped to the engine's environment variables
//! (`"$FACTORY_SRC"`, `"$FACTORY_OUT"`, `"$FACTORY_INPUT_<NAME>"`), never to
//! host paths: a host path in a command would enter the build key and make
//! every scratch directory a new key, defeating reuse.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use factory_def::{
    Component, DebPackage, Definition, Image, ImageBase, Recipe, Source, TarballSpec, Var,
};

use crate::digest::Digest;
use crate::exec::input_env_name;
use crate::key::KeyMaterial;
use crate::spec::{BuildCommand, BuildSpec, DEFAULT_SOURCE_DATE_EPOCH};
use crate::tree::{TreeError, digest_tree};

/// Something the orchestrator builds: a component, or an image (images
/// live in their own namespace, so their job names carry an `image:` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    Component(String),
    Image(String),
}

impl Job {
    /// Parses a job name as events record it (`image:NAME` or a component name).
    pub fn parse(name: &str) -> Job {
        match name.strip_prefix("image:") {
            Some(image) => Job::Image(image.to_owned()),
            None => Job::Component(name.to_owned()),
        }
    }

    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Whether the definition has it.
    pub fn exists_in(&self, def: &Definition) -> bool {
        match self {
            Job::Component(name) => def.components.contains_key(name),
            Job::Image(name) => def.images.contains_key(name),
        }
    }

    /// The jobs whose outputs this job reads, by input name.
    pub fn inputs(&self, def: &Definition) -> Result<BTreeMap<String, Job>, RecipeError> {
        match self {
            Job::Component(name) => {
                let component = component(def, name)?;
                Ok(component
                    .build_inputs()
                    .map(|input| (input.to_owned(), Job::Component(input.to_owned())))
                    .collect())
            }
            Job::Image(name) => {
                let image = def
                    .image(name)
                    .ok_or_else(|| RecipeError::Unknown { job: self.name() })?;
                let mut inputs = BTreeMap::new();
                for package in &image.packages {
                    let producer = def.component_for_package(package).ok_or_else(|| {
                        RecipeError::UnknownPackage {
                            image: name.clone(),
                            package: package.clone(),
                        }
                    })?;
                    inputs.insert(producer.name.clone(), Job::Component(producer.name.clone()));
                }
                for component in &image.components {
                    inputs.insert(component.clone(), Job::Component(component.clone()));
                }
                if let ImageBase::Image(base) = &image.base {
                    let job = Job::Image(base.clone());
                    inputs.insert(job.name(), job);
                }
                Ok(inputs)
            }
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Component(name) => f.write_str(name),
            Job::Image(name) => write!(f, "image:{name}"),
        }
    }
}

/// What running a job means.
#[derive(Debug, Clone)]
pub enum Work {
    /// Shell commands in the sandbox.
    Commands {
        spec: BuildSpec,
        source: Option<PathBuf>,
    },
    /// A .deb written by Factory from input `from`'s tree, installed under `prefix`.
    Deb {
        from: String,
        prefix: String,
        control: crate::archive::DebControl,
        file_name: String,
        mtime: u64,
    },
    /// A normalised `.tar.gz` of input `from`'s tree.
    Tarball {
        from: String,
        prefix: String,
        file_name: String,
        mtime: u64,
    },
    /// An OCI image layout assembled from the inputs' contents.
    Image(ImageWork),
}

#[derive(Debug, Clone)]
pub struct ImageWork {
    /// Layers in order: (layer name, input name, whether the input holds a .deb to unpack).
    pub layers: Vec<(String, String, bool)>,
    /// Input name of a base image of this definition, or a layout on disk.
    pub base: Option<ImageBaseRef>,
    pub image: Image,
    pub architecture: String,
    pub mtime: u64,
}

#[derive(Debug, Clone)]
pub enum ImageBaseRef {
    Input(String),
    Layout(PathBuf),
}

/// A job ready to run (or to be reused): its key material and its work.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub job: Job,
    pub material: KeyMaterial,
    pub work: Work,
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

/// Facts about the machine that go into every build key.
pub fn environment_facts(sandbox: &crate::Sandbox) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("arch".to_owned(), debian_arch().to_owned()),
        ("sandbox".to_owned(), sandbox.describe().to_owned()),
    ])
}

/// The Debian name of the architecture Factory runs on.
pub fn debian_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        other => other,
    }
}

fn component<'a>(def: &'a Definition, name: &str) -> Result<&'a Component, RecipeError> {
    def.component(name).ok_or_else(|| RecipeError::Unknown {
        job: name.to_owned(),
    })
}

/// Builds the key material and work of `job`. `inputs` holds the output
/// digest of every input (see [`Job::inputs`]). Reads the source tree to
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
    let wanted = job.inputs(def)?;
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
    let work = match job {
        Job::Component(name) => {
            prepare_component(def, component(def, name)?, &mut material, fetched)?
        }
        Job::Image(name) => {
            let image = def
                .image(name)
                .ok_or_else(|| RecipeError::Unknown { job: job.name() })?;
            prepare_image(def, image, &mut material)
        }
    };
    Ok(Prepared {
        job: job.clone(),
        material,
        work,
    })
}

fn prepare_component(
    def: &Definition,
    component: &Component,
    material: &mut KeyMaterial,
    fetched: Option<&Path>,
) -> Result<Work, RecipeError> {
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
            Ok(prepare_deb(owners, deb, material))
        }
        Recipe::Tarball(tarball) => Ok(prepare_tarball(component, tarball, material)),
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
) -> Result<Work, RecipeError> {
    let steps = def
        .build_steps(component)
        .ok_or_else(|| RecipeError::UnknownKind {
            component: component.name.clone(),
            kind: component.kind_name().to_owned(),
        })?;
    let unfetched = |what| RecipeError::UnsupportedSource {
        component: component.name.clone(),
        what,
    };
    // A tarball's digest is checked before it is unpacked, so it names the tree exactly.
    let mut tarball_digest = None;
    let source_dir = match &component.source {
        None => None,
        Some(Source::Git { .. }) => Some(fetched.ok_or_else(|| unfetched("git"))?.to_path_buf()),
        Some(Source::Tarball { sha256, .. }) => {
            let digest = sha256
                .parse::<Digest>()
                .map_err(|e| RecipeError::BadTarballDigest {
                    component: component.name.clone(),
                    reason: e.to_string(),
                })?;
            tarball_digest = Some(digest);
            Some(fetched.ok_or_else(|| unfetched("tarball"))?.to_path_buf())
        }
        Some(source) => def.local_source_dir(source),
    };
    if let Some(digest) = tarball_digest {
        material.source_digest = Some(digest);
    } else if let Some(dir) = &source_dir {
        let digest = digest_tree(dir).map_err(|source| RecipeError::Source {
            component: component.name.clone(),
            path: dir.clone(),
            source,
        })?;
        material.source_digest = Some(digest);
    }
    let empty = BTreeMap::new();
    let params = steps.params.unwrap_or(&empty);
    for (name, value) in params {
        material
            .recipe
            .insert(format!("param.{name}"), value.clone());
    }
    let deps: Vec<&str> = component
        .build_requires
        .iter()
        .map(String::as_str)
        .collect();
    let render = |var: &Var| -> String {
        match var {
            Var::Src => "\"$FACTORY_SRC\"".to_owned(),
            Var::Out => "\"$FACTORY_OUT\"".to_owned(),
            Var::Name => component.name.clone(),
            Var::Version => component.version.clone().unwrap_or_default(),
            Var::Stream => String::new(),
            Var::Deps => deps
                .iter()
                .map(|d| format!("\"${}\"", input_env_name(d)))
                .collect::<Vec<_>>()
                .join(" "),
            Var::Dep(name) => format!("\"${}\"", input_env_name(name)),
            Var::Param(name) => params.get(name).cloned().unwrap_or_default(),
        }
    };
    let mut spec = BuildSpec::new(
        component.name.clone(),
        steps
            .commands
            .iter()
            .map(|t| BuildCommand::Shell(t.render(render)))
            .collect(),
    );
    // Environment values are not run through a shell: placeholders become
    // the fixed in-sandbox paths.
    let sandbox_path = |var: &Var| -> String {
        match var {
            Var::Src => "/build/src".to_owned(),
            Var::Out => "/build/out".to_owned(),
            Var::Dep(name) => format!("/build/inputs/{name}"),
            Var::Deps => deps
                .iter()
                .map(|d| format!("/build/inputs/{d}"))
                .collect::<Vec<_>>()
                .join(" "),
            other => render(other),
        }
    };
    spec.env = steps
        .env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.render(sandbox_path)))
        .collect();
    spec.network = steps.network;
    spec.timeout = Some(steps.timeout);
    spec.outputs = steps.outputs.to_vec();
    material.spec = spec.clone();
    Ok(Work::Commands {
        spec,
        source: source_dir,
    })
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
    let control = crate::archive::DebControl {
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
    Work::Deb {
        from: deb.from.clone(),
        prefix: deb.prefix.clone(),
        control,
        file_name,
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    }
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
    Work::Tarball {
        from: tarball.from.clone(),
        prefix: tarball.prefix.clone(),
        file_name,
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    }
}

fn prepare_image(def: &Definition, image: &Image, material: &mut KeyMaterial) -> Work {
    material.kind = "oci-image".to_owned();
    let mut layers = Vec::new();
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
        ImageBase::Image(name) => Some(ImageBaseRef::Input(Job::Image(name.clone()).name())),
        ImageBase::OciLayout(path) => Some(ImageBaseRef::Layout(
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
    if let Some(ImageBaseRef::Layout(path)) = &base {
        // A base layout on disk is an input like a source: its content is in the key.
        if let Ok(digest) = digest_tree(path) {
            material.source_digest = Some(digest);
        }
    }
    Work::Image(ImageWork {
        layers,
        base,
        image: image.clone(),
        architecture: debian_arch().to_owned(),
        mtime: DEFAULT_SOURCE_DATE_EPOCH,
    })
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

/// Copies the tree at `from` to `to` (created), keeping modes and symlinks.
/// Written by hand: the few std calls needed are simpler than a dependency.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
