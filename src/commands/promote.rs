//! `ferry promote`: carry what runs in one environment to the next (see `promotion` for what a
//! promotion reads, checks and writes), then report it: text or JSON, and the CI's outputs and
//! step summary.

use std::fmt::Write as _;

use super::Error;
use super::promotion::{Report, Status, execute};
use crate::ci::{self, Context, Outputs};
use crate::cli::PromoteArgs;
use crate::exit::Exit;
use crate::render::markdown_code;
use crate::report::{self, Output};

pub fn run(args: &PromoteArgs, output: Output) -> Result<Exit, Error> {
    let (report, text, exit) = execute(args)?;
    publish(&report);
    report::emit(output, &report, &text)?;
    Ok(exit)
}

fn publish(report: &Report) {
    let mut outputs = Outputs::default();
    let status = match report.status {
        Status::Promoted => "promoted",
        Status::Proposed => "proposed",
        Status::Merged => "merged",
        Status::UpToDate => "up-to-date",
        Status::DryRun => "dry-run",
        Status::Waiting => "waiting",
        Status::Refused => "refused",
    };
    outputs
        .set("status", status)
        .set(
            "changed",
            matches!(
                report.status,
                Status::Promoted | Status::Proposed | Status::Merged
            )
            .to_string(),
        )
        .set("commit-sha", report.commit.clone().unwrap_or_default())
        .set(
            "pr-number",
            report
                .change_request
                .as_ref()
                .map(|c| c.number.to_string())
                .unwrap_or_default(),
        )
        .set(
            "pr-url",
            report
                .change_request
                .as_ref()
                .map(|c| c.url.clone())
                .unwrap_or_default(),
        )
        .set(
            "promoted",
            report
                .images
                .iter()
                .map(|r| format!("{}={}", r.image, r.new))
                .collect::<Vec<_>>()
                .join(" "),
        );
    let mut summary = format!("### ferry promote {} → {}\n\n", report.from, report.to);
    for row in &report.images {
        let _ = writeln!(
            summary,
            "- {}: {} → {}",
            markdown_code(&row.image),
            markdown_code(row.current.as_deref().unwrap_or("-")),
            markdown_code(&row.new)
        );
    }
    for gate in &report.gates {
        let _ = writeln!(
            summary,
            "- gate {}: {}",
            if gate.met { "✅" } else { "⏳" },
            markdown_code(&gate.detail)
        );
    }
    outputs.summary = summary;
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
}
