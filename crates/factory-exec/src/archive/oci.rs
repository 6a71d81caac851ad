//! OCI image layouts assembled by Factory itself, without a container daemon.
//!
//! Each layer is one package's file tree as a deterministic gzip tar. An
//! image may sit on a base image layout: the base manifest's layers are
//! copied (digests verified) and its configuration is extended.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::tar::{TarOptions, write_tar};
use super::{ArchiveError, gzip, write_atomically};
use factory_types::Digest;

pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The image to assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImageSpec {
    /// Tag recorded in `index.json` (`oci:DIR:TAG`).
    pub tag: String,
    pub base: Option<OciBase>,
    /// One layer per entry, in order (later layers win).
    pub layers: Vec<OciLayer>,
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// `NAME=value`; replaces a base variable of the same name.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH`: layer mtimes and the `created` time.
    pub created: u64,
}

/// An existing OCI image layout to build on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciBase {
    pub layout: PathBuf,
    /// Which manifest of the base's `index.json`; may be omitted when it holds exactly one.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayer {
    /// Recorded in the image history (e.g. the package name).
    pub name: String,
    pub root: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImageInfo {
    pub manifest_digest: Digest,
    pub manifest_size: u64,
    pub config_digest: Digest,
    /// Base layers first, then the new ones.
    pub layers: Vec<OciLayerInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayerInfo {
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar, as the config records it.
    pub diff_id: Digest,
    pub size: u64,
}

/// Writes the image as an OCI image layout directory at `dest` (created if
/// missing; an existing `index.json` there is replaced).
pub fn write_oci_layout(spec: &OciImageSpec, dest: &Path) -> Result<OciImageInfo, ArchiveError> {
    let blobs = dest.join("blobs").join("sha256");
    fs_err::create_dir_all(&blobs).map_err(ArchiveError::io("creating", &blobs))?;
    let base = match &spec.base {
        Some(base) => BaseImage::load(base)?,
        None => BaseImage::default(),
    };
    let mut layer_descriptors = base.layer_descriptors.clone();
    let mut layers = Vec::new();
    for (descriptor, info) in base.layer_descriptors.iter().zip(&base.layer_infos) {
        copy_blob(&base.layout, dest, &info.digest, descriptor)?;
        layers.push(info.clone());
    }
    for layer in &spec.layers {
        let info = write_layer(layer, dest, spec.created)?;
        layer_descriptors.push(json!({
            "mediaType": MEDIA_LAYER_GZIP,
            "digest": info.digest.to_string(),
            "size": info.size,
        }));
        layers.push(info);
    }
    let config = image_config(spec, &base, &layers)?;
    let config_bytes = to_json(&config, dest)?;
    let config_digest = write_blob(dest, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {
            "mediaType": MEDIA_CONFIG,
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": layer_descriptors,
    });
    let manifest_bytes = to_json(&manifest, dest)?;
    let manifest_digest = write_blob(dest, &manifest_bytes)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": manifest_digest.to_string(),
            "size": manifest_bytes.len(),
            "annotations": { REF_NAME: spec.tag },
        }],
    });
    write_atomically(
        &dest.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_atomically(&dest.join("index.json"), &to_json(&index, dest)?)?;
    Ok(OciImageInfo {
        manifest_digest,
        manifest_size: manifest_bytes.len() as u64,
        config_digest,
        layers,
    })
}

fn to_json(value: &Value, dest: &Path) -> Result<Vec<u8>, ArchiveError> {
    serde_json::to_vec(value).map_err(|e| ArchiveError::Oci {
        path: dest.to_path_buf(),
        problem: format!("cannot encode JSON: {e}"),
    })
}

/// Content-addressed: an existing blob with the same name already holds these bytes.
fn write_blob(dest: &Path, bytes: &[u8]) -> Result<Digest, ArchiveError> {
    let digest = Digest::of(bytes);
    let path = blob_path(dest, &digest);
    if !path.exists() {
        write_atomically(&path, bytes)?;
    }
    Ok(digest)
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.hex())
}

