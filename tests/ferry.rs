//! ferry's integration tests: one binary, helpers in `support/`.

mod cli;
mod golden;
mod properties;
mod support;
