//! A promotion: carrying what runs in one environment to the next.
//!
//! Read the source environment's images (the same reader a bump edits with), keep those the
//! target also has, check the gates (statuses on the source commit, how long the tags have been
//! in the source, time windows), then hand the updates to a bump of the target with the
//! promotion's own words: one change request per target environment on a stable branch
//! (`ferry/<env>/promotion`), recomputed and updated in place when the source moves again. With
//! `--merge` it is merged once the forge says approvals and checks are in and the gates still
//! hold. A promotion's change request met by `ferry merge` is the promotion recorded in its
//! trailers, run again ([`merge_gated`]). `ferry promote` (`promote.rs`) runs one and reports it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::Parser as _;
use serde::Serialize;

use super::history::cell;
use super::merging::{self, Item};
use super::site::{self, Site};
use super::{Error, bump, change_request};
use crate::ci;
use crate::cli::{Cli, Command, MergeArgs, PromoteArgs};
use crate::clock::Time;
use crate::config::{Config, Duration, ResolvedEnvironment};
use crate::exit::Exit;
use crate::forge::{self, CheckState, Forge, ForgeKind};
use crate::git::{Store as _, Tip};
use crate::history::{self, Change, Walk};
use crate::image::{ImageName, ImageUpdate};
use crate::inventory::{Deployed, Inventory, short_tag};
use crate::render::markdown_code;
use crate::trailers;
use crate::verdict::{self, Verdict};
use crate::window::{self, Window};
use trailers::{GATE, PROMOTION};

/// The label on every promotion change request, beside `ferry` and `env:<target>`.
pub const LABEL: &str = "ferry:promotion";

/// One image promoted.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub image: String,
    /// Its version in the target now (`None`: the target sets no tag).
    pub current: Option<String>,
    /// Its version in the source: what the target gets.
    pub new: String,
    /// When it reached the source environment (a lower bound when `since_cut`).
    pub since: Option<Time>,
    pub since_cut: bool,
    /// The source environment's commit that set it.
    pub source_commit: Option<String>,
    /// The application's repository and commits, from the bumps' trailers.
    pub app_repo: Option<String>,
    pub app_from: Option<String>,
    pub app_to: Option<String>,
    pub compare_url: Option<String>,
}

/// An image not promoted, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub image: String,
    pub reason: String,
}

/// One gate and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub gate: String,
    pub met: bool,
    pub detail: String,
    /// A link (a status's target URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a promotion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Status {
    /// Pushed onto the target branch.
    Promoted,
    /// Waiting in the promotion change request.
    Proposed,
    Merged,
    UpToDate,
    DryRun,
    /// A gate is not met, or the change request is not ready to merge.
    Waiting,
    /// The bump of the target refused (hold, policy, ...): its exit code is kept.
    Refused,
}

/// What a promotion read, checked and did, as printed with `--output json`.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) status: Status,
    pub(super) from: String,
    pub(super) to: String,
    source_commit: String,
    pub(super) images: Vec<Row>,
    skipped: Vec<Skipped>,
    pub(super) gates: Vec<Gate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) change_request: Option<ChangeRequestReport>,
}

/// The promotion's change request.
#[derive(Debug, Serialize)]
pub(super) struct ChangeRequestReport {
    pub(super) number: u64,
    pub(super) url: String,
    head_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge: Option<Item>,
}

/// The environment before `to` in `promotion.order`.
pub(crate) fn predecessor(config: &Config, to: &str) -> Result<String, Error> {
    let order = config
        .promotion
        .as_ref()
        .map(|p| p.order.as_slice())
        .unwrap_or_default();
    match order.iter().position(|e| e == to) {
        Some(0) => Err(Error::Usage(format!(
            "`{}` is the first environment in promotion.order: nothing is promoted into it; pass --from",
            ci::one_line(to)
        ))),
        Some(i) => Ok(order[i - 1].clone()),
        None if order.is_empty() => Err(Error::Usage(format!(
            "pass --from: ferry.yaml has no promotion.order to find what comes before `{}`",
            ci::one_line(to)
        ))),
        None => Err(Error::Usage(format!(
            "`{}` is not in promotion.order ({}); pass --from or add it there",
            ci::one_line(to),
            order.join(", ")
        ))),
    }
}

