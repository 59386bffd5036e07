//! What `ferry rollback` concluded: the image set back, and how the change went out.

use serde::Serialize;

use crate::exit::Exit;

/// A rollback, as printed with `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    /// The bump's status word (`pushed`, `proposed`, `up-to-date`, ...).
    pub status: &'static str,
    pub environment: String,
    pub image: String,
    pub from: String,
    pub to: String,
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The change request's number and web page, for a proposed rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_request: Option<(u64, String)>,
    /// The bump's result in one line.
    #[serde(skip)]
    pub summary: String,
    /// The change request's web page, when the bump has one.
    #[serde(skip)]
    pub url: Option<String>,
    #[serde(skip)]
    pub exit: Exit,
}

/// What a rollback's change request says: the facts its description is made of.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub image: String,
    pub environment: String,
    pub from: String,
    pub to: String,
    /// Why (`--reason`), on one line; empty for none.
    pub reason: String,
    pub hold: bool,
}
