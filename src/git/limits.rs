//! How long git may wait: a connect timeout and a stall timeout for every connection libgit2
//! opens, and an overall deadline for the command.
//!
//! The two timeouts are libgit2's own (`GIT_OPT_SET_SERVER_CONNECT_TIMEOUT`,
//! `GIT_OPT_SET_SERVER_TIMEOUT`: a socket read or write that waits longer fails with
//! `GIT_TIMEOUT`), so a server that accepts a fetch or push and then sends nothing ends the
//! operation after the stall timeout. The deadline is checked before each git operation, in
//! libgit2's progress callbacks (returning `false` aborts the transfer), bounds the forge
//! clients' request timeout, and, as a last resort for a transfer blocked where no callback
//! runs, a watchdog thread ends the process with [`crate::exit::Exit::Stalled`] a few seconds
//! after it, removing the temporary repositories first.
//!
//! [`configure`] also blanks libgit2's search path for global, XDG and system configuration:
//! only ferry's flags and environment decide where git traffic and the token go.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long git may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// A connection that neither receives nor sends anything.
    pub stall: Duration,
    /// The whole command, from [`configure`].
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(DEFAULT_CONNECT_SECS),
            stall: Duration::from_secs(DEFAULT_STALL_SECS),
            deadline: Duration::from_secs(DEFAULT_DEADLINE_SECS),
        }
    }
}

/// `--git-connect-timeout`'s default: a CI runner reaches its forge in well under this.
pub const DEFAULT_CONNECT_SECS: u64 = 30;
/// `--git-timeout`'s default: a busy forge may think for a while before answering a push.
pub const DEFAULT_STALL_SECS: u64 = 120;
/// `--deadline`'s default: longer than any healthy run, shorter than CI job timeouts (GitHub:
/// 6 h, GitLab: 1 h by default).
pub const DEFAULT_DEADLINE_SECS: u64 = 1800;

/// How long after the deadline the watchdog ends a run that the cooperative checks could not
/// stop (a transfer blocked in a socket call).
const GRACE: Duration = Duration::from_secs(2);

struct State {
    limits: Limits,
    started: Instant,
}

static STATE: OnceLock<State> = OnceLock::new();
/// What git is doing now, for the watchdog's message.
static DOING: Mutex<Option<String>> = Mutex::new(None);

/// Sets the limits for the process: libgit2's timeouts and the deadline, counted from now; then
/// starts the watchdog. Called once, first thing in `main`, before any other thread exists
/// (libgit2's options are process globals without synchronisation). Later calls change nothing.
pub fn configure(limits: Limits) {
    if STATE
        .set(State {
            limits,
            started: Instant::now(),
        })
        .is_err()
    {
        return;
    }
    let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: both only store an int in a libgit2 global; this runs before any other thread
    // (the git2 functions' stated condition), and no libgit2 call is in progress.
    #[allow(
        unsafe_code,
        reason = "git2 exposes libgit2's timeouts only as unsafe setters"
    )]
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis(limits.connect));
        let _ = git2::opts::set_server_timeout_in_milliseconds(millis(limits.stall));
        // No global, XDG or system git configuration: its `url.*.insteadOf`, `http.*` and
        // `credential.*` would change where fetch, push and the token go. Proxies come from
        // the environment (HTTPS_PROXY, NO_PROXY), which libgit2 reads without them.
        for level in [
            git2::ConfigLevel::System,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::Global,
            git2::ConfigLevel::ProgramData,
        ] {
            let _ = git2::opts::set_search_path(level, "");
        }
    }
    let _ = std::thread::Builder::new()
        .name("ferry-deadline".into())
        .spawn(move || {
            std::thread::sleep(limits.deadline + GRACE);
            let doing = current().unwrap_or_else(|| "working".to_owned());
            crate::report::diagnostics(&format!(
                "error: the command's deadline ({} s, --deadline/FERRY_DEADLINE) passed while {doing}; nothing more was sent. A push in flight either landed or not: rerun, and ferry recognises a change that landed. Raise --deadline if the run is legitimately this long, else check the git server\n",
                limits.deadline.as_secs()
            ));
            super::cleanup::remove_all();
            std::process::exit(i32::from(crate::exit::Exit::Stalled.code()));
        });
}

/// The limits in force (the defaults when [`configure`] was not called, e.g. in unit tests).
#[must_use]
pub fn limits() -> Limits {
    STATE.get().map_or_else(Limits::default, |s| s.limits)
}

/// The time left before the deadline; `None` once it has passed. Always some time when
/// [`configure`] was not called.
#[must_use]
pub fn remaining() -> Option<Duration> {
    match STATE.get() {
        None => Some(Limits::default().deadline),
        Some(state) => state.limits.deadline.checked_sub(state.started.elapsed()),
    }
}

/// Whether the deadline has passed.
#[must_use]
pub fn expired() -> bool {
    remaining().is_none_or(|left| left.is_zero())
}

/// Records what git is doing now (`None` when idle), for the watchdog's message.
pub(super) fn doing(what: Option<String>) {
    *DOING.lock().unwrap_or_else(PoisonError::into_inner) = what;
}

fn current() -> Option<String> {
    DOING.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
