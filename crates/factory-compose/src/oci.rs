//! OCI images in the compose: each image's layout copied blob by blob (every digest
//! checked on the way), holding exactly the one image asked for; and, when the image comes
//! with signatures, the same image in the containers `dir:` form with them beside it,
//! which is where `skopeo copy` finds signatures to check against a `signedBy` policy
//! (the `oci:` transport carries none).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use factory_types::Digest;

use crate::arch;
use crate::error::ComposeError;
use crate::files::{copy_hashed, link_or_copy, write_file};
use crate::request::ImageInput;

const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// What the containers `dir:` transport writes in its `version` file.
const DIR_VERSION: &str = "Directory Transport Version: 1.1\n";

/// An image as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    pub name: String,
    /// The OCI image layout in the published compose (`skopeo inspect oci:PATH`).
    pub layout: PathBuf,
    /// The `dir:` copy with the signatures, when the image came with some.
    pub signed: Option<PathBuf>,
    pub manifest_digest: Digest,
    /// RPM form (`x86_64`), as productmd keys images.
    pub architecture: String,
    /// Bytes of the layout: `oci-layout`, `index.json` and every blob.
    pub size: u64,
}

/// A layout checked before anything is written: its manifest and what it refers to.
#[derive(Debug)]
pub(crate) struct CheckedImage<'a> {
    input: &'a ImageInput,
    layout_marker: Vec<u8>,
    /// The manifest's descriptor from the source index, as it was (annotations kept).
    descriptor: Value,
    manifest: Vec<u8>,
    manifest_digest: Digest,
    /// Config first, then the layers.
    blobs: Vec<(Digest, u64)>,
    rpm_arch: &'static str,
}

impl CheckedImage<'_> {
    pub(crate) fn name(&self) -> &str {
        &self.input.name
    }

    pub(crate) fn rpm_arch(&self) -> &'static str {
        self.rpm_arch
    }
}

/// Reads `input`'s layout: the index, the one manifest it names (by tag, or the only one),
/// its configuration for the architecture. Layers are checked while they are copied.
pub(crate) fn check_image(input: &ImageInput) -> Result<CheckedImage<'_>, ComposeError> {
    let bad = |problem: String| ComposeError::Image {
        name: input.name.clone(),
        layout: input.layout.clone(),
        problem,
    };
    check_image_name(&input.name).map_err(&bad)?;
    let marker_path = input.layout.join("oci-layout");
    let layout_marker = match fs_err::read(&marker_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && input.layout.is_dir() => {
            return Err(bad(
                "it is not an OCI image layout: it has no `oci-layout` file".into(),
            ));
        }
        Err(e) => return Err(ComposeError::io("reading", &marker_path)(e)),
    };
    let marker: Value = serde_json::from_slice(&layout_marker)
        .map_err(|e| bad(format!("`oci-layout` is not JSON: {e}")))?;
    if marker["imageLayoutVersion"] != "1.0.0" {
        return Err(bad(format!(
            "`oci-layout` says {marker}, expected imageLayoutVersion 1.0.0"
        )));
    }
    let index: Value = serde_json::from_slice(&read(&input.layout.join("index.json"))?)
        .map_err(|e| bad(format!("`index.json` is not JSON: {e}")))?;
    let descriptor = choose_manifest(&index, input.tag.as_deref()).map_err(&bad)?;
    let (manifest_digest, manifest_size) = descriptor_digest(&descriptor).map_err(&bad)?;
    let manifest = read_blob(&input.layout, manifest_digest, manifest_size).map_err(&bad)?;
    let manifest_json: Value = serde_json::from_slice(&manifest)
        .map_err(|e| bad(format!("manifest {manifest_digest} is not JSON: {e}")))?;
    let config = descriptor_digest(&manifest_json["config"])
        .map_err(|problem| bad(format!("the manifest's config: {problem}")))?;
    let mut blobs = vec![config];
    for layer in manifest_json["layers"].as_array().into_iter().flatten() {
        blobs.push(descriptor_digest(layer).map_err(|p| bad(format!("a layer: {p}")))?);
    }
    let config_json: Value =
        serde_json::from_slice(&read_blob(&input.layout, config.0, config.1).map_err(&bad)?)
            .map_err(|e| bad(format!("config {} is not JSON: {e}", config.0)))?;
    let architecture = config_json["architecture"].as_str().unwrap_or_default();
    let variant = config_json["variant"].as_str();
    let rpm_arch = arch::rpm_of_oci(architecture, variant).ok_or_else(|| {
        bad(format!(
            "its architecture `{architecture}` has no RPM name (known: amd64, arm64, arm, 386, ppc64le, ppc64, s390x, riscv64, mips64le, loong64)"
        ))
    })?;
    Ok(CheckedImage {
        input,
        layout_marker,
        descriptor,
        manifest,
        manifest_digest,
        blobs,
        rpm_arch,
    })
}

