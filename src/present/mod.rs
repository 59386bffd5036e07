//! How ferry tells people what a command concluded: the one presentation layer.
//!
//! Commands return typed values from [`crate::outcome`]; the functions here render them as
//! text, JSON, Markdown, step summaries, CI outputs and annotations. One submodule per command
//! (or family of commands). Long bodies (the promotion pull request's description, a
//! rollback's, the preview comment, step summaries) are tera templates in `templates/`, embedded
//! at compile time and rendered with [`crate::render::template_text`]; their tests are `insta`
//! snapshots.
//!
//! The plumbing under it is [`crate::report`] (stdout and stderr, logging, redaction) and
//! [`crate::ci`] (the CI's output files and annotations). This module depends on
//! [`crate::outcome`] and those; nothing in [`crate::commands`] is imported here, so that
//! commands may embed a rendered text (a promotion's description lists the bumps it made) without
//! a cycle.

pub mod bump;
pub mod check;
pub mod edits;
pub mod history;
pub mod markdown;
pub mod merge;
pub mod preview;
pub mod promotion;
pub mod rollback;
pub mod set_image;
pub mod status;
pub mod wait;
