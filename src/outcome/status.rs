//! What `ferry status` found: the matrix of images × environments, and what is pending
//! promotion.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock::Time;

/// One image in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub version: String,
    /// When it changed to this version (a lower bound when `cut`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    pub cut: bool,
    /// The environment repository's commit that set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The application commit it was built from (`Ferry-Source-Commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
}

/// A version waiting to move from one environment to the next.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub image: String,
    pub from: String,
    pub to: String,
    pub version: String,
    pub current: String,
}

/// The environments (in promotion order), what each runs, and what is pending. Serialized as
/// `--output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub environments: Vec<String>,
    /// image → environment → cell.
    pub images: BTreeMap<String, BTreeMap<String, Cell>>,
    pub pending: Vec<Pending>,
}
