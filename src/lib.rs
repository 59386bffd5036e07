//! ferry changes what a GitOps environment repository declares, safely, from a CI pipeline.
//!
//! The library is organised one module per concept:
//! - [`image`]: container image references (the Docker/OCI grammar), tags and digests;
//! - [`yaml`]: a byte-span view of YAML files, scalar quoting rules, and verified splicing;
//! - [`locate`]: where an image's tag lives in a YAML document (the supported shapes);
//! - [`plan`]: a pure plan from a tree snapshot and image updates to new file contents;
//! - [`tree`]: reading a local directory into the planner, fast;
//! - [`config`]: the environment repository's `ferry.yaml`;
//! - [`git`]: fetching, committing and pushing to the environment repository;
//! - [`forge`]: GitHub and GitLab pull/merge requests, statuses and comments, behind one trait;
//! - [`policy`]: holds and tag policies; [`stamps`]: the stale-write guard;
//! - [`preview`]: preview environments' custom resources, rendered and checked;
//! - [`render`]: templates (commit messages); [`ci`]: the CI that runs ferry, and its outputs;
//! - [`cli`] and [`commands`]: the command line and what each command does;
//! - [`outcome`]: what each command concluded, as typed values; [`present`]: how ferry tells
//!   people (text, JSON, Markdown, summaries, CI outputs), over [`report`]'s plumbing;
//! - [`report`]: text and JSON output, logging; [`slug`]: DNS-label names from untrusted text;
//! - [`inventory`]: what an environment runs; [`history`]: when it changed, from commits;
//! - [`window`]: promotion time windows; [`verdict`]: the agents' verdict on a change;
//! - [`clock`]: RFC 3339 times (preview expiry); [`exit`]: the documented exit codes;
//! - [`backoff`]: the jittered, doubling waits of every retry loop; [`trailers`]: the commit
//!   trailers ferry writes and reads.

pub mod backoff;
pub mod ci;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod exit;
pub mod forge;
pub mod git;
pub mod history;
pub mod image;
pub mod inventory;
pub mod locate;
pub mod outcome;
pub mod plan;
pub mod policy;
pub mod present;
pub mod preview;
pub mod render;
pub mod repo_url;
pub mod report;
pub mod slug;
pub mod stamps;
pub mod trailers;
pub mod tree;
pub mod verdict;
pub mod window;
pub mod yaml;
