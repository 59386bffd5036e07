//! `ferry status` for people: a table of images × environments (aligned text or Markdown),
//! then what is pending promotion.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::markdown::cell;
use crate::inventory::short_tag;
use crate::outcome::status::{Cell, Status};
use crate::report::{self, Output};

/// Prints `status` in the format `output` asks for.
pub fn emit(output: Output, status: &Status) -> std::io::Result<()> {
    let text = match output {
        Output::Markdown => markdown(status),
        _ => plain(status),
    };
    report::emit(output, status, &text)
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

/// The matrix as aligned columns, then what is pending.
#[must_use]
pub fn plain(status: &Status) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["IMAGE".to_owned()];
    header.extend(status.environments.iter().map(|e| e.to_uppercase()));
    rows.push(header);
    for (image, cells) in &status.images {
        let mut row = vec![image.clone()];
        for env in &status.environments {
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
    pending_lines(&mut text, status, false);
    text
}

/// The matrix as a Markdown table, then what is pending.
#[must_use]
pub fn markdown(status: &Status) -> String {
    let mut text = String::from("### Environments\n\n| Image |");
    for env in &status.environments {
        let _ = write!(text, " {} |", cell(env));
    }
    text.push_str("\n|---|");
    text.push_str(&"---|".repeat(status.environments.len()));
    text.push('\n');
    for (image, cells) in &status.images {
        let _ = write!(text, "| {} |", cell(image));
        for env in &status.environments {
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
    pending_lines(&mut text, status, true);
    text
}

fn pending_lines(text: &mut String, status: &Status, markdown: bool) {
    text.push('\n');
    if status
        .images
        .values()
        .any(|cells| cells.values().any(|c| c.cut))
    {
        text.push_str(
            "History is cut: `<` marks a version set at or before that time, past the commits read (raise --max-commits).\n\n",
        );
    }
    if status.pending.is_empty() {
        text.push_str("Nothing pending promotion.\n");
        return;
    }
    text.push_str(if markdown {
        "**Pending promotion:**\n\n"
    } else {
        "Pending promotion:\n"
    });
    let envs: BTreeSet<(&str, &str)> = status
        .pending
        .iter()
        .map(|p| (p.from.as_str(), p.to.as_str()))
        .collect();
    for (from, to) in envs {
        for p in status
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
