//! Container image signatures in containers/image's "simple signing" form, which skopeo,
//! podman and CRI-O verify with a `signedBy` policy (`keyType: GPGKeys`).
//!
//! A signature is a signed OpenPGP message over a small JSON document naming the image by
//! its manifest digest and the identity (a docker reference) it is published under.
//! Where it is kept decides whether the tools find it: the `dir:` transport keeps
//! `signature-1`, `signature-2`, … beside `manifest.json`, and reads them back; the `oci:`
//! transport has no place for signatures at all (skopeo refuses to write one: "Pushing
//! signatures for OCI images is not supported", and reads none). So a signed image is
//! published as a `dir:` layout, which [`write_signed_image`] makes from an OCI layout.
//!
//! Since a `dir:` image has no name of its own, a policy for it names the identity it
//! expects (`signedIdentity: {"type": "exactReference", "dockerReference": …}`); see
//! `docs/signing.md`.

use std::path::{Path, PathBuf};

use factory_types::Digest;
use serde_json::{Value, json};

use crate::error::SignError;
use crate::files::{Mode, Replace, write_atomically};
use crate::signer::Signer;

/// What containers/image requires in `critical.type`.
const SIGNATURE_TYPE: &str = "atomic container signature";

/// The first line of a `dir:` layout's `version` file, as skopeo writes it.
const DIR_VERSION: &[u8] = b"Directory Transport Version: 1.1\n";

const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The JSON document an image signature signs. `timestamp` is seconds since the epoch.
pub fn signature_payload(
    docker_reference: &str,
    manifest_digest: &Digest,
    timestamp: u64,
) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": manifest_digest.to_string() },
            "type": SIGNATURE_TYPE,
        },
        "optional": {
            "creator": concat!("Factory ", env!("CARGO_PKG_VERSION")),
            "timestamp": timestamp,
        },
    });
    payload.to_string().into_bytes()
}

/// A signature, by `signer`, that the image whose manifest has `manifest_digest` is
/// `docker_reference` (e.g. `registry.example.org/demo/app:1.0`).
pub fn image_signature(
    signer: &Signer,
    docker_reference: &str,
    manifest_digest: &Digest,
) -> Result<Vec<u8>, SignError> {
    check_reference(docker_reference)?;
    let timestamp = signer
        .now()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    signer.signed_message(&signature_payload(
        docker_reference,
        manifest_digest,
        timestamp,
    ))
}

/// What [`write_signed_image`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedImage {
    /// The `dir:` layout: `skopeo copy --policy P dir:PATH …` verifies and copies it.
    pub dir: PathBuf,
    pub manifest_digest: Digest,
    pub docker_reference: String,
}

/// Writes the image `tag` of the OCI layout `layout` (or its only image, when `tag` is
/// `None`) as a signed `dir:` layout at `dest`: `manifest.json`, its blobs, `version` and
/// `signature-1`, signed by `signer` as `docker_reference`. `dest` must not exist; it
/// appears whole or not at all.
pub fn write_signed_image(
    signer: &Signer,
    layout: &Path,
    tag: Option<&str>,
    docker_reference: &str,
    dest: &Path,
) -> Result<SignedImage, SignError> {
    check_reference(docker_reference)?;
    if dest.exists() {
        return Err(SignError::WouldOverwrite {
            path: dest.to_path_buf(),
        });
    }
    let manifest = read_manifest(layout, tag)?;
    let signature = image_signature(signer, docker_reference, &manifest.digest)?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs_err::create_dir_all(parent).map_err(SignError::fs)?;
    let staging = tempfile::Builder::new()
        .prefix(".signed-image-")
        .tempdir_in(parent)
        .map_err(SignError::io("creating a directory in", parent))?;
    for blob in &manifest.blobs {
        link_or_copy(&blob_path(layout, blob), &staging.path().join(blob.hex()))?;
    }
    write_atomically(
        &staging.path().join("manifest.json"),
        &manifest.bytes,
        Mode::Public,
        Replace::No,
    )?;
    write_atomically(
        &staging.path().join("version"),
        DIR_VERSION,
        Mode::Public,
        Replace::No,
    )?;
    write_atomically(
        &staging.path().join("signature-1"),
        &signature,
        Mode::Public,
        Replace::No,
    )?;
    let staged = staging.keep();
    fs_err::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(SignError::fs)?;
    fs_err::rename(&staged, dest).map_err(SignError::fs)?;
    Ok(SignedImage {
        dir: dest.to_path_buf(),
        manifest_digest: manifest.digest,
        docker_reference: docker_reference.to_owned(),
    })
}

struct Manifest {
    bytes: Vec<u8>,
    digest: Digest,
    /// The config and the layers.
    blobs: Vec<Digest>,
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.hex())
}