/// Copies the image to `dir` (its directory in the compose being written), and its
/// signed form beside it when it has signatures; `published` is where `dir` will be.
pub(crate) fn write_image(
    image: &CheckedImage<'_>,
    dir: &Path,
    published: &Path,
) -> Result<WrittenImage, ComposeError> {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [image.descriptor],
    });
    let index = serde_json::to_vec_pretty(&index).map_err(|e| ComposeError::Render {
        what: "an image's index.json",
        problem: e.to_string(),
    })?;
    write_file(&dir.join("oci-layout"), &image.layout_marker)?;
    write_file(&dir.join("index.json"), &index)?;
    let blobs = dir.join("blobs").join("sha256");
    write_file(&blobs.join(image.manifest_digest.hex()), &image.manifest)?;
    let mut size = (image.layout_marker.len() + index.len() + image.manifest.len()) as u64;
    for (digest, expected_size) in &image.blobs {
        let source = blob_path(&image.input.layout, *digest);
        let (copied, copied_size) = copy_hashed(&source, &blobs.join(digest.hex()))?;
        if copied != *digest || copied_size != *expected_size {
            return Err(bad_image(
                image,
                format!(
                    "blob {digest} ({expected_size} bytes) holds {copied} ({copied_size} bytes): the layout is damaged"
                ),
            ));
        }
        size += copied_size;
    }
    let signed = if image.input.signatures.is_empty() {
        None
    } else {
        let signed_name = format!("{}.signed", image.input.name);
        let signed_dir = dir.with_file_name(&signed_name);
        write_signed(image, &blobs, &signed_dir)?;
        Some(published.with_file_name(signed_name))
    };
    Ok(WrittenImage {
        name: image.input.name.clone(),
        layout: published.to_owned(),
        signed,
        manifest_digest: image.manifest_digest,
        architecture: image.rpm_arch.to_owned(),
        size,
    })
}

/// The containers `dir:` form: `version`, `manifest.json`, each blob named by its hex
/// digest (linked to the layout's copy), `signature-1`, `signature-2`, …
fn write_signed(image: &CheckedImage<'_>, blobs: &Path, dir: &Path) -> Result<(), ComposeError> {
    write_file(&dir.join("version"), DIR_VERSION.as_bytes())?;
    write_file(&dir.join("manifest.json"), &image.manifest)?;
    for (digest, _) in &image.blobs {
        link_or_copy(&blobs.join(digest.hex()), &dir.join(digest.hex()))?;
    }
    for (n, signature) in image.input.signatures.iter().enumerate() {
        write_file(&dir.join(format!("signature-{}", n + 1)), signature)?;
    }
    Ok(())
}

fn bad_image(image: &CheckedImage<'_>, problem: String) -> ComposeError {
    ComposeError::Image {
        name: image.input.name.clone(),
        layout: image.input.layout.clone(),
        problem,
    }
}

fn check_image_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && !name.ends_with(".signed");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an image name for a compose: expected lowercase letters, digits, `.`, `_`, `-`, starting with a letter or digit"
        ))
    }
}

/// The descriptor of the image asked for: by its tag, or the index's only one.
fn choose_manifest(index: &Value, tag: Option<&str>) -> Result<Value, String> {
    let manifests = index["manifests"]
        .as_array()
        .ok_or("`index.json` has no `manifests` list")?;
    let tag_of = |d: &Value| d["annotations"][REF_NAME].as_str().map(str::to_owned);
    let chosen = match tag {
        Some(tag) => manifests.iter().find(|d| tag_of(d).as_deref() == Some(tag)),
        None if manifests.len() == 1 => manifests.first(),
        None => None,
    };
    let Some(chosen) = chosen else {
        let tags: Vec<String> = manifests.iter().filter_map(tag_of).collect();
        return Err(match tag {
            Some(tag) => format!("`index.json` has no image tagged `{tag}` (tags: {tags:?})"),
            None => format!(
                "`index.json` holds {} images: say which by its tag (tags: {tags:?})",
                manifests.len()
            ),
        });
    };
    let media_type = chosen["mediaType"].as_str().unwrap_or_default();
    if media_type != MEDIA_MANIFEST && media_type != MEDIA_DOCKER_MANIFEST {
        return Err(format!(
            "the image's descriptor has media type `{media_type}`; expected one image manifest (`{MEDIA_MANIFEST}`): multi-architecture indexes are not published yet"
        ));
    }
    Ok(chosen.clone())
}

/// A descriptor's sha256 digest and size.
fn descriptor_digest(descriptor: &Value) -> Result<(Digest, u64), String> {
    let text = descriptor["digest"].as_str().unwrap_or_default();
    let digest: Digest = text
        .parse()
        .map_err(|_| format!("digest `{text}` is not `sha256:` and 64 lowercase hex digits"))?;
    let size = descriptor["size"]
        .as_u64()
        .ok_or_else(|| format!("descriptor of {digest} has no size"))?;
    Ok((digest, size))
}

fn blob_path(layout: &Path, digest: Digest) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.hex())
}

/// A small blob (a manifest, a config), checked against its descriptor.
fn read_blob(layout: &Path, digest: Digest, size: u64) -> Result<Vec<u8>, String> {
    let path = blob_path(layout, digest);
    let bytes = fs_err::read(&path).map_err(|e| e.to_string())?;
    let actual = Digest::of(&bytes);
    if actual != digest || bytes.len() as u64 != size {
        return Err(format!(
            "blob {digest} ({size} bytes) holds {actual} ({} bytes): the layout is damaged",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn read(path: &Path) -> Result<Vec<u8>, ComposeError> {
    fs_err::read(path).map_err(ComposeError::io("reading", path))
}