/// What was read of both environments.
struct Reading {
    from: ResolvedEnvironment,
    to: ResolvedEnvironment,
    source_tip: Tip,
    rows: Vec<Row>,
    skipped: Vec<Skipped>,
    /// The source walk (when the tags arrived, and the commits that set them).
    walk: Walk,
}

/// Promotes (and merges with `--merge`); the report, its text and the exit code.
pub(super) fn execute(args: &PromoteArgs) -> Result<(Report, String, Exit), Error> {
    let now = args.now.unwrap_or_else(Time::now);
    let access = site::Access::of(&args.repo)?;
    let mut source = Site::open(&access)?;
    let config = source.config()?.clone();
    let from_name = match &args.from {
        Some(from) => from.clone(),
        None => predecessor(&config, &args.to)?,
    };
    if from_name == args.to && args.to_repo.is_none() {
        return Err(Error::Usage(format!(
            "--from and --to are both `{}`: promote between two environments",
            ci::one_line(&args.to)
        )));
    }
    let mut target_site = match &args.to_repo {
        Some(repo) => Some(Site::open(&access.other(repo, args.to_token.clone())?)?),
        None => None,
    };
    let reading = read(args, &mut source, target_site.as_mut(), &from_name)?;
    let gates = check_gates(args, &config, &mut source, &reading, now)?;

    let mut report = Report {
        status: Status::UpToDate,
        from: reading.from.name.clone(),
        to: reading.to.name.clone(),
        source_commit: reading.source_tip.commit.clone(),
        images: reading.rows.clone(),
        skipped: reading.skipped.clone(),
        gates: gates.clone(),
        commit: None,
        change_request: None,
    };
    let mut text = String::new();
    describe_reading(&mut text, &reading, &gates);
    let target = target_site.as_ref().unwrap_or(&source);
    let mut exit = Exit::Done;

    if reading.rows.is_empty() {
        let _ = writeln!(
            text,
            "Nothing to promote: `{}` already runs what `{}` runs.",
            reading.to.name, reading.from.name
        );
        // An open promotion may still wait for its merge.
        if args.merge {
            exit = merge_open(args, target, &reading, &gates, &mut report, &mut text)?;
        }
    } else if gates.iter().any(|g| !g.met) {
        report.status = Status::Waiting;
        exit = Exit::Waiting;
        let _ = writeln!(
            text,
            "Waiting: not every gate is met; nothing was pushed or opened. Rerun later."
        );
    } else {
        let (request, preset) = bump_args(args, &source, target, &reading, now)?;
        let executed = bump::execute(&request.with_preset(preset))?;
        let (line, proposed) = (
            crate::present::bump::one_line(&executed),
            executed.proposed(),
        );
        let _ = writeln!(text, "{line}");
        exit = executed.exit();
        report.commit.clone_from(&executed.commit);
        report.status = match (exit, proposed.is_some(), args.write.dry_run) {
            (Exit::Done, _, true) => Status::DryRun,
            (Exit::Done, true, _) => Status::Proposed,
            (Exit::Done, false, _) if executed.status.as_str() == "up-to-date" => Status::UpToDate,
            (Exit::Done, false, _) => Status::Promoted,
            _ => Status::Refused,
        };
        if let Some((number, _)) = proposed {
            let url = executed.change_request_url().unwrap_or_default();
            report.change_request = Some(ChangeRequestReport {
                number,
                url,
                head_branch: change_request::promotion_branch(&reading.to.name),
                merge: None,
            });
            if args.merge && exit == Exit::Done {
                let forge = target.forge()?;
                exit = merge_number(args, forge.as_ref(), target, number, &mut report, &mut text)?;
            }
        }
    }
    Ok((report, text, exit))
}

