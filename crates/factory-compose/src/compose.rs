//! Writing one compose: everything is checked first (packages read, image layouts and
//! module streams checked), then written under a temporary name beside where it goes,
//! synced, and renamed into place only where no compose of that id exists.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use time::OffsetDateTime;

use crate::apt::{WrittenApt, write_apt};
use crate::deb::{Deb, read_deb};
use crate::error::ComposeError;
use crate::files::{make_dir, sync_dir, sync_dirs, write_file};
use crate::id::{ComposeId, compose_date, compose_id, next_respin};
use crate::modulemd::{CheckedModule, WrittenModule, check_module};
use crate::oci::{CheckedImage, WrittenImage, check_image, write_image};
use crate::productmd::{ImageEntry, ModuleEntry, VariantContent, metadata};
use crate::request::ComposeRequest;
use crate::sign::Signer;

/// A compose as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenCompose {
    pub id: ComposeId,
    /// `ROOT/ID`: holds `compose/metadata/` and the content below `compose/VARIANT/`.
    pub path: PathBuf,
    /// The apt repository, when the compose has packages.
    pub apt: Option<WrittenApt>,
    pub images: Vec<WrittenImage>,
    pub modules: Vec<WrittenModule>,
}

/// Everything checked, nothing written yet.
struct Checked<'a> {
    debs: Vec<Deb<'a>>,
    images: Vec<CheckedImage<'a>>,
    modules: Vec<CheckedModule>,
}

/// Writes the compose of `request` as `root/ID` (productmd's id, e.g.
/// `DemoOS-1.0-20261203.0`), the apt repository signed by `signer`. Never overwrites: when
/// the id exists, [`ComposeError::Exists`] says so (and which respin is free), and
/// whatever fails, nothing is left in `root`.
pub fn write_compose(
    root: &Path,
    request: &ComposeRequest,
    signer: &dyn Signer,
) -> Result<WrittenCompose, ComposeError> {
    let id = compose_id(request)?;
    let checked = check(request)?;
    let destination = root.join(id.as_str());
    if destination.exists() {
        return Err(exists(root, request, &id, destination));
    }
    make_dir(root)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{id}."))
        .suffix(".partial")
        .tempdir_in(root)
        .map_err(ComposeError::io("creating a directory in", root))?;
    let written = fill(staging.path(), &destination, &id, request, &checked, signer)?;
    // A temporary directory is private; a published compose is for everyone to read.
    fs_err::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(ComposeError::io("publishing", staging.path()))?;
    sync_dirs(staging.path())?;
    match publish(staging.path(), &destination) {
        Ok(()) => {}
        Err(Errno::EEXIST | Errno::ENOTEMPTY) => {
            return Err(exists(root, request, &id, destination));
        }
        Err(errno) => {
            return Err(ComposeError::io("moving the compose into", &destination)(
                errno.into(),
            ));
        }
    }
    // Renamed away: nothing is left for the guard to remove.
    let _ = staging.keep();
    sync_dir(root)?;
    Ok(written)
}

/// Renames `staging` to `destination` unless something is there. Where the file system
/// cannot say "no replace" (`EINVAL`: NFS, some FUSE ones), a plain rename still never
/// replaces a compose: a directory is only ever renamed over an empty one, and a compose
/// is never empty.
fn publish(staging: &Path, destination: &Path) -> Result<(), Errno> {
    match renameat2(
        AT_FDCWD,
        staging,
        AT_FDCWD,
        destination,
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Err(Errno::EINVAL) => nix::fcntl::renameat(AT_FDCWD, staging, AT_FDCWD, destination),
        other => other,
    }
}

fn exists(root: &Path, request: &ComposeRequest, id: &ComposeId, path: PathBuf) -> ComposeError {
    ComposeError::Exists {
        id: id.to_string(),
        path,
        next_respin: next_respin(root, request).unwrap_or(request.respin + 1),
    }
}

fn check(request: &ComposeRequest) -> Result<Checked<'_>, ComposeError> {
    let variant = &request.variant;
    if variant.is_empty() || !variant.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ComposeError::invalid(
            format!("variant `{variant}`"),
            "expected letters and digits only (e.g. `Everything`)",
        ));
    }
    let mut debs = request
        .debs
        .iter()
        .map(read_deb)
        .collect::<Result<Vec<_>, _>>()?;
    debs.sort_by(|a, b| {
        (&a.package, &a.version, &a.architecture).cmp(&(&b.package, &b.version, &b.architecture))
    });
    // The same file given twice (a package shipped by two modules) is published once.
    debs.dedup_by(|a, b| a.sha256 == b.sha256);
    let images = request
        .images
        .iter()
        .map(check_image)
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = BTreeSet::new();
    if let Some(twice) = images.iter().find(|i| !names.insert(i.name())) {
        return Err(ComposeError::invalid(
            format!("image `{}`", twice.name()),
            "given twice: each image of a compose has its own name",
        ));
    }
    let modules = request
        .modules
        .iter()
        .map(|m| check_module(m, &debs))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nsvcs = BTreeSet::new();
    if let Some(twice) = modules.iter().find(|m| !nsvcs.insert(m.nsvc.as_str())) {
        return Err(ComposeError::invalid(
            format!("module stream `{}`", twice.nsvc),
            "given twice",
        ));
    }
    if debs.is_empty() && images.is_empty() {
        return Err(ComposeError::invalid(
            "the compose",
            "has neither packages nor images: there is nothing to publish",
        ));
    }
    Ok(Checked {
        debs,
        images,
        modules,
    })
}