fn write_layer(layer: &OciLayer, dest: &Path, mtime: u64) -> Result<OciLayerInfo, ArchiveError> {
    let options = TarOptions {
        mtime,
        dot_prefix: false,
    };
    // The diff_id is the digest of the uncompressed tar, so hash it on the
    // way into the compressor.
    let writer = HashingWriter {
        inner: gzip(Vec::new()),
        hasher: Sha256::new(),
    };
    let mut writer = write_tar(&layer.root, writer, &options)?;
    writer
        .flush()
        .map_err(ArchiveError::io("compressing layer", &layer.root))?;
    let diff_id = Digest::from_bytes(writer.hasher.finalize().into());
    let compressed = writer
        .inner
        .finish()
        .map_err(ArchiveError::io("compressing layer", &layer.root))?;
    let digest = write_blob(dest, &compressed)?;
    Ok(OciLayerInfo {
        digest,
        diff_id,
        size: compressed.len() as u64,
    })
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What is taken over from a base image.
#[derive(Debug, Default)]
struct BaseImage {
    layout: PathBuf,
    layer_descriptors: Vec<Value>,
    layer_infos: Vec<OciLayerInfo>,
    config: Value,
}

impl BaseImage {
    fn load(base: &OciBase) -> Result<BaseImage, ArchiveError> {
        let layout = &base.layout;
        let bad = |problem: String| ArchiveError::Oci {
            path: layout.clone(),
            problem,
        };
        let index = read_json(&layout.join("index.json"), layout)?;
        let manifests = index["manifests"]
            .as_array()
            .ok_or_else(|| bad("index.json has no `manifests` array".into()))?;
        let chosen = choose_manifest(manifests, base.tag.as_deref()).map_err(bad)?;
        if chosen["mediaType"] != MEDIA_MANIFEST {
            return Err(bad(format!(
                "the chosen entry has media type {} but only {MEDIA_MANIFEST} is supported as a base (pick a single-platform image)",
                chosen["mediaType"]
            )));
        }
        let manifest = read_blob_json(layout, &chosen["digest"])?;
        let config = read_blob_json(layout, &manifest["config"]["digest"])?;
        let layer_descriptors = manifest["layers"]
            .as_array()
            .cloned()
            .ok_or_else(|| bad("the base manifest has no `layers` array".into()))?;
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .ok_or_else(|| bad("the base config has no `rootfs.diff_ids`".into()))?;
        if diff_ids.len() != layer_descriptors.len() {
            return Err(bad(format!(
                "the base manifest has {} layers but its config lists {} diff_ids",
                layer_descriptors.len(),
                diff_ids.len()
            )));
        }
        let mut layer_infos = Vec::new();
        for (descriptor, diff_id) in layer_descriptors.iter().zip(diff_ids) {
            layer_infos.push(OciLayerInfo {
                digest: parse_digest(&descriptor["digest"], layout)?,
                diff_id: parse_digest(diff_id, layout)?,
                size: descriptor["size"]
                    .as_u64()
                    .ok_or_else(|| bad("a base layer descriptor has no `size`".into()))?,
            });
        }
        Ok(BaseImage {
            layout: layout.clone(),
            layer_descriptors,
            layer_infos,
            config,
        })
    }
}

fn choose_manifest<'a>(manifests: &'a [Value], tag: Option<&str>) -> Result<&'a Value, String> {
    match tag {
        Some(tag) => manifests
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .ok_or_else(|| format!("no manifest is tagged `{tag}` in index.json")),
        None if manifests.len() == 1 => Ok(&manifests[0]),
        None => Err(format!(
            "index.json holds {} manifests; name the base tag to use",
            manifests.len()
        )),
    }
}

fn parse_digest(value: &Value, layout: &Path) -> Result<Digest, ArchiveError> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ArchiveError::Oci {
            path: layout.to_path_buf(),
            problem: format!("{value} is not a sha256 digest"),
        })
}

fn read_json(path: &Path, layout: &Path) -> Result<Value, ArchiveError> {
    let bytes = fs_err::read(path).map_err(ArchiveError::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Oci {
        path: layout.to_path_buf(),
        problem: format!("{} is not valid JSON: {e}", path.display()),
    })
}

/// Reads a blob, refusing one whose contents do not match its name.
fn read_blob(layout: &Path, digest: &Digest) -> Result<Vec<u8>, ArchiveError> {
    let path = blob_path(layout, digest);
    let bytes = fs_err::read(&path).map_err(ArchiveError::io("reading", &path))?;
    if Digest::of(&bytes) != *digest {
        return Err(ArchiveError::Oci {
            path: layout.to_path_buf(),
            problem: format!("blob {digest} is corrupt: its contents have a different digest"),
        });
    }
    Ok(bytes)
}

fn read_blob_json(layout: &Path, digest: &Value) -> Result<Value, ArchiveError> {
    let digest = parse_digest(digest, layout)?;
    let bytes = read_blob(layout, &digest)?;
    serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Oci {
        path: layout.to_path_buf(),
        problem: format!("blob {digest} is not valid JSON: {e}"),
    })
}

fn copy_blob(
    from: &Path,
    to: &Path,
    digest: &Digest,
    descriptor: &Value,
) -> Result<(), ArchiveError> {
    if blob_path(to, digest).exists() && from != to {
        return Ok(());
    }
    let bytes = read_blob(from, digest)?;
    if descriptor["size"].as_u64() != Some(bytes.len() as u64) {
        return Err(ArchiveError::Oci {
            path: from.to_path_buf(),
            problem: format!("layer {digest} has a different size than its descriptor says"),
        });
    }
    write_blob(to, &bytes).map(drop)
}

fn image_config(
    spec: &OciImageSpec,
    base: &BaseImage,
    layers: &[OciLayerInfo],
) -> Result<Value, ArchiveError> {
    let created = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(spec.created))
        .to_string();
    let mut runtime = match &base.config["config"] {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let env = merge_env(&runtime, &spec.env);
    runtime.insert("Env".into(), json!(env));
    if let Some(entrypoint) = &spec.entrypoint {
        runtime.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(cmd) = &spec.cmd {
        runtime.insert("Cmd".into(), json!(cmd));
    }
    if let Some(dir) = &spec.working_dir {
        runtime.insert("WorkingDir".into(), json!(dir));
    }
    if !spec.labels.is_empty() {
        let mut labels = runtime
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &spec.labels {
            labels.insert(k.clone(), json!(v));
        }
        runtime.insert("Labels".into(), Value::Object(labels));
    }
    let mut history = base.config["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for layer in &spec.layers {
        history.push(json!({
            "created": created,
            "created_by": format!("factory: layer {}", layer.name),
        }));
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    Ok(json!({
        "architecture": spec.architecture,
        "os": spec.os,
        "created": created,
        "config": runtime,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    }))
}

/// Base variables first, in their order; a variable the spec sets again is
/// replaced in place, new ones are appended.
fn merge_env(runtime: &serde_json::Map<String, Value>, extra: &[String]) -> Vec<String> {
    let name_of = |entry: &str| entry.split('=').next().unwrap_or_default().to_string();
    let mut env: Vec<String> = runtime
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for entry in extra {
        let name = name_of(entry);
        match env.iter_mut().find(|e| name_of(e) == name) {
            Some(existing) => existing.clone_from(entry),
            None => env.push(entry.clone()),
        }
    }
    env
}
