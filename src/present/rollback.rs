//! How `ferry rollback` is told: its text, the CI's outputs and step summary, and the
//! description of its change request.

use std::fmt::Write as _;

use crate::ci::{self, Context, Outputs};
use crate::exit::Exit;
use crate::outcome::rollback::{Description, Rollback};
use crate::render::{self, RenderError};
use crate::report::{self, Output};

/// The built-in description of a rollback's change request.
pub const BODY: &str = include_str!("../../templates/rollback-body.md.tera");

/// The built-in step summary of `ferry rollback`.
pub const SUMMARY: &str = include_str!("../../templates/rollback-summary.md.tera");

/// The rollback's description (of its change request, when it goes through one).
pub fn body(rollback: &Description) -> Result<String, RenderError> {
    render::template_text("built-in rollback description", BODY, rollback)
}

/// What the rollback did, in words.
#[must_use]
pub fn text(rollback: &Rollback) -> String {
    let mut text = format!(
        "Rollback of {} in `{}`: {} → {}{}\n{}\n",
        rollback.image,
        rollback.environment,
        rollback.from,
        rollback.to,
        if rollback.held { " (and on hold)" } else { "" },
        rollback.summary
    );
    if let Some(url) = &rollback.url {
        let _ = writeln!(text, "{url}");
    }
    text
}

/// Publishes the CI's outputs and step summary.
pub fn publish(rollback: &Rollback) -> Result<(), RenderError> {
    let mut outputs = Outputs::default();
    outputs
        .set("status", rollback.status)
        .set(
            "changed",
            (rollback.exit == Exit::Done
                && rollback.status != "up-to-date"
                && rollback.status != "dry-run")
                .to_string(),
        )
        .set("commit-sha", rollback.commit.clone().unwrap_or_default())
        .set("rolled-back-to", rollback.to.clone())
        .set(
            "pr-number",
            rollback
                .change_request
                .as_ref()
                .map(|(n, _)| n.to_string())
                .unwrap_or_default(),
        )
        .set(
            "pr-url",
            rollback
                .change_request
                .as_ref()
                .map(|(_, u)| u.clone())
                .unwrap_or_default(),
        );
    outputs.summary = summary(rollback)?;
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    Ok(())
}

/// The step summary.
pub fn summary(rollback: &Rollback) -> Result<String, RenderError> {
    let context = serde_json::json!({ "text": text(rollback) });
    render::template_text("built-in rollback step summary", SUMMARY, &context)
}

/// Prints the rollback (text or JSON).
pub fn emit(rollback: &Rollback, output: Output) -> std::io::Result<()> {
    report::emit(output, rollback, &text(rollback))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(reason: &str, hold: bool) -> Description {
        Description {
            image: "ghcr.io/acme/cart".to_owned(),
            environment: "production".to_owned(),
            from: "bbbbbbb".to_owned(),
            to: "aaaaaaa@sha256:0123".to_owned(),
            reason: reason.to_owned(),
            hold,
        }
    }

    #[test]
    fn the_description_says_what_goes_back_and_why() {
        for (reason, hold) in [("", false), ("why", false), ("", true)] {
            let shown = body(&description(reason, hold)).unwrap();
            // insta ignores a trailing line break: the description ends with one.
            assert!(
                shown.ends_with('\n') && !shown.ends_with("\n\n"),
                "{shown:?}"
            );
        }
        insta::assert_snapshot!("plain", body(&description("", false)).unwrap());
        insta::assert_snapshot!(
            "reason_and_hold",
            body(&description("checkout `fails` | 500s", true)).unwrap()
        );
        insta::assert_snapshot!("hold", body(&description("", true)).unwrap());
    }

    #[test]
    fn the_step_summary_is_the_text() {
        let rollback = Rollback {
            status: "proposed",
            environment: "production".to_owned(),
            image: "ghcr.io/acme/cart".to_owned(),
            from: "bbbbbbb".to_owned(),
            to: "aaaaaaa".to_owned(),
            held: true,
            commit: Some("0123456789ab".to_owned()),
            change_request: Some((3, "https://github.com/acme/envs/pull/3".to_owned())),
            summary: "Proposed pull request #3.".to_owned(),
            url: Some("https://github.com/acme/envs/pull/3".to_owned()),
            exit: Exit::Done,
        };
        let shown = summary(&rollback).unwrap();
        assert!(shown.ends_with("pull/3\n"), "{shown:?}");
        insta::assert_snapshot!(shown);
    }
}