/// The manifest `tag` names in the layout's `index.json`, its bytes checked against its
/// digest, and the blobs it refers to.
fn read_manifest(layout: &Path, tag: Option<&str>) -> Result<Manifest, SignError> {
    let bad = |reason: String| SignError::BadImage {
        path: layout.to_path_buf(),
        reason,
    };
    let index: Value = read_json(&layout.join("index.json"), layout)?;
    let descriptors = index["manifests"]
        .as_array()
        .ok_or_else(|| bad("index.json has no `manifests` list".into()))?;
    let descriptor = pick(descriptors, tag).map_err(&bad)?;
    if descriptor["mediaType"] == MEDIA_INDEX {
        return Err(bad(
            "the image is an index of several manifests; sign each platform's manifest".into(),
        ));
    }
    let digest = descriptor_digest(descriptor).map_err(&bad)?;
    let bytes = fs_err::read(blob_path(layout, &digest)).map_err(SignError::fs)?;
    if Digest::of(&bytes) != digest {
        return Err(bad(format!(
            "the manifest blob {digest} does not have that digest: the layout is damaged"
        )));
    }
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("the manifest {digest} is not JSON: {e}")))?;
    let mut blobs = vec![descriptor_digest(&manifest["config"]).map_err(&bad)?];
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        blobs.push(descriptor_digest(layer).map_err(&bad)?);
    }
    Ok(Manifest {
        bytes,
        digest,
        blobs,
    })
}

fn read_json(path: &Path, layout: &Path) -> Result<Value, SignError> {
    let bytes = fs_err::read(path).map_err(SignError::fs)?;
    serde_json::from_slice(&bytes).map_err(|e| SignError::BadImage {
        path: layout.to_path_buf(),
        reason: format!("{} is not JSON: {e}", path.display()),
    })
}

fn pick<'a>(descriptors: &'a [Value], tag: Option<&str>) -> Result<&'a Value, String> {
    let tags: Vec<&str> = descriptors
        .iter()
        .filter_map(|d| d["annotations"][REF_NAME].as_str())
        .collect();
    match tag {
        Some(tag) => descriptors
            .iter()
            .find(|d| d["annotations"][REF_NAME] == tag)
            .ok_or_else(|| format!("no image tagged `{tag}`; the tags are {tags:?}")),
        None if descriptors.len() == 1 => Ok(&descriptors[0]),
        None => Err(format!(
            "{} images and no tag given; the tags are {tags:?}",
            descriptors.len()
        )),
    }
}

fn descriptor_digest(descriptor: &Value) -> Result<Digest, String> {
    let text = descriptor["digest"]
        .as_str()
        .ok_or_else(|| format!("a descriptor without a digest: {descriptor}"))?;
    text.parse::<Digest>()
        .map_err(|e| format!("descriptor digest `{text}`: {e}"))
}

/// Blobs are immutable and named by digest, so a hard link is as good as a copy, and free;
/// across file systems it falls back to a copy.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), SignError> {
    if fs_err::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs_err::copy(from, to).map(drop).map_err(SignError::fs)
}

/// Checks `reference` as containers/image parses an identity: an optional registry host
/// (with a port), lower-case path components, and a tag or a digest, which the
/// `exactReference` policy a `dir:` image is verified with requires.
pub fn check_reference(reference: &str) -> Result<(), SignError> {
    reference_problem(reference).map_or(Ok(()), |reason| {
        Err(SignError::BadReference {
            reference: reference.to_owned(),
            reason,
        })
    })
}

fn reference_problem(reference: &str) -> Option<String> {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        if let Err(e) = digest.parse::<Digest>() {
            return Some(format!("`{digest}` is not a sha256 digest: {e}"));
        }
    }
    // A tag follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return Some(format!(
                "the tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
            ));
        }
    } else if digest.is_none() {
        return Some("give a tag (`NAME:TAG`) or a digest (`NAME@sha256:…`)".into());
    }
    path_problem(path)
}

fn path_problem(path: &str) -> Option<String> {
    let mut components: Vec<&str> = path.split('/').collect();
    if components.len() > 1 && is_registry(components[0]) {
        let host = components.remove(0);
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            return Some(format!("`{host}` is not a registry host"));
        }
    }
    components.iter().find(|c| !is_path_component(c)).map(|c| {
        format!(
            "the name component `{c}` must be lower-case letters and digits, separated by \
                 `.`, `_`, `__` or dashes"
        )
    })
}

/// As docker's reference grammar decides: a first component with a dot, a port or the
/// name `localhost` is a registry, not part of the repository's path.
fn is_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    // Separators between alphanumerics: one `.` or `_`, `__`, or any number of `-`.
    component
        .split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-'))
}

fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked_as_containers_image_parses_them() {
        for good in [
            "registry.example.org/demo/app:1.0",
            "localhost:5000/app:latest",
            "app:1",
            "a.b/c__d/e-f--g:v_1.2-rc",
            "quay.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(reference_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("registry.example.org/demo/app", "give a tag"),
            ("Registry/App:1", "`Registry`"),
            ("quay.io/app:-x", "the tag `-x`"),
            ("quay.io//app:1", "the name component ``"),
            ("quay.io/app@sha256:zz", "not a sha256 digest"),
            ("app_:1", "`app_`"),
        ] {
            let problem = reference_problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn the_payload_is_the_documented_shape() {
        let digest = Digest::of(b"manifest");
        let payload: Value =
            serde_json::from_slice(&signature_payload("r.example/a:1", &digest, 7)).unwrap();
        assert_eq!(payload["critical"]["type"], SIGNATURE_TYPE);
        assert_eq!(
            payload["critical"]["identity"]["docker-reference"],
            "r.example/a:1"
        );
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            digest.to_string()
        );
        assert_eq!(payload["optional"]["timestamp"], 7);
    }
}
