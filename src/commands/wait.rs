//! `ferry wait`: wait for the agents' verdict on an environment repository commit, a commit
//! status posted by Flux's notification-controller or Argo CD notifications. One status query
//! per poll, with a growing pause between polls, until success (exit 0), failure (13) or the
//! timeout (14). The status's target URL is printed either way.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Error;
use super::site::Site;
use crate::ci::{self, Context, Outputs};
use crate::cli::{Output, WaitArgs};
use crate::exit::Exit;
use crate::forge::{self, Check, CheckState};
use crate::history::{self, Change};
use crate::report;

/// The longest pause between polls.
const MAX_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
struct Report {
    environment: String,
    commit: String,
    context: String,
    state: &'static str,
    polls: u32,
    statuses: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
}

pub fn run(args: &WaitArgs, output: Output) -> Result<Exit, Error> {
    let mut site = Site::open(&args.repo, None)?;
    let env = site.environment(&args.env)?;
    let commit = match &args.commit {
        Some(commit) => commit.trim().to_owned(),
        None => {
            let tip = site.tip_of(&env)?;
            let walk = history::walk(
                &mut site.store,
                &tip,
                &env.path,
                &|_| true,
                200,
                &|changes: &[Change]| !changes.is_empty(),
            )?;
            walk.changes
                .first()
                .map_or_else(|| tip.commit.clone(), |c| c.commit.clone())
        }
    };
    let forge = site.forge()?;
    let started = Instant::now();
    let deadline = args.timeout.as_std();
    let mut pause = args.interval.as_std().max(Duration::from_millis(100));
    let mut polls = 0;
    let (state, checks) = loop {
        polls += 1;
        let checks = forge.commit_statuses(&commit, &args.context)?;
        let state = forge::overall(&checks);
        tracing::debug!(polls, ?state, "polled");
        if state != CheckState::Pending {
            break (state, checks);
        }
        let left = deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            break (CheckState::Pending, checks);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_INTERVAL);
    };
    let target_url = checks.iter().find_map(|c| c.url.clone());
    let short = &commit[..12.min(commit.len())];
    let mut text = String::new();
    let (word, exit) = match state {
        CheckState::Success | CheckState::Neutral => ("success", Exit::Done),
        CheckState::Failure => ("failure", Exit::Failed),
        CheckState::Pending => ("timeout", Exit::Timeout),
    };
    match exit {
        Exit::Done => {
            let _ = writeln!(
                text,
                "`{}` succeeded on {short} ({} of `{}`).",
                args.context, env.name, site.url
            );
        }
        Exit::Failed => {
            let _ = writeln!(
                text,
                "`{}` failed on {short} ({}): the agents did not deploy it.",
                args.context, env.name
            );
        }
        _ => {
            let _ = writeln!(
                text,
                "Timed out after {} waiting for `{}` on {short} ({}): {}.",
                args.timeout,
                args.context,
                env.name,
                if checks.is_empty() {
                    "no such status was posted; check the agent's notification setup and the context name".to_owned()
                } else {
                    "it is still pending".to_owned()
                }
            );
        }
    }
    for check in &checks {
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
    let mut outputs = Outputs::default();
    outputs
        .set("status", word)
        .set("commit-sha", commit.clone())
        .set("target-url", target_url.clone().unwrap_or_default());
    outputs.summary = format!("### ferry wait\n\n{text}");
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    let report = Report {
        environment: env.name,
        commit,
        context: args.context.clone(),
        state: word,
        polls,
        statuses: checks,
        target_url,
    };
    report::emit(output, &report, &text)?;
    Ok(exit)
}
