//! A promotion's gates, each checked: the time windows, how long each tag has been in the
//! source, and the statuses on the source's commit.

use super::super::Error;
use super::super::site::Site;
use super::read::Reading;
use super::request::{PromoteRequest, window};
use crate::clock::Time;
use crate::config::{Config, Duration};
use crate::forge::CheckState;
use crate::git::Store as _;
use crate::inventory::short_tag;
use crate::outcome::promotion::{Gate, Row};
use crate::verdict::{self, Verdict};
use crate::window::{self as windows, Window};

/// The gates of this promotion, each checked: those of the command line, else ferry.yaml's.
pub(super) fn check(
    args: &PromoteRequest,
    config: &Config,
    source: &mut Site,
    reading: &Reading,
    now: Time,
) -> Result<Vec<Gate>, Error> {
    let configured = config
        .promotion
        .as_ref()
        .map(|p| p.gates.clone())
        .unwrap_or_default();
    let statuses = if args.gates.require_status.is_empty() {
        configured.require_status
    } else {
        args.gates.require_status.clone()
    };
    let min_age = args.gates.min_age.or(configured.min_age);
    let mut gates = Vec::new();
    if reading.rows.is_empty() {
        return Ok(gates);
    }
    let windows: Vec<Window> = if args.gates.windows.is_empty() {
        configured
            .windows
            .iter()
            .map(|w| window(w))
            .collect::<Result<_, _>>()?
    } else {
        args.gates
            .windows
            .iter()
            .map(|w| w.window.clone())
            .collect()
    };
    if !windows.is_empty() {
        gates.push(window_gate(&windows, now));
    }
    if let Some(min_age) = min_age {
        for row in &reading.rows {
            gates.push(age_gate(row, min_age, now, &reading.from.name));
        }
    }
    if !statuses.is_empty() {
        status_gates(&statuses, source, reading, &mut gates)?;
    }
    Ok(gates)
}

/// The time window gate: met inside any of `windows`.
fn window_gate(windows: &[Window], now: Time) -> Gate {
    let open = windows::any_open(windows, now.unix());
    let detail = if open {
        format!("{now} is inside {}", join_windows(windows))
    } else {
        match windows::next_opening(windows, now.unix()) {
            Some(next) => format!(
                "{now} is outside {}; next opening {}",
                join_windows(windows),
                Time::from_unix(next)
            ),
            None => format!("{now} is outside {}", join_windows(windows)),
        }
    };
    Gate {
        gate: "window".to_owned(),
        met: open,
        detail,
        url: None,
    }
}

/// The `require-status` gates: each context's verdict on the source's change.
fn status_gates(
    statuses: &[String],
    source: &mut Site,
    reading: &Reading,
    gates: &mut Vec<Gate>,
) -> Result<(), Error> {
    // The change to judge: the newest commit that changed the promoted images in the
    // source (else the source's tip). Agents post on the revision they synced, that commit
    // or a later one containing it ([`verdict`]).
    let commit = reading
        .rows
        .iter()
        .filter_map(|r| {
            reading
                .walk
                .changes
                .iter()
                .position(|c| Some(&c.commit) == r.source_commit.as_ref())
        })
        .min()
        .map_or_else(
            || reading.source_tip.commit.clone(),
            |i| reading.walk.changes[i].commit.clone(),
        );
    let history = source
        .store
        .history(&reading.source_tip, verdict::MAX_COMMITS)?;
    let candidates = verdict::candidates(&history, &commit);
    let forge = source.forge()?;
    for context in statuses {
        let verdict = verdict::judge(&candidates.commits, |c| forge.commit_statuses(c, context))?;
        gates.push(status_gate(
            context,
            &commit,
            &reading.source_tip.branch,
            &verdict,
        ));
    }
    Ok(())
}

/// The `require-status` gate for `context`, from the verdict on `commit` and the later commits
/// of `branch` that contain it.
fn status_gate(context: &str, commit: &str, branch: &str, verdict: &Verdict) -> Gate {
    let on = verdict.source(commit, branch);
    let shown = verdict
        .checks
        .iter()
        .map(|c| format!("{} {}", c.name, state_word(c.state)))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = match (verdict.state, verdict.settled) {
        (_, _) if verdict.commit.is_none() => format!(
            "no status `{context}` on {} or a later commit of `{branch}` yet",
            verdict::short(commit)
        ),
        (CheckState::Failure, false) => {
            format!("{shown} on {on}; newer commits have no verdict yet (agents retry)")
        }
        _ => format!("{shown} on {on}"),
    };
    Gate {
        gate: format!("status {context}"),
        met: verdict.state == CheckState::Success,
        detail,
        url: verdict.checks.iter().find_map(|c| c.url.clone()),
    }
}

fn age_gate(row: &Row, min_age: Duration, now: Time, from: &str) -> Gate {
    let gate = format!("min-age {min_age} {}", row.image);
    match row.since {
        Some(since) => {
            let age = Duration::from_secs(since.until(now).as_secs());
            let met = age >= min_age;
            let bound = if row.since_cut { "at least " } else { "" };
            Gate {
                gate,
                met,
                detail: format!(
                    "{} has been in `{from}` {bound}{} (since {since}){}",
                    short_tag(&row.new),
                    age,
                    if met {
                        String::new()
                    } else {
                        format!(
                            "; {} to go",
                            Duration::from_secs(min_age.as_secs() - age.as_secs())
                        )
                    }
                ),
                url: None,
            }
        }
        None => Gate {
            gate,
            met: false,
            detail: format!(
                "when {} reached `{from}` is unknown: no commit in the history read sets it (raise --max-commits)",
                short_tag(&row.new)
            ),
            url: None,
        },
    }
}

fn state_word(state: CheckState) -> &'static str {
    match state {
        CheckState::Pending => "pending",
        CheckState::Success => "success",
        CheckState::Failure => "failure",
        CheckState::Neutral => "neutral",
    }
}

fn join_windows(windows: &[Window]) -> String {
    windows
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}