/// Reads both environments and pairs their images.
fn read(
    args: &PromoteArgs,
    source: &mut Site,
    mut target_site: Option<&mut Site>,
    from_name: &str,
) -> Result<Reading, Error> {
    let from = source.environment(from_name)?;
    let source_tip = source.tip_of(&from)?;
    let source_inventory = Inventory::read(&source.store, &source_tip, &from.path)?;
    let (to, target_inventory, target_tip) = {
        let target: &mut Site = match target_site.as_deref_mut() {
            Some(site) => site,
            None => &mut *source,
        };
        let to = target.environment(&args.to)?;
        let tip = target.tip_of(&to)?;
        let inventory = Inventory::read(&target.store, &tip, &to.path)?;
        (to, inventory, tip)
    };
    let wanted: Vec<ImageName> = args
        .images
        .iter()
        .map(|i| super::image_flag(i))
        .collect::<Result<_, _>>()?;
    let mut skipped = Vec::new();
    let mut pairs: Vec<(&Deployed, Option<&Deployed>)> = Vec::new();
    for name in &wanted {
        if source_inventory.get(name).is_none() {
            skipped.push(Skipped {
                image: name.to_string(),
                reason: format!("not found in `{}` ({})", from.name, from.path),
            });
        }
    }
    for (name, deployed) in &source_inventory.images {
        if !wanted.is_empty() && !wanted.iter().any(|w| w.to_string() == *name) {
            continue;
        }
        let Some(there) = target_inventory.images.get(name) else {
            skipped.push(Skipped {
                image: name.clone(),
                reason: format!(
                    "only in `{}`: `{}` does not reference it",
                    from.name, to.name
                ),
            });
            continue;
        };
        if deployed.mixed {
            skipped.push(Skipped {
                image: name.clone(),
                reason: format!(
                    "`{}` sets different tags for it ({}): make them agree first",
                    from.name,
                    deployed.places.join(", ")
                ),
            });
            continue;
        }
        if deployed.tag.is_none() && deployed.digest.is_none() {
            skipped.push(Skipped {
                image: name.clone(),
                reason: format!("`{}` sets no tag or digest for it", from.name),
            });
            continue;
        }
        if deployed.version() == there.version() && !there.mixed {
            continue;
        }
        pairs.push((deployed, Some(there)));
    }
    for name in target_inventory.images.keys() {
        if !source_inventory.images.contains_key(name)
            && (wanted.is_empty() || wanted.iter().any(|w| w.to_string() == *name))
        {
            skipped.push(Skipped {
                image: name.clone(),
                reason: format!("only in `{}`", to.name),
            });
        }
    }
    // The target's side of the commit range: the application commit its version came from.
    let names: Vec<String> = pairs.iter().map(|(d, _)| d.image.clone()).collect();
    let target_walk = {
        let target: &mut Site = match target_site {
            Some(site) => site,
            None => &mut *source,
        };
        walk_for(target, &target_tip, &to.path, &names, args.max_commits)?
    };
    let target_trailers: BTreeMap<String, Vec<(String, String)>> =
        history::latest_by_image(&target_walk)
            .into_iter()
            .map(|(image, change)| (image, change.trailers.clone()))
            .collect();
    // When did each tag reach the source, and from which application commit.
    let walk = walk_for(source, &source_tip, &from.path, &names, args.max_commits)?;
    let latest = history::latest_by_image(&walk);
    let mut rows = Vec::new();
    for (deployed, there) in pairs {
        let change: Option<&&Change> = latest.get(&deployed.image);
        let app_repo = change
            .and_then(|c| c.trailer(trailers::SOURCE_REPO))
            .map(str::to_owned)
            .filter(|r| safe_url(r));
        let app_to = change
            .and_then(|c| c.trailer(trailers::SOURCE_COMMIT))
            .map(str::to_owned)
            .or_else(|| deployed.tag.clone().filter(|t| looks_like_commit(t)));
        let app_from = target_trailers
            .get(&deployed.image)
            .and_then(|t| {
                t.iter()
                    .find(|(k, _)| k == trailers::SOURCE_COMMIT)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| {
                there
                    .and_then(|t| t.tag.clone())
                    .filter(|t| looks_like_commit(t))
            });
        let compare_url = match (&app_repo, &app_from, &app_to) {
            (Some(repo), Some(a), Some(b)) if a != b => crate::git::RepoUrl::parse(repo)
                .ok()
                .and_then(|(url, _)| ForgeKind::guess(&url).compare_url(&url, a, b)),
            _ => None,
        };
        rows.push(Row {
            image: deployed.image.clone(),
            current: there.map(Deployed::version),
            new: deployed.version(),
            since: change.map(|c| Time::from_unix(c.time)).or_else(|| {
                walk.oldest
                    .as_ref()
                    .filter(|_| walk.cut)
                    .map(|(_, t)| Time::from_unix(*t))
            }),
            since_cut: change.is_none() && walk.cut,
            source_commit: change.map(|c| c.commit.clone()),
            app_repo,
            app_from,
            app_to,
            compare_url,
        });
    }
    Ok(Reading {
        from,
        to,
        source_tip,
        rows,
        skipped,
        walk,
    })
}

/// Walks `path`'s history until every image of `names` has its latest change.
fn walk_for(
    site: &mut Site,
    tip: &Tip,
    path: &str,
    names: &[String],
    max_commits: usize,
) -> Result<Walk, Error> {
    if names.is_empty() {
        return Ok(Walk::default());
    }
    let wanted = |image: &str| names.iter().any(|n| n == image);
    let enough = |changes: &[Change]| names.iter().all(|n| changes.iter().any(|c| c.image == *n));
    Ok(history::walk(
        &mut site.store,
        tip,
        path,
        &wanted,
        max_commits,
        &enough,
    )?)
}

/// The gates of this promotion, each checked.
fn check_gates(
    args: &PromoteArgs,
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
    let statuses = if args.require_status.is_empty() {
        configured.require_status
    } else {
        args.require_status.clone()
    };
    let min_age = args.min_age.or(configured.min_age);
    let window_texts = if args.windows.is_empty() {
        configured.windows
    } else {
        args.windows.clone()
    };
    let mut gates = Vec::new();
    if reading.rows.is_empty() {
        return Ok(gates);
    }
    if !window_texts.is_empty() {
        let windows: Vec<Window> = window_texts
            .iter()
            .map(|w| {
                Window::parse(w)
                    .map_err(|e| Error::Usage(format!("time window `{}`: {e}", ci::one_line(w))))
            })
            .collect::<Result<_, _>>()?;
        let open = window::any_open(&windows, now.unix());
        let detail = if open {
            format!("{now} is inside {}", join_windows(&windows))
        } else {
            match window::next_opening(&windows, now.unix()) {
                Some(next) => format!(
                    "{now} is outside {}; next opening {}",
                    join_windows(&windows),
                    Time::from_unix(next)
                ),
                None => format!("{now} is outside {}", join_windows(&windows)),
            }
        };
        gates.push(Gate {
            gate: "window".to_owned(),
            met: open,
            detail,
            url: None,
        });
    }
    if let Some(min_age) = min_age {
        for row in &reading.rows {
            gates.push(age_gate(row, min_age, now, &reading.from.name));
        }
    }
    if !statuses.is_empty() {
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
        for context in &statuses {
            let verdict =
                verdict::judge(&candidates.commits, |c| forge.commit_statuses(c, context))?;
            gates.push(status_gate(
                context,
                &commit,
                &reading.source_tip.branch,
                &verdict,
            ));
        }
    }
    Ok(gates)
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

/// The bump that writes the promotion into the target.
fn bump_args(
    args: &PromoteArgs,
    source: &Site,
    target: &Site,
    reading: &Reading,
    now: Time,
) -> Result<(bump::Request, change_request::Preset), Error> {
    let updates: Vec<ImageUpdate> = reading
        .rows
        .iter()
        .map(|r| {
            ImageUpdate::at_version(&r.image, &r.new)
                .map_err(|e| Error::Usage(format!("{}: {e}", r.image)))
        })
        .collect::<Result<_, _>>()?;
    let from = &reading.from.name;
    let to = &reading.to.name;
    let title = match reading.rows.as_slice() {
        [one] => format!(
            "Promote {from} → {to}: {} {}",
            short_name(&one.image),
            short_tag(&one.new)
        ),
        rows => format!("Promote {from} → {to}: {} images", rows.len()),
    };
    let mut trailers = vec![
        (PROMOTION.to_owned(), format!("{from} -> {to}")),
        (
            trailers::PROMOTED_FROM.to_owned(),
            reading.source_tip.commit.clone(),
        ),
    ];
    if args.to_repo.is_some() {
        trailers.push((
            trailers::PROMOTED_FROM_REPO.to_owned(),
            source.url.to_string(),
        ));
    }
    let gates = args
        .require_status
        .iter()
        .map(|s| format!("require-status={s}"))
        .chain(args.min_age.iter().map(|d| format!("min-age={d}")))
        .chain(args.windows.iter().map(|w| format!("window={w}")));
    trailers.extend(gates.map(|g| (GATE.to_owned(), ci::one_line(&g))));
    let preset = change_request::Preset {
        head: Some(change_request::promotion_branch(to)),
        title: Some(title.clone()),
        body: Some(body(reading, now)),
        labels: vec![LABEL.to_owned(), format!("env:{to}")],
        subject: Some(format!("{to}: promote from {from}")),
        trailers,
        ..change_request::Preset::default()
    };
    let bump = bump::of_site(
        target,
        &args.write,
        Some(to.clone()),
        updates,
        args.write.via,
    )?;
    Ok((bump, preset))
}

/// The promotion's description: a table of what moves, and where it comes from.
fn body(reading: &Reading, now: Time) -> String {
    let from = &reading.from.name;
    let to = &reading.to.name;
    let mut body = format!(
        "Promotes what runs in {} to {}, as read from {} at {}.\n\n",
        markdown_code(from),
        markdown_code(to),
        markdown_code(&reading.from.path),
        markdown_code(&reading.source_tip.commit[..12.min(reading.source_tip.commit.len())]),
    );
    let _ = writeln!(
        body,
        "| Image | {} → new | Source commits | In {} since |",
        cell(to),
        cell(from)
    );
    body.push_str("|---|---|---|---|\n");
    for row in &reading.rows {
        let commits = match (&row.compare_url, &row.app_to, &row.app_repo) {
            (Some(url), _, _) => format!(
                "[{}…{}]({url})",
                short_tag(row.app_from.as_deref().unwrap_or_default()),
                short_tag(row.app_to.as_deref().unwrap_or_default())
            ),
            (None, Some(to), Some(repo)) => {
                match crate::git::RepoUrl::parse(repo)
                    .ok()
                    .and_then(|(url, _)| ForgeKind::guess(&url).commit_url(&url, to))
                {
                    Some(link) => format!("[{}]({link})", short_tag(to)),
                    None => short_tag(to),
                }
            }
            _ => "—".to_owned(),
        };
        let since = match row.since {
            Some(since) => format!(
                "{}{since} ({} ago)",
                if row.since_cut { "before " } else { "" },
                Duration::from_secs(since.until(now).as_secs())
            ),
            None => "unknown".to_owned(),
        };
        let _ = writeln!(
            body,
            "| {} | {} → {} | {commits} | {since} |",
            cell(&row.image),
            cell(
                &row.current
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_tag)
            ),
            cell(&short_tag(&row.new)),
        );
    }
    if !reading.skipped.is_empty() {
        body.push_str("\nNot promoted:\n");
        for s in &reading.skipped {
            let _ = writeln!(
                body,
                "- {}: {}",
                markdown_code(&s.image),
                s.reason.replace('`', "'")
            );
        }
    }
    let _ = write!(
        body,
        "\nThis change request is kept by ferry: when {} moves again it is recomputed and updated here, not duplicated.",
        markdown_code(from)
    );
    body
}

fn short_name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

/// Whether a tag reads as a commit id (7 to 40 hex digits).
fn looks_like_commit(tag: &str) -> bool {
    (7..=40).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a URL from a trailer may go into a link.
fn safe_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "()[]<>|`\"'".contains(c))
}

