//! Reading a local directory for the planner: list the YAML files, then read and scan them on
//! every core. Cost follows the bytes read; files that cannot mention an image are dropped right
//! after reading.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ci::one_line;
use crate::plan::is_yaml_path;

/// A file that could not be listed, read or written, or that ferry refuses to touch.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Listing, reading or writing failed.
    #[error("{}: {source}", one_line(&path.display().to_string()))]
    Io { path: PathBuf, source: io::Error },
    /// A symbolic link whose target is outside the tree ferry works in: nothing is read
    /// through it and nothing is written.
    #[error(
        "{}: a symbolic link to `{}`, which is outside the repository ({}): ferry reads and writes only inside the repository, nothing was written\n  hint: replace the link with the file or directory itself, or make it point inside the repository",
        one_line(path),
        one_line(&target.display().to_string()),
        one_line(&tree.display().to_string())
    )]
    Outside {
        /// The link, relative to the tree's root.
        path: String,
        /// What the link holds.
        target: PathBuf,
        tree: PathBuf,
    },
    /// A YAML file whose path holds a character the one-line escaper would change (a control
    /// character such as CR or ESC, a format character): ferry cannot name it in its output
    /// without changing it, so it does not edit it either.
    #[error(
        "{}: the file's name holds a control or invisible character: ferry refuses to read or name it, nothing was written\n  hint: rename the file",
        one_line(path)
    )]
    Name { path: String },
    /// A file to replace that is a symbolic link: ferry never writes through one.
    #[error(
        "{}: is a symbolic link (to `{}`): ferry does not write through links\n  hint: replace the link with the file itself",
        one_line(&path.display().to_string()),
        one_line(&target.display().to_string())
    )]
    Link { path: PathBuf, target: PathBuf },
}

impl TreeError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
        move |source| TreeError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `dir` made absolute (against the current directory) and lexically normalized: `..` drops
/// the component before it, as the user meant it, without following links.
fn normalize(dir: &Path) -> PathBuf {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The working tree a directory given on the command line belongs to: the deepest of its
/// ancestors (itself included) that holds `.git` or `ferry.yaml`, looking only at the part of
/// the path before its first symbolic link; `dir` itself when there is none. Paths below it are
/// then resolved with [`inside`], so that a link planted in the checkout cannot take ferry out.
#[must_use]
pub fn root_of(dir: &Path) -> PathBuf {
    let normal = normalize(dir);
    let mut link_free = Vec::new();
    let mut at = PathBuf::new();
    for component in normal.components() {
        at.push(component);
        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            break;
        }
        link_free.push(at.clone());
    }
    link_free
        .into_iter()
        .rev()
        .find(|d| {
            fs::symlink_metadata(d.join(".git")).is_ok()
                || fs::symlink_metadata(d.join(crate::config::FILE_NAME)).is_ok()
        })
        .unwrap_or(normal)
}

