//! The built-in kinds: packages and images Factory writes itself, by a library call rather
//! than a command in the sandbox, from the trees of the inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::archive::{
    ArchiveError, OciBase, OciImageSpec, OciLayer, write_deb, write_oci_layout, write_tarball,
};
use crate::work::{Builtin, ImageAssembly, ImageBase};

/// Writes the archive of `work` into `out` from the input trees (`inputs`, by name), using
/// `staging` for what it assembles on the way. Returns a line for the build's log. Blocking.
pub fn run(
    work: &Builtin,
    inputs: &BTreeMap<String, PathBuf>,
    out: &Path,
    staging: &Path,
) -> Result<String, ArchiveError> {
    fs_err::create_dir_all(out).map_err(ArchiveError::io("creating", out))?;
    let input = |name: &str| input_tree(inputs, name);
    match work {
        Builtin::Deb {
            from,
            prefix,
            control,
            file_name,
            mtime,
        } => {
            let root = stage_under_prefix(input(from)?, prefix, staging)?;
            let digest = write_deb(&root, control, &out.join(file_name), *mtime)?;
            Ok(format!("wrote {file_name} ({digest})"))
        }
        Builtin::Tarball {
            from,
            prefix,
            file_name,
            mtime,
        } => {
            let root = stage_under_prefix(input(from)?, prefix, staging)?;
            let digest = write_tarball(&root, &out.join(file_name), *mtime)?;
            Ok(format!("wrote {file_name} ({digest})"))
        }
        Builtin::Image(image) => build_image(image, inputs, out, staging),
    }
}

/// The tree of input `name`; the dispatcher gives every input the work names, so a missing
/// one is a work item that contradicts itself.
fn input_tree<'a>(
    inputs: &'a BTreeMap<String, PathBuf>,
    name: &str,
) -> Result<&'a Path, ArchiveError> {
    inputs
        .get(name)
        .map(PathBuf::as_path)
        .ok_or_else(|| ArchiveError::Oci {
            path: PathBuf::from(name),
            problem: format!("the work names input `{name}`, which it was not given"),
        })
}

/// `tree` as it is when `prefix` is empty, else copied below `prefix` in a staging root.
fn stage_under_prefix(tree: &Path, prefix: &str, staging: &Path) -> Result<PathBuf, ArchiveError> {
    let relative = prefix.trim_matches('/');
    if relative.is_empty() {
        return Ok(tree.to_path_buf());
    }
    let root = staging.join("root");
    let target = root.join(relative);
    copy_tree(tree, &target).map_err(ArchiveError::io("copying into", &target))?;
    Ok(root)
}

fn build_image(
    work: &ImageAssembly,
    inputs: &BTreeMap<String, PathBuf>,
    out: &Path,
    staging: &Path,
) -> Result<String, ArchiveError> {
    let mut layers = Vec::new();
    for layer in &work.layers {
        let tree = input_tree(inputs, &layer.input)?;
        let root = if layer.unpack_deb {
            let dest = staging.join("layers").join(&layer.name);
            unpack_deb_data(tree, &dest)?;
            dest
        } else {
            tree.to_path_buf()
        };
        layers.push(OciLayer {
            name: layer.name.clone(),
            root,
        });
    }
    let base = match &work.base {
        None => None,
        Some(ImageBase::Input(name)) => Some(input_tree(inputs, name)?.to_path_buf()),
        Some(ImageBase::Layout(path)) => Some(path.clone()),
    };
    let spec = OciImageSpec {
        tag: "latest".into(),
        base: base.map(|layout| OciBase { layout, tag: None }),
        layers,
        architecture: work.architecture.clone(),
        os: "linux".into(),
        env: work.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        entrypoint: (!work.entrypoint.is_empty()).then(|| work.entrypoint.clone()),
        cmd: (!work.cmd.is_empty()).then(|| work.cmd.clone()),
        working_dir: None,
        labels: work.labels.clone(),
        created: work.mtime,
    };
    let info = write_oci_layout(&spec, out)?;
    Ok(format!(
        "wrote OCI image layout, manifest {} ({} layers)",
        info.manifest_digest,
        info.layers.len()
    ))
}

/// Extracts the `data.tar.*` member of the one .deb in `dir` into `dest`.
fn unpack_deb_data(dir: &Path, dest: &Path) -> Result<(), ArchiveError> {
    let deb = fs_err::read_dir(dir)
        .map_err(ArchiveError::io("reading", dir))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| ArchiveError::Oci {
            path: dir.to_path_buf(),
            problem: "the package input holds no .deb file".into(),
        })?;
    let file = fs_err::File::open(&deb).map_err(ArchiveError::io("opening", &deb))?;
    let mut archive = ar::Archive::new(file);
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(ArchiveError::io("reading", &deb))?;
        if entry.header().identifier() == b"data.tar.gz" {
            fs_err::create_dir_all(dest).map_err(ArchiveError::io("creating", dest))?;
            tar::Archive::new(flate2::read::GzDecoder::new(entry))
                .unpack(dest)
                .map_err(ArchiveError::io("unpacking data of", &deb))?;
            return Ok(());
        }
    }
    Err(ArchiveError::Oci {
        path: deb,
        problem: "no data.tar.gz member".into(),
    })
}

/// Copies the tree at `from` to `to` (created), keeping modes and symlinks.
/// Written by hand: the few calls needed are simpler than a dependency.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            fs_err::os::unix::fs::symlink(fs_err::read_link(entry.path())?, &target)?;
        } else {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
