//! An image a plan did not find, with the closest names that are referenced: what `set-image`
//! and `bump` report (and print, see `text::missing_text`) when an image is not there.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::image::{self, ImageName};

/// An image the plan did not find, as reported.
#[derive(Debug, Serialize)]
pub(super) struct Missing {
    /// The normalized name.
    pub(super) image: String,
    /// The closest names found, normalized, best first.
    pub(super) suggestions: Vec<String>,
    /// The same names in their short form, for people.
    #[serde(skip)]
    pub(super) familiar: (String, Vec<String>),
}

/// For each missing image, the closest of the names `found`.
pub(super) fn closest_to(missing: &[ImageName], found: &BTreeSet<ImageName>) -> Vec<Missing> {
    missing
        .iter()
        .map(|m| {
            let close = image::closest(m, found, 5);
            Missing {
                image: m.to_string(),
                suggestions: close.iter().map(ToString::to_string).collect(),
                familiar: (m.familiar(), close.iter().map(|n| n.familiar()).collect()),
            }
        })
        .collect()
}
