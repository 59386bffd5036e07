//! What the CI tests share: a lookup over fixed variables (tests never touch the process
//! environment), GitHub's usual variables, and the contexts detected from them.

use std::collections::HashMap;

use super::Context;

/// A lookup over fixed pairs: tests never touch the process environment.
pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |key| map.get(key).cloned()
}

pub(super) fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}

pub(super) const GITHUB_BASE: &[(&str, &str)] = &[
    ("CI", "true"),
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_API_URL", "https://api.github.com"),
    ("GITHUB_REPOSITORY", "acme/shop"),
    ("GITHUB_RUN_ID", "9876543210"),
    ("GITHUB_RUN_NUMBER", "57"),
    ("GITHUB_RUN_ATTEMPT", "1"),
    ("GITHUB_WORKFLOW", "build"),
    (
        "GITHUB_WORKFLOW_REF",
        "acme/shop/.github/workflows/build.yml@refs/heads/main",
    ),
    ("GITHUB_ACTOR", "octocat"),
];

pub(super) fn github_env(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let mut pairs: Vec<(&str, &str)> = GITHUB_BASE.to_vec();
    pairs.extend_from_slice(extra);
    env_of(&pairs)
}

pub(super) fn github_ctx() -> Context {
    Context::detect(&github_env(&[])).expect("detected")
}

pub(super) fn gitlab_ctx() -> Context {
    Context::detect(&env_of(&[("GITLAB_CI", "true")])).expect("detected")
}
