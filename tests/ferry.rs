//! ferry's integration tests: one binary, helpers in `support/`.

mod support;
