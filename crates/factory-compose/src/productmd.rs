//! productmd metadata (`compose/metadata/`): `composeinfo.json`, `images.json` and, where
//! there are modules, `modules.json`, in the format the `productmd` library writes (header
//! version 1.2) and reads. These are the wire types; the compose's own are in `lib.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::id::ComposeId;
use crate::request::ComposeRequest;

/// The version of the format written, productmd's current one.
const FORMAT_VERSION: &str = "1.2";

/// Where the content of the one variant is, relative to `compose/`.
#[derive(Debug, Default)]
pub(crate) struct VariantContent {
    /// RPM architectures.
    pub(crate) arches: BTreeSet<String>,
    /// The apt repository's root and pool, for the architectures it indexes.
    pub(crate) apt: Option<(String, String, BTreeSet<String>)>,
    /// The images directory of each architecture that has images.
    pub(crate) images: BTreeMap<String, String>,
    pub(crate) image_entries: Vec<ImageEntry>,
    pub(crate) module_entries: Vec<ModuleEntry>,
}

/// One image, as `images.json` lists it.
#[derive(Debug)]
pub(crate) struct ImageEntry {
    pub(crate) arch: String,
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    /// The manifest digest: a layout is a directory, and its manifest is what names it.
    pub(crate) sha256: String,
    pub(crate) subvariant: String,
}

/// One module stream under one architecture, as `modules.json` lists it.
#[derive(Debug)]
pub(crate) struct ModuleEntry {
    pub(crate) arch: String,
    pub(crate) nsvc: String,
    pub(crate) name: String,
    pub(crate) stream: String,
    pub(crate) version: String,
    pub(crate) context: String,
    pub(crate) path: String,
    pub(crate) rpms: Vec<String>,
}

#[derive(Serialize)]
struct File<P> {
    header: Header,
    payload: P,
}

#[derive(Serialize)]
struct Header {
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
}

#[derive(Serialize, Clone)]
struct Compose {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    date: String,
    respin: u32,
}

#[derive(Serialize)]
struct ComposeInfoPayload {
    compose: Compose,
    release: Release,
    variants: BTreeMap<String, Variant>,
}

#[derive(Serialize)]
struct Release {
    name: String,
    version: String,
    short: String,
    #[serde(rename = "type")]
    kind: &'static str,
    internal: bool,
}

#[derive(Serialize)]
struct Variant {
    id: String,
    uid: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    arches: Vec<String>,
    /// Category (`repository`, `packages`, `images`) → architecture → path.
    paths: BTreeMap<&'static str, BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct ImagesPayload {
    compose: Compose,
    /// Variant → architecture → images.
    images: BTreeMap<String, BTreeMap<String, Vec<Image>>>,
}

#[derive(Serialize)]
struct Image {
    path: String,
    mtime: i64,
    size: u64,
    volume_id: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    format: &'static str,
    arch: String,
    disc_number: u32,
    disc_count: u32,
    checksums: BTreeMap<&'static str, String>,
    implant_md5: Option<String>,
    bootable: bool,
    subvariant: String,
}

#[derive(Serialize)]
struct ModulesPayload {
    compose: Compose,
    /// Variant → architecture → NSVC → module.
    modules: BTreeMap<String, BTreeMap<String, BTreeMap<String, Module>>>,
}

#[derive(Serialize)]
struct Module {
    metadata: ModuleMetadata,
    modulemd_path: BTreeMap<&'static str, String>,
    rpms: Vec<String>,
}

#[derive(Serialize)]
struct ModuleMetadata {
    uid: String,
    name: String,
    stream: String,
    version: String,
    context: String,
    /// productmd requires one; Factory has no build tags, so it is the module's own
    /// name as the Module Build Service names its tags (`module-NAME-STREAM-VERSION-CONTEXT`).
    koji_tag: String,
}

