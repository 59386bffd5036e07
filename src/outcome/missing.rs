//! An image a plan did not find, with the closest names that are referenced: what `set-image`
//! and `bump` report when an image is not there.

use serde::Serialize;

/// An image the plan did not find, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The normalized name.
    pub image: String,
    /// The closest names found, normalized, best first.
    pub suggestions: Vec<String>,
    /// The same names in their short form, for people.
    #[serde(skip)]
    pub familiar: (String, Vec<String>),
}
