//! The text shared by `set-image` and `bump` is presentation: it lives in
//! [`crate::present::text`]. Re-exported here for those commands until they import it from
//! there; `missing_text` adapts their [`Missing`] images.

pub(super) use crate::present::text::{
    annotate, describe, list_changes, located, refusal_text, unified_diff,
};

use super::missing::Missing;

/// An error and a hint for each image of `missing` (see [`crate::present::text::missing_text`]).
pub(super) fn missing_text(dir: &str, files: usize, missing: &[Missing]) -> String {
    crate::present::text::missing_text(
        dir,
        files,
        missing
            .iter()
            .map(|m| (m.image.as_str(), m.familiar.1.as_slice())),
    )
}