/// Writes the content into `staging` (which becomes `destination`).
fn fill(
    staging: &Path,
    destination: &Path,
    id: &ComposeId,
    request: &ComposeRequest,
    checked: &Checked<'_>,
    signer: &dyn Signer,
) -> Result<WrittenCompose, ComposeError> {
    let created = OffsetDateTime::from(request.created);
    let variant = request.variant.as_str();
    let compose_dir = staging.join("compose");
    let mut content = VariantContent::default();
    let apt = if checked.debs.is_empty() {
        None
    } else {
        let relative = format!("{variant}/apt");
        let written = write_apt(
            &compose_dir.join(&relative),
            &destination.join("compose").join(&relative),
            &request.apt,
            &checked.debs,
            created,
            signer,
        )?;
        let arches: BTreeSet<String> = written
            .architectures
            .iter()
            .filter_map(|a| crate::arch::rpm_of_debian(a).map(str::to_owned))
            .collect();
        content.arches.extend(arches.iter().cloned());
        content.apt = Some((relative.clone(), format!("{relative}/pool"), arches));
        Some(written)
    };
    let mut images = Vec::new();
    for image in &checked.images {
        let images_dir = format!("{variant}/{}/images", image.rpm_arch());
        let relative = format!("{images_dir}/{}", image.name());
        let written = write_image(
            image,
            &compose_dir.join(&relative),
            &destination.join("compose").join(&relative),
        )?;
        content.arches.insert(written.architecture.clone());
        content
            .images
            .insert(written.architecture.clone(), images_dir);
        content.image_entries.push(ImageEntry {
            arch: written.architecture.clone(),
            path: relative,
            size: written.size,
            mtime: created.unix_timestamp(),
            sha256: written.manifest_digest.hex(),
            subvariant: written.name.clone(),
        });
        images.push(written);
    }
    let modules = write_modules(&compose_dir, destination, request, checked, &mut content)?;
    let date = compose_date(request.created);
    let files = metadata(id, request, &date, &content).map_err(|e| ComposeError::Render {
        what: "the compose's productmd metadata",
        problem: e.to_string(),
    })?;
    for (name, bytes) in files {
        write_file(&compose_dir.join("metadata").join(name), &bytes)?;
    }
    // What pungi writes at the top of a compose, which tools watching composes read.
    write_file(&staging.join("COMPOSE_ID"), format!("{id}\n").as_bytes())?;
    write_file(&staging.join("STATUS"), b"FINISHED\n")?;
    Ok(WrittenCompose {
        id: id.clone(),
        path: destination.to_owned(),
        apt,
        images,
        modules,
    })
}

/// Each module stream's document, filed under every architecture its artifacts are for
/// (all of the compose's when they are all `noarch`, or when it has none).
fn write_modules(
    compose_dir: &Path,
    destination: &Path,
    request: &ComposeRequest,
    checked: &Checked<'_>,
    content: &mut VariantContent,
) -> Result<Vec<WrittenModule>, ComposeError> {
    let mut written = Vec::new();
    for (module, input) in checked.modules.iter().zip(&request.modules) {
        let relative = format!("{}/modules/{}", request.variant, module.file_name);
        write_file(&compose_dir.join(&relative), module.document.as_bytes())?;
        let mut arches: BTreeSet<&str> = module
            .artifacts
            .iter()
            .map(|(_, arch)| *arch)
            .filter(|arch| *arch != "noarch")
            .collect();
        if arches.is_empty() {
            arches = content.arches.iter().map(String::as_str).collect();
        }
        let mut entries: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for arch in arches {
            let rpms = module
                .artifacts
                .iter()
                .filter(|(_, a)| *a == arch || *a == "noarch")
                .map(|(nevra, _)| nevra.clone())
                .collect();
            entries.insert(arch, rpms);
        }
        for (arch, rpms) in entries {
            content.module_entries.push(ModuleEntry {
                arch: arch.to_owned(),
                nsvc: module.nsvc.clone(),
                name: input.name.clone(),
                stream: input.stream.clone(),
                version: input.version.to_string(),
                context: input.context.clone(),
                path: relative.clone(),
                rpms,
            });
        }
        written.push(WrittenModule {
            nsvc: module.nsvc.clone(),
            path: destination.join("compose").join(&relative),
            artifacts: module.artifacts.iter().map(|(n, _)| n.clone()).collect(),
        });
    }
    Ok(written)
}