/// The compare page between two commits of an application repository: GitLab's `/-/compare/`
/// for a host that says GitLab, else GitHub's `/compare/`.
fn describe_reading(text: &mut String, reading: &Reading, gates: &[Gate]) {
    let _ = writeln!(
        text,
        "Promotion {} → {} (source at {}):",
        reading.from.name,
        reading.to.name,
        &reading.source_tip.commit[..12.min(reading.source_tip.commit.len())]
    );
    for row in &reading.rows {
        let _ = writeln!(
            text,
            "  {}: {} → {}",
            row.image,
            row.current.as_deref().unwrap_or("-"),
            row.new
        );
    }
    for s in &reading.skipped {
        let _ = writeln!(text, "  skipped {}: {}", s.image, s.reason);
    }
    for gate in gates {
        let _ = writeln!(
            text,
            "  gate {} {}: {}",
            gate.gate,
            if gate.met { "met" } else { "NOT met" },
            gate.detail
        );
    }
}

/// Merges the open promotion change request of the target, if any (`--merge` with nothing new
/// to promote).
fn merge_open(
    args: &PromoteArgs,
    target: &Site,
    reading: &Reading,
    gates: &[Gate],
    report: &mut Report,
    text: &mut String,
) -> Result<Exit, Error> {
    let forge = target.forge()?;
    let head = change_request::promotion_branch(&reading.to.name);
    let Some(open) = forge.find_open(&head, &reading.to.branch)? else {
        let _ = writeln!(
            text,
            "No open promotion into `{}`: nothing to merge.",
            reading.to.name
        );
        return Ok(Exit::Done);
    };
    if gates.iter().any(|g| !g.met) {
        report.status = Status::Waiting;
        return Ok(Exit::Waiting);
    }
    report.change_request = Some(ChangeRequestReport {
        number: open.number,
        url: open.url.clone(),
        head_branch: head,
        merge: None,
    });
    merge_number(args, forge.as_ref(), target, open.number, report, text)
}

