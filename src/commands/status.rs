//! `ferry status`: the matrix of images × environments, each cell the tag, when it changed and
//! from which source commit, and what is pending promotion (an environment running something
//! other than the one before it in `promotion.order`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::Error;
use super::history::cell;
use super::site::{self, Site};
use crate::cli::StatusArgs;
use crate::clock::Time;
use crate::exit::Exit;
use crate::history::{self, Change};
use crate::inventory::{Inventory, short_tag};
use crate::report::{self, Output};
use crate::trailers;

/// One image in one environment.
#[derive(Debug, Clone, Serialize)]
struct Cell {
    version: String,
    /// When it changed to this version (a lower bound when `cut`).
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<Time>,
    cut: bool,
    /// The environment repository's commit that set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    /// The application commit it was built from (`Ferry-Source-Commit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    source_commit: Option<String>,
}

/// A version waiting to move from one environment to the next.
#[derive(Debug, Clone, Serialize)]
struct Pending {
    image: String,
    from: String,
    to: String,
    version: String,
    current: String,
}

#[derive(Debug, Serialize)]
struct Report {
    environments: Vec<String>,
    /// image → environment → cell.
    images: BTreeMap<String, BTreeMap<String, Cell>>,
    pending: Vec<Pending>,
}

pub fn run(args: &StatusArgs, output: Output) -> Result<Exit, Error> {
    let mut site = Site::open(&site::Access::of(&args.repo)?)?;
    let config = site.config()?.clone();
    let order: Vec<String> = config
        .promotion
        .as_ref()
        .map(|p| p.order.clone())
        .unwrap_or_default();
    let mut names: Vec<String> = order.clone();
    for name in config.environment_names() {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if !args.envs.is_empty() {
        for wanted in &args.envs {
            site.environment(wanted)?;
        }
        names.retain(|n| args.envs.contains(n));
    }
    let images: Vec<String> = args
        .images
        .iter()
        .map(|i| super::image_flag(i).map(|n| n.to_string()))
        .collect::<Result<_, _>>()?;
    let mut matrix: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    for name in &names {
        let env = site.environment(name)?;
        let tip = site.tip_of(&env)?;
        let inventory = Inventory::read(&site.store, &tip, &env.path)?;
        let present: Vec<String> = inventory
            .images
            .keys()
            .filter(|i| images.is_empty() || images.contains(i))
            .cloned()
            .collect();
        let wanted = |image: &str| present.iter().any(|p| p == image);
        let enough = |changes: &[Change]| {
            present
                .iter()
                .all(|p| changes.iter().any(|c| c.image == *p))
        };
        let walk = history::walk(
            &mut site.store,
            &tip,
            &env.path,
            &wanted,
            args.max_commits,
            &enough,
        )?;
        let latest = history::latest_by_image(&walk);
        for image in &present {
            let deployed = &inventory.images[image];
            let change = latest.get(image);
            matrix.entry(image.clone()).or_default().insert(
                name.clone(),
                Cell {
                    version: deployed.version(),
                    since: change.map(|c| Time::from_unix(c.time)).or_else(|| {
                        walk.oldest
                            .as_ref()
                            .filter(|_| walk.cut)
                            .map(|(_, t)| Time::from_unix(*t))
                    }),
                    cut: change.is_none() && walk.cut,
                    commit: change.map(|c| c.commit.clone()),
                    source_commit: change
                        .and_then(|c| c.trailer(trailers::SOURCE_COMMIT))
                        .map(str::to_owned),
                },
            );
        }
    }
    let mut pending = Vec::new();
    for pair in order.windows(2) {
        let (from, to) = (&pair[0], &pair[1]);
        if !names.contains(from) || !names.contains(to) {
            continue;
        }
        for (image, cells) in &matrix {
            if let (Some(a), Some(b)) = (cells.get(from), cells.get(to))
                && a.version != b.version
            {
                pending.push(Pending {
                    image: image.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    version: a.version.clone(),
                    current: b.version.clone(),
                });
            }
        }
    }
    let report = Report {
        environments: names,
        images: matrix,
        pending,
    };
    let text = match output {
        Output::Markdown => markdown(&report),
        _ => plain(&report),
    };
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
}

fn describe(cell: &Cell) -> String {
    let mut text = short_tag(&cell.version);
    if let Some(since) = cell.since {
        let _ = write!(text, " {}{since}", if cell.cut { "<" } else { "" });
    }
    if let Some(source) = &cell.source_commit {
        let _ = write!(text, " ({})", short_tag(source));
    }
    text
}

fn plain(report: &Report) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["IMAGE".to_owned()];
    header.extend(report.environments.iter().map(|e| e.to_uppercase()));
    rows.push(header);
    for (image, cells) in &report.images {
        let mut row = vec![image.clone()];
        for env in &report.environments {
            row.push(cells.get(env).map_or_else(|| "-".to_owned(), describe));
        }
        rows.push(row);
    }
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        let _ = writeln!(text, "{}", line.join("  ").trim_end());
    }
    pending_lines(&mut text, report, false);
    text
}

fn markdown(report: &Report) -> String {
    let mut text = String::from("### Environments\n\n| Image |");
    for env in &report.environments {
        let _ = write!(text, " {} |", cell(env));
    }
    text.push_str("\n|---|");
    text.push_str(&"---|".repeat(report.environments.len()));
    text.push('\n');
    for (image, cells) in &report.images {
        let _ = write!(text, "| {} |", cell(image));
        for env in &report.environments {
            let _ = write!(
                text,
                " {} |",
                cells
                    .get(env)
                    .map_or_else(|| "—".to_owned(), |c| cell(&describe(c)))
            );
        }
        text.push('\n');
    }
    pending_lines(&mut text, report, true);
    text
}

fn pending_lines(text: &mut String, report: &Report, markdown: bool) {
    text.push('\n');
    if report
        .images
        .values()
        .any(|cells| cells.values().any(|c| c.cut))
    {
        text.push_str(
            "History is cut: `<` marks a version set at or before that time, past the commits read (raise --max-commits).\n\n",
        );
    }
    if report.pending.is_empty() {
        text.push_str("Nothing pending promotion.\n");
        return;
    }
    text.push_str(if markdown {
        "**Pending promotion:**\n\n"
    } else {
        "Pending promotion:\n"
    });
    let envs: BTreeSet<(&str, &str)> = report
        .pending
        .iter()
        .map(|p| (p.from.as_str(), p.to.as_str()))
        .collect();
    for (from, to) in envs {
        for p in report
            .pending
            .iter()
            .filter(|p| p.from == from && p.to == to)
        {
            let _ = writeln!(
                text,
                "- {from} → {to}: {} {} → {}",
                p.image,
                short_tag(&p.current),
                short_tag(&p.version)
            );
        }
    }
}
