//! What each file of the environment said, kept across attempts: a retry reads and parses only
//! the files that changed since the previous tip.

use std::collections::{HashMap, HashSet};

use crate::git::{Entry, GitError, Store};
use crate::plan::{self, Planner, Scan};

/// What each file said, by path and blob id, across attempts: a retry reads and parses only the
/// files that changed since the previous tip. Most files do not mention the images: those are
/// kept as a compact key only (an environment of 20,000 apps has about 50,000 files).
#[derive(Default)]
pub(super) struct ScanCache {
    silent: HashSet<ScanKey>,
    found: HashMap<ScanKey, Scan>,
}

/// A file by path and blob id (equal keys, equal bytes and equal reading).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ScanKey {
    path: Box<str>,
    oid: [u8; 20],
}

impl ScanKey {
    fn of(entry: &Entry) -> ScanKey {
        let mut oid = [0u8; 20];
        let hex = entry.oid.as_bytes();
        for (i, byte) in oid.iter_mut().enumerate() {
            let digit = |at: usize| {
                hex.get(at)
                    .and_then(|d| char::from(*d).to_digit(16))
                    .unwrap_or(0) as u8
            };
            *byte = digit(2 * i) << 4 | digit(2 * i + 1);
        }
        ScanKey {
            path: entry.path.as_str().into(),
            oid,
        }
    }
}

impl ScanCache {
    /// The scans of `entries`, in their order: from the cache, or read (in parallel) and scanned.
    pub(super) fn scan(
        &mut self,
        store: &dyn Store,
        planner: &Planner,
        entries: &[Entry],
    ) -> Result<Vec<Scan>, GitError> {
        let keys: Vec<ScanKey> = entries.iter().map(ScanKey::of).collect();
        let unknown: Vec<usize> = (0..entries.len())
            .filter(|&i| !self.silent.contains(&keys[i]) && !self.found.contains_key(&keys[i]))
            .collect();
        // On a first attempt every file is unknown: read them in place.
        let copied: Vec<Entry>;
        let to_read = if unknown.len() == entries.len() {
            entries
        } else {
            copied = unknown.iter().map(|&i| entries[i].clone()).collect();
            &copied
        };
        let charts = plan::Charts::new(entries.iter().map(|e| e.path.as_str()));
        let read = std::sync::Mutex::new(Vec::new());
        store.visit_blobs(to_read, &|i, bytes| {
            let path = &to_read[i].path;
            let scan = if charts.is_source(path) {
                planner.chart_source(path, bytes)
            } else {
                planner.scan(path, bytes)
            };
            if let Some(scan) = scan {
                read.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((i, scan));
            }
        })?;
        let mut read = read
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read.sort_unstable_by_key(|(i, _)| *i);
        let mut read = read.into_iter().peekable();
        let mut unknown = unknown.iter().enumerate().peekable();
        let mut scans = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            if let Some((n, _)) = unknown.next_if(|(_, at)| **at == i) {
                match read.next_if(|(at, _)| *at == n) {
                    Some((_, scan)) => {
                        scans.push(scan.clone());
                        self.found.insert(key, scan);
                    }
                    None => {
                        self.silent.insert(key);
                    }
                }
            } else if let Some(scan) = self.found.get(&key) {
                scans.push(scan.clone());
            }
        }
        Ok(scans)
    }
}
