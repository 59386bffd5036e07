//! Reading a local directory for the planner: list the YAML files, then read and scan them on
//! every core. Cost follows the bytes read; files that cannot mention an image are dropped right
//! after reading.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::plan::is_yaml_path;

/// A file that could not be listed or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct TreeError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The YAML files below `root`, as `/`-separated paths relative to it, sorted. `.git`
/// directories and symbolic links are skipped; hidden files are kept (Argo CD's
/// `.argocd-source-*.yaml`).
pub fn yaml_files(root: &Path) -> Result<Vec<String>, TreeError> {
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| TreeError {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| TreeError {
                path: dir.clone(),
                source,
            })?;
            let kind = entry.file_type().map_err(|source| TreeError {
                path: entry.path(),
                source,
            })?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_dir() {
                if name != ".git" {
                    dirs.push((entry.path(), rel));
                }
            } else if kind.is_file() && is_yaml_path(&rel) {
                out.push(rel);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads each of `files` (relative to `root`) and maps it with `f`, on all cores; results keep
/// the order of `files`.
pub fn scan<T, F>(root: &Path, files: &[String], f: F) -> Result<Vec<T>, TreeError>
where
    T: Send,
    F: Fn(&str, &[u8]) -> Option<T> + Sync,
{
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
                        std::fs::File::open(&path)
                            .and_then(|mut file| file.read_to_end(&mut bytes))
                            .map_err(|source| TreeError { path, source })?;
                        if let Some(t) = f(rel, &bytes) {
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

/// Replaces `path` with `contents` atomically (a temporary file in the same directory, renamed
/// over it), keeping its permissions.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), TreeError> {
    let err = |source| TreeError {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.ferry-{}", std::process::id()));
    let permissions = std::fs::metadata(path).map_err(err)?.permissions();
    std::fs::write(&tmp, contents).map_err(err)?;
    let done =
        std::fs::set_permissions(&tmp, permissions).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
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
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, p).unwrap();
        }
        let files = yaml_files(root).unwrap();
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
        let lens = scan(root, &files, |rel, bytes| {
            (rel != "a.yaml").then_some(bytes.len())
        })
        .unwrap();
        assert_eq!(lens, [23, 13, 7, 10]);
    }

    #[test]
    fn atomic_write_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        std::fs::write(&p, "a").unwrap();
        write_atomic(&p, b"b").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
