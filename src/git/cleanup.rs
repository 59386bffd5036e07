//! Temporary repositories are removed however the run ends: on drop after a normal exit, and
//! on SIGTERM or SIGINT (a cancelled CI job) by a signal thread that removes every registered
//! directory and exits with 128 + the signal's number (143, 130), as a shell would report.
//!
//! The handler is `signal-hook`'s iterator: a safe API whose own handler only writes to a pipe,
//! the work happening on an ordinary thread (the crate denies `unsafe_code`, and removing
//! directories is not async-signal-safe, so it cannot run in the handler itself).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn dirs() -> MutexGuard<'static, Vec<PathBuf>> {
    DIRS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers a temporary directory to remove if the process is told to stop.
pub(super) fn register(dir: &Path) {
    dirs().push(dir.to_path_buf());
}

/// Forgets a directory removed the ordinary way.
pub(super) fn unregister(dir: &Path) {
    dirs().retain(|d| d != dir);
}

/// Removes every registered directory now. The registry stays locked afterwards, so that no
/// new directory is registered (and left behind) while the process exits.
pub(super) fn remove_all() {
    let mut dirs = dirs();
    for dir in dirs.drain(..) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::mem::forget(dirs);
}

/// Installs the SIGTERM/SIGINT handling. Called once, early in `main`.
///
/// # Errors
/// When the handler cannot be installed (the message says why).
pub fn install_signal_cleanup() -> Result<(), String> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install the SIGTERM/SIGINT handler: {e}"))?;
    std::thread::Builder::new()
        .name("ferry-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                remove_all();
                std::process::exit(128 + signal);
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
