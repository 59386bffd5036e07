//! The closest names that are referenced, for an image a plan did not find: what `set-image`
//! and `bump` report ([`Missing`], told by `present::edits::missing_text`) when an image is not
//! there.

use std::collections::BTreeSet;

use crate::image::{self, ImageName};
use crate::outcome::missing::Missing;

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
