//! `ferry wait` for people and for the CI: what the agents said, the statuses read, the CI's
//! outputs (`status`, `commit-sha`, `verdict-commit-sha`, `target-url`) and its step summary.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ci::{self, Context, Outputs};
use crate::forge::CheckState;
use crate::outcome::wait::{WaitState, Waited};
use crate::render::{self, RenderError};
use crate::report::{self, Output};
use crate::verdict;

/// The step summary's template.
pub const SUMMARY: &str = include_str!("../../templates/wait-summary.md.tera");

/// Publishes the CI outputs and step summary of `waited`, then prints it in the format
/// `output` asks for.
pub fn emit(output: Output, waited: &Waited) -> std::io::Result<()> {
    let text = text(waited);
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs(waited, &text));
    report::emit(output, waited, &text)
}

/// What the wait concluded, then a line per status read.
#[must_use]
pub fn text(waited: &Waited) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}", conclusion(waited));
    if !waited.on_branch {
        let _ = writeln!(
            text,
            "Note: {} is not among the newest {} commits of `{}`, so only its own statuses were read.",
            verdict::short(&waited.commit),
            verdict::MAX_COMMITS,
            waited.branch
        );
    }
    for check in &waited.statuses {
        let _ = writeln!(
            text,
            "  {} {}{}",
            check.name,
            match check.state {
                CheckState::Success => "success",
                CheckState::Failure => "failure",
                CheckState::Pending => "pending",
                CheckState::Neutral => "neutral",
            },
            check
                .url
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default()
        );
    }
    text
}

/// The first line: success, failure or timeout, on which commit.
fn conclusion(waited: &Waited) -> String {
    let on = waited.verdict.source(&waited.commit, &waited.branch);
    let (context, env) = (&waited.context, &waited.environment);
    match waited.state {
        WaitState::Success => format!(
            "`{context}` succeeded on {on} ({env} of `{}`).",
            waited.repo
        ),
        WaitState::Failure if waited.verdict.settled => {
            format!("`{context}` failed on {on} ({env}): the agents did not deploy it.")
        }
        WaitState::Failure => format!(
            "`{context}` failed on {on} ({env}), and the newer commits of `{}` had no verdict after {}: the agents did not deploy it.",
            waited.branch, waited.timeout
        ),
        WaitState::Timeout => format!(
            "Timed out after {} waiting for `{context}` on {}{} ({env}): {}.",
            waited.timeout,
            verdict::short(&waited.commit),
            match waited.candidates {
                0 | 1 => String::new(),
                n => format!(
                    " or the {} later commit(s) of `{}` that contain it",
                    n - 1,
                    waited.branch
                ),
            },
            match &waited.verdict.commit {
                None => "no such status was posted; check the agent's notification setup and the context name".to_owned(),
                Some(_) => format!("it is still pending on {on}"),
            }
        ),
    }
}

/// The CI's outputs, and the step summary around `text`.
fn outputs(waited: &Waited, text: &str) -> Outputs {
    let mut outputs = Outputs::default();
    outputs
        .set("status", waited.state.as_str())
        .set("commit-sha", waited.commit.clone())
        .set(
            "verdict-commit-sha",
            waited.verdict_commit.clone().unwrap_or_default(),
        )
        .set("target-url", waited.target_url.clone().unwrap_or_default());
    outputs.summary = summary(text).unwrap_or_else(|e| {
        tracing::warn!("no step summary: {e}");
        String::new()
    });
    outputs
}

/// The step summary: a heading, then `text`.
pub fn summary(text: &str) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Summary<'a> {
        text: &'a str,
    }
    render::template_text("built-in wait summary", SUMMARY, &Summary { text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration;
    use crate::forge::Check;
    use crate::verdict::Verdict;

    fn waited(state: WaitState, verdict_commit: Option<&str>, settled: bool) -> Waited {
        let statuses = vec![Check {
            name: "continuous-delivery/cart-staging".to_owned(),
            state: match state {
                WaitState::Success => CheckState::Success,
                WaitState::Failure => CheckState::Failure,
                WaitState::Timeout => CheckState::Pending,
            },
            required: false,
            url: Some("https://argocd.example.com/applications/cart-staging".to_owned()),
        }];
        Waited {
            environment: "staging".to_owned(),
            commit: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d".to_owned(),
            verdict_commit: verdict_commit.map(str::to_owned),
            context: "continuous-delivery/*".to_owned(),
            state,
            polls: 3,
            statuses: statuses.clone(),
            target_url: statuses[0].url.clone(),
            verdict: Verdict {
                state: statuses[0].state,
                settled,
                commit: verdict_commit.map(str::to_owned),
                checks: statuses,
                asked: 2,
            },
            repo: "https://github.com/acme/env.git".to_owned(),
            branch: "main".to_owned(),
            timeout: "10m".parse::<Duration>().expect("a duration"),
            candidates: 2,
            on_branch: true,
        }
    }

    #[test]
    fn the_summary_is_a_heading_then_the_text() {
        let waited = waited(
            WaitState::Success,
            Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"),
            true,
        );
        let text = text(&waited);
        insta::assert_snapshot!(summary(&text).expect("renders"));
        assert_eq!(
            summary(&text).expect("renders"),
            format!("### ferry wait\n\n{text}")
        );
    }

    #[test]
    fn each_ending_reads_as_before() {
        let all = [
            waited(
                WaitState::Failure,
                Some("1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"),
                true,
            ),
            waited(
                WaitState::Failure,
                Some("1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"),
                false,
            ),
            waited(WaitState::Timeout, None, false),
            Waited {
                on_branch: false,
                candidates: 1,
                ..waited(
                    WaitState::Timeout,
                    Some("1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"),
                    false,
                )
            },
        ];
        let text: String = all.iter().map(text).collect::<Vec<_>>().join("\n");
        insta::assert_snapshot!(text);
    }
}