/// Merges promotion change request `number` when the forge says it is ready.
fn merge_number(
    args: &PromoteArgs,
    forge: &dyn Forge,
    target: &Site,
    number: u64,
    report: &mut Report,
    text: &mut String,
) -> Result<Exit, Error> {
    let merge_args = MergeArgs {
        number: Some(number),
        env: None,
        repo: target.given.clone(),
        method: args.method,
        auto_merge: false,
        token: target.token(),
        forge: target.forge_args().clone(),
    };
    let item = merging::merge_one(forge, &merge_args, number)?;
    let _ = writeln!(text, "{}", merging::describe(&item, forge.words()));
    for missing in &item.missing {
        let _ = writeln!(text, "  - {missing}");
    }
    let exit = item.status.exit();
    report.status = match item.status {
        merging::Status::Merged | merging::Status::AlreadyMerged => Status::Merged,
        merging::Status::Waiting | merging::Status::AutoMerge => Status::Waiting,
        merging::Status::Closed => Status::Refused,
    };
    if let Some(cr) = report.change_request.as_mut() {
        cr.merge = Some(item);
    }
    Ok(exit)
}

/// `ferry merge` of a promotion change request: the promotion recorded in its head commit
/// (`Ferry-Promotion`, the images of its `Ferry-Update` trailers, the gates of its `Ferry-Gate`
/// trailers and `promotion.gates`) run again with `--merge`, so the gates are checked again
/// before it merges, and a source that moved on supersedes it first.
pub(crate) fn merge_gated(
    merge_args: &MergeArgs,
    cr: &forge::Readiness,
    words: forge::Words,
) -> Result<Item, Error> {
    let waiting = |missing: String| Item {
        number: cr.number,
        url: cr.url.clone(),
        status: merging::Status::Waiting,
        head_sha: cr.head_sha.clone(),
        merge_sha: None,
        missing: vec![missing],
    };
    let message = merging::head_message(merge_args, &cr.head_branch)?;
    let values = |key: &str| trailers::values(&message, key);
    let promotion = values(PROMOTION);
    let Some((from, to)) = promotion.first().and_then(|v| v.split_once(" -> ")) else {
        return Ok(waiting(format!(
            "its head commit has no `{PROMOTION}` trailer, so its gates are unknown: rerun `ferry promote --to ENV --merge`"
        )));
    };
    let mut argv: Vec<String> = vec![
        "ferry".into(),
        "promote".into(),
        format!("--from={from}"),
        format!("--to={to}"),
        "--merge".into(),
        format!(
            "--method={}",
            clap::ValueEnum::to_possible_value(&merge_args.method)
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default()
        ),
    ];
    match values(trailers::PROMOTED_FROM_REPO).first() {
        Some(source) => {
            argv.push(format!("--repo={source}"));
            argv.push(format!("--to-repo={}", merge_args.repo));
        }
        None => argv.push(format!("--repo={}", merge_args.repo)),
    }
    for update in values(trailers::UPDATE) {
        // `NAME=TAG[@DIGEST]` or `NAME@DIGEST`: no name holds '=' or '@'.
        let name = update.split(['=', '@']).next().unwrap_or_default();
        argv.push(format!("--image={name}"));
    }
    for gate in values(GATE) {
        match gate.split_once('=') {
            Some((flag @ ("require-status" | "min-age" | "window"), value)) => {
                argv.push(format!("--{flag}={value}"));
            }
            _ => {
                return Ok(waiting(format!(
                    "its head commit records a gate ferry does not know (`{GATE}: {gate}`): rerun `ferry promote --to {to} --merge`"
                )));
            }
        }
    }
    let cli = Cli::try_parse_from(&argv).map_err(|err| {
        Error::Usage(format!(
            "cannot check the gates of promotion {} {}{}: its trailers do not make a promotion: {}",
            words.change_request,
            words.sigil,
            cr.number,
            ci::one_line(&err.to_string())
        ))
    })?;
    let Command::Promote(mut promote) = cli.command else {
        unreachable!("parsed as `ferry promote`");
    };
    promote.repo.connection.token.clone_from(&merge_args.token);
    promote.to_token.clone_from(&merge_args.token);
    promote.repo.forge = merge_args.forge.clone();
    tracing::info!(
        number = cr.number,
        from,
        to,
        "checking the promotion's gates again"
    );
    let (report, text, exit) = execute(&promote)?;
    let unmet: Vec<String> = report
        .gates
        .iter()
        .filter(|g| !g.met)
        .map(|g| format!("gate {}: {}", g.gate, g.detail))
        .collect();
    if !unmet.is_empty() {
        let mut item = waiting(String::new());
        item.missing = unmet;
        return Ok(item);
    }
    match report.change_request.and_then(|c| c.merge) {
        Some(item) => Ok(item),
        None if exit == Exit::Done => Ok(waiting(format!(
            "`ferry promote --from {from} --to {to}` found nothing of it to merge: {}",
            ci::one_line(&text)
        ))),
        None => Ok(waiting(ci::one_line(&text))),
    }
}
