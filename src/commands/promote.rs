//! `ferry promote`: carry what runs in one environment to the next (see `promotion` for what a
//! promotion reads, checks and writes). The command line is resolved into a
//! `PromoteRequest`, run by `execute` into an [`outcome::promotion::Promotion`], told by
//! [`present::promotion`].
//!
//! [`outcome::promotion::Promotion`]: crate::outcome::promotion::Promotion
//! [`present::promotion`]: crate::present::promotion

pub(crate) use super::promotion::{PromoteRequest, execute};
