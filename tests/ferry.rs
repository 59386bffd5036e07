//! ferry's integration tests: one binary, helpers in `support/`.

mod bump;
mod check;
mod cli;
mod examples;
mod forge_api;
mod forge_server;
mod forges;
mod fuzz_regressions;
mod gitlab_forge;
mod golden;
mod layers;
mod pipelines;
mod previews;
mod promotion;
mod properties;
mod release;
mod security;
mod support;
mod try_it;
