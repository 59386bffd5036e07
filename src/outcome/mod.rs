//! What each command concluded, as typed values: the layer between the commands, which decide,
//! and [`crate::present`], which tells people.
//!
//! One submodule per command (or family of commands). An outcome holds data only: statuses,
//! commits, changes, notices, links. It never holds text meant for a reader, and it knows
//! nothing of output formats. Its `Serialize` shape is what `--output json` prints, so a
//! field renamed here is a change of ferry's JSON contract.
//!
//! Commands depend on this module; so does [`crate::present`]; this module depends on neither.

pub mod bump;
pub mod check;
pub mod history;
pub mod merge;
pub mod missing;
pub mod preview;
pub mod promotion;
pub mod rollback;
pub mod set_image;
pub mod status;
pub mod wait;