/// `dir` relative to `root` (as [`root_of`] found it), `/`-separated; empty when `dir` is the
/// root or not below it.
#[must_use]
pub fn root_of_relative(root: &Path, dir: &Path) -> String {
    normalize(dir)
        .strip_prefix(root)
        .map(|rel| {
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

/// `rel` (a `/`-separated path relative to `root`, as [`crate::config::RelPath`] or a path
/// below the root) joined to `root`, after checking every symbolic link on the way: a link is
/// followed only when its target stays inside `root` ([`TreeError::Outside`] otherwise, also for
/// a link that cannot be resolved). The path need not exist.
pub fn inside(root: &Path, rel: &str) -> Result<PathBuf, TreeError> {
    let Ok(real_root) = fs::canonicalize(root) else {
        // No root, nothing below it to follow: the caller reports the missing path.
        return Ok(root.join(rel));
    };
    let mut at = root.to_path_buf();
    let mut shown = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        at.push(part);
        if !shown.is_empty() {
            shown.push('/');
        }
        shown.push_str(part);
        let escapes = part == ".."
            || match fs::symlink_metadata(&at) {
                Ok(meta) => meta.file_type().is_symlink() && !stays_inside(&at, &real_root),
                // Missing: nothing below can be read; the caller says so.
                Err(_) => false,
            };
        if escapes {
            return Err(TreeError::Outside {
                path: shown,
                target: fs::read_link(&at).unwrap_or_else(|_| PathBuf::from(part)),
                tree: root.to_path_buf(),
            });
        }
    }
    Ok(at)
}

/// Whether the link at `link` resolves to a path inside `real_root` (both canonical).
fn stays_inside(link: &Path, real_root: &Path) -> bool {
    fs::canonicalize(link).is_ok_and(|real| real.starts_with(real_root))
}

/// The YAML files below `dir` (a directory of the tree at `root`, resolved with [`inside`]), as
/// `/`-separated paths relative to `dir`, sorted. `.git` directories are skipped; hidden files
/// are kept (Argo CD's `.argocd-source-*.yaml`). Symbolic links are never followed: a link whose
/// target stays inside the tree (or that leads nowhere) is skipped, since what it points to is
/// read where it is, and a link to a directory or YAML file outside the tree is
/// [`TreeError::Outside`] (other links are never read, and skipped). A YAML file whose
/// path the one-line escaper would change (CR, ESC, …) is [`TreeError::Name`].
pub fn yaml_files(root: &Path, dir: &Path) -> Result<Vec<String>, TreeError> {
    let real_root = fs::canonicalize(root).map_err(TreeError::io(root))?;
    let mut out = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(TreeError::io(&dir))?;
        for entry in entries {
            let entry = entry.map_err(TreeError::io(&dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(TreeError::io(&path))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(path = %path.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_symlink() {
                // Only what the walk would read matters: a directory, or a YAML file.
                let read = fs::metadata(&path).is_ok_and(|m| m.is_dir() || is_yaml_path(&rel));
                if read && !stays_inside(&path, &real_root) {
                    return Err(TreeError::Outside {
                        path: path
                            .strip_prefix(root)
                            .map_or_else(|_| rel.clone(), |p| p.display().to_string()),
                        target: fs::read_link(&path).unwrap_or_default(),
                        tree: root.to_path_buf(),
                    });
                }
                tracing::debug!(path = %path.display(), "skipping a symbolic link");
            } else if kind.is_dir() {
                if name != ".git" {
                    dirs.push((path, rel));
                }
            } else if kind.is_file() && is_yaml_path(&rel) {
                if one_line(&rel) != rel {
                    return Err(TreeError::Name { path: rel });
                }
                out.push(rel);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Opens `path` for reading without following a link at its last component (a file listed by
/// [`yaml_files`] that became a link since).
fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// One file as [`scan`] hands it over (the planner's input type, see [`crate::plan::Content`]).
pub use crate::plan::Content;

/// Reads each of `files` (relative to `root`) and maps it with `f`, on all cores; results keep
/// the order of `files`. A file over the size limit is never loaded: `f` gets
/// [`Content::TooLarge`].
pub fn scan<T, F>(root: &Path, files: &[String], f: F) -> Result<Vec<T>, TreeError>
where
    T: Send,
    F: Fn(&str, Content<'_>) -> Option<T> + Sync,
{
    let limit = crate::plan::max_file_size();
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, T)>, TreeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    // One buffer per worker, reused: no allocation or size query per file.
                    let mut bytes = Vec::with_capacity(64 * 1024);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(rel) = files.get(i) else {
                            return Ok(out);
                        };
                        let path = root.join(rel);
                        bytes.clear();
                        let failed = |source| TreeError::Io {
                            path: path.clone(),
                            source,
                        };
                        let mut file = open_no_follow(&path).map_err(failed)?;
                        // The size from the open file's metadata, before reading: a file over
                        // the limit is never loaded (nor one that grows past it meanwhile).
                        let size = file.metadata().map_err(failed)?.len();
                        let found = if size > limit {
                            f(
                                rel,
                                Content::TooLarge {
                                    size,
                                    reader: &mut file,
                                },
                            )
                        } else {
                            (&mut file)
                                .take(limit.saturating_add(1))
                                .read_to_end(&mut bytes)
                                .map_err(failed)?;
                            if bytes.len() as u64 > limit {
                                let size = file.metadata().map_err(failed)?.len();
                                let mut reader = bytes.as_slice().chain(&mut file);
                                f(
                                    rel,
                                    Content::TooLarge {
                                        size,
                                        reader: &mut reader,
                                    },
                                )
                            } else {
                                f(rel, Content::Bytes(&bytes))
                            }
                        };
                        if let Some(t) = found {
                            out.push((i, t));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// Replaces `path` with `contents` atomically, keeping its permissions: a temporary file with
/// a random name is created exclusively (`O_CREAT|O_EXCL`, so a planted file or link of any
/// name is never opened) in the same directory, written, given the mode on its open handle,
/// synced and renamed over `path`. `path` itself must not be a symbolic link
/// ([`TreeError::Link`]): a link is never written through nor replaced.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), TreeError> {
    let err = TreeError::io(path);
    let meta = fs::symlink_metadata(path).map_err(TreeError::io(path))?;
    if meta.file_type().is_symlink() {
        return Err(TreeError::Link {
            path: path.to_path_buf(),
            target: fs::read_link(path).unwrap_or_default(),
        });
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.ferry-"))
        .tempfile_in(dir)
        .map_err(TreeError::io(path))?;
    tmp.as_file_mut()
        .write_all(contents)
        .and_then(|()| tmp.as_file().set_permissions(meta.permissions()))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(TreeError::io(path))?;
    // On failure the temporary file is removed when `tmp` drops.
    tmp.persist(path).map_err(|e| err(e.error))?;
    // The rename itself, durable.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_yaml_files_sorted_with_hidden_files_but_not_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "b/x.yml",
            "a.yaml",
            ".argocd-source-app.yaml",
            ".git/config.yaml",
            "Kustomization",
            "README.md",
            "c/d/e.yaml",
        ] {
            let path = root.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, p).unwrap();
        }
        let files = yaml_files(root, root).unwrap();
        assert_eq!(
            files,
            [
                ".argocd-source-app.yaml",
                "Kustomization",
                "a.yaml",
                "b/x.yml",
                "c/d/e.yaml"
            ]
        );
        let lens = scan(root, &files, |rel, content| match content {
            Content::Bytes(bytes) => (rel != "a.yaml").then_some(bytes.len()),
            Content::TooLarge { .. } => None,
        })
        .unwrap();
        assert_eq!(lens, [23, 13, 7, 10]);
    }

    #[test]
    fn atomic_write_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        fs::write(&p, "a").unwrap();
        write_atomic(&p, b"b").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"b");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_keeps_the_mode_and_never_writes_through_links() {
        use std::os::unix::fs::{PermissionsExt as _, symlink};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        fs::write(&p, "a").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        // A planted file with the old predictable name is neither used nor removed.
        let planted = dir
            .path()
            .join(format!(".f.yaml.ferry-{}", std::process::id()));
        fs::write(&planted, "planted").unwrap();
        write_atomic(&p, b"b").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"b");
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(fs::read(&planted).unwrap(), b"planted");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);

        let link = dir.path().join("l.yaml");
        symlink(&p, &link).unwrap();
        let err = write_atomic(&link, b"c").unwrap_err();
        assert!(matches!(err, TreeError::Link { .. }), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"b");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn links_are_followed_only_inside_the_tree() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let outside = dir.path().join("outside");
        for d in [root.join("envs/real"), outside.clone()] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(outside.join("x.yaml"), "x: 1").unwrap();
        symlink("real", root.join("envs/alias")).unwrap();
        symlink(&outside, root.join("envs/away")).unwrap();
        symlink("../../../outside/x.yaml", root.join("envs/real/x.yaml")).unwrap();
        symlink("nowhere.yaml", root.join("envs/real/dangling.yaml")).unwrap();
        fs::write(root.join("envs/real/a.yaml"), "a: 1").unwrap();

        assert_eq!(
            inside(&root, "envs/alias").unwrap(),
            root.join("envs/alias")
        );
        assert_eq!(
            inside(&root, "envs/missing/x").unwrap(),
            root.join("envs/missing/x")
        );
        let err = inside(&root, "envs/away/x.yaml").unwrap_err();
        let TreeError::Outside { path, target, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!((path.as_str(), target), ("envs/away", &outside));
        assert!(err.to_string().contains("hint: replace the link"), "{err}");
        assert!(inside(&root, "envs/../..").is_err());

        let err = yaml_files(&root, &root.join("envs/real")).unwrap_err();
        let TreeError::Outside { path, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(path, "envs/real/x.yaml");
        fs::remove_file(root.join("envs/real/x.yaml")).unwrap();
        // A link out of the tree that the walk would not read anyway is skipped.
        symlink(outside.join("x.yaml"), root.join("envs/real/README.md")).unwrap();
        // Links inside the tree, and dangling ones, are skipped; the walk never follows them.
        fs::write(root.join("envs/b.yaml"), "b: 1").unwrap();
        symlink("../b.yaml", root.join("envs/real/b.yaml")).unwrap();
        assert_eq!(
            yaml_files(&root, &root.join("envs/real")).unwrap(),
            ["a.yaml"]
        );
    }

    #[test]
    fn the_root_of_a_directory_is_the_checkout_before_any_link() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap().join("repo");
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::create_dir_all(root.join("envs/staging")).unwrap();
        let other = root.parent().unwrap().join("other");
        fs::create_dir_all(other.join(".git")).unwrap();
        symlink(&other, root.join("envs/linked")).unwrap();
        assert_eq!(root_of(&root.join("envs/staging")), root);
        assert_eq!(
            root_of_relative(&root, &root.join("envs/./staging")),
            "envs/staging"
        );
        // The other checkout's .git, reached through the link, does not count.
        assert_eq!(root_of(&root.join("envs/linked")), root);
        assert!(inside(&root, &root_of_relative(&root, &root.join("envs/linked"))).is_err());
        assert_eq!(root_of(&root.join("envs/../envs/staging")), root);
    }
}
