//! Attacks on ferry (issue 16): each finding of the hardening review, tried the way an
//! attacker would against the real binary with the local git and forge servers, asserting the
//! refusal or the harmless outcome. docs/security.md names the threat each one stands for.
//!
//! - [`previews`]: names that would take over namespaces and agent objects, squatting, forged
//!   output from the previews branch, forge locations read from preview files.
//! - [`transport`]: the token bound to its host, cached repositories that redirect, stalls,
//!   temporary repositories.
//! - [`local`]: symlinks planted in a checkout, files outside the tree, contents in errors, the
//!   action's messages.
//! - [`cost`]: oversized files, duplicate keys, runaway templates.

mod cost;
mod local;
mod previews;
mod transport;