/// The three files' names and contents (`modules.json` only when there are modules).
pub(crate) fn metadata(
    id: &ComposeId,
    request: &ComposeRequest,
    date: &str,
    content: &VariantContent,
) -> Result<Vec<(&'static str, Vec<u8>)>, serde_json::Error> {
    let compose = Compose {
        id: id.to_string(),
        kind: request.compose_type.as_str(),
        date: date.to_owned(),
        respin: request.respin,
    };
    let mut files = vec![
        (
            "composeinfo.json",
            composeinfo(compose.clone(), request, content)?,
        ),
        ("images.json", images(compose.clone(), request, content)?),
    ];
    if !content.module_entries.is_empty() {
        files.push(("modules.json", modules(compose, request, content)?));
    }
    Ok(files)
}

fn to_json<P: Serialize>(kind: &'static str, payload: P) -> Result<Vec<u8>, serde_json::Error> {
    let file = File {
        header: Header {
            kind,
            version: FORMAT_VERSION,
        },
        payload,
    };
    let mut bytes = serde_json::to_vec_pretty(&file)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn composeinfo(
    compose: Compose,
    request: &ComposeRequest,
    content: &VariantContent,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut paths: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
    if let Some((root, pool, arches)) = &content.apt {
        for arch in arches {
            paths
                .entry("repository")
                .or_default()
                .insert(arch.clone(), root.clone());
            paths
                .entry("packages")
                .or_default()
                .insert(arch.clone(), pool.clone());
        }
    }
    for (arch, dir) in &content.images {
        paths
            .entry("images")
            .or_default()
            .insert(arch.clone(), dir.clone());
    }
    let variant = Variant {
        id: request.variant.clone(),
        uid: request.variant.clone(),
        name: request.variant.clone(),
        kind: "variant",
        arches: content.arches.iter().cloned().collect(),
        paths,
    };
    let release = &request.release;
    let payload = ComposeInfoPayload {
        compose,
        release: Release {
            name: release.name.clone(),
            version: release.version.clone(),
            short: release.short.clone(),
            kind: release.release_type.as_str(),
            internal: false,
        },
        variants: BTreeMap::from([(request.variant.clone(), variant)]),
    };
    to_json("productmd.composeinfo", payload)
}

fn images(
    compose: Compose,
    request: &ComposeRequest,
    content: &VariantContent,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut by_arch: BTreeMap<String, Vec<Image>> = BTreeMap::new();
    for entry in &content.image_entries {
        by_arch.entry(entry.arch.clone()).or_default().push(Image {
            path: entry.path.clone(),
            mtime: entry.mtime,
            size: entry.size,
            volume_id: None,
            kind: "container",
            format: "oci",
            arch: entry.arch.clone(),
            disc_number: 1,
            disc_count: 1,
            checksums: BTreeMap::from([("sha256", entry.sha256.clone())]),
            implant_md5: None,
            bootable: false,
            subvariant: entry.subvariant.clone(),
        });
    }
    let mut images = BTreeMap::new();
    if !by_arch.is_empty() {
        images.insert(request.variant.clone(), by_arch);
    }
    to_json("productmd.images", ImagesPayload { compose, images })
}

fn modules(
    compose: Compose,
    request: &ComposeRequest,
    content: &VariantContent,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut by_arch: BTreeMap<String, BTreeMap<String, Module>> = BTreeMap::new();
    for entry in &content.module_entries {
        let module = Module {
            metadata: ModuleMetadata {
                uid: entry.nsvc.clone(),
                name: entry.name.clone(),
                stream: entry.stream.clone(),
                version: entry.version.clone(),
                context: entry.context.clone(),
                koji_tag: format!(
                    "module-{}-{}-{}-{}",
                    entry.name, entry.stream, entry.version, entry.context
                ),
            },
            modulemd_path: BTreeMap::from([("binary", entry.path.clone())]),
            rpms: entry.rpms.clone(),
        };
        by_arch
            .entry(entry.arch.clone())
            .or_default()
            .insert(entry.nsvc.clone(), module);
    }
    let modules = BTreeMap::from([(request.variant.clone(), by_arch)]);
    to_json("productmd.modules", ModulesPayload { compose, modules })
}
