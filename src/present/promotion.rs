//! How a promotion is told: its text, its step summary and CI outputs, and the description of
//! its change request.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ci::{self, Context, Outputs};
use crate::clock::Time;
use crate::config::Duration;
use crate::forge::ForgeKind;
use crate::inventory::short_tag;
use crate::outcome::promotion::{Promotion, Row, Skipped, Status, Step};
use crate::render;
use crate::render::RenderError;
use crate::repo_url::RepoUrl;
use crate::report::{self, Output};

use super::markdown::cell;
use super::merge::item_text;

/// What a promotion read, checked and did, in words.
#[must_use]
pub fn text(promotion: &Promotion) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Promotion {} → {} (source at {}):",
        promotion.from,
        promotion.to,
        short_commit(&promotion.source_commit)
    );
    for row in &promotion.images {
        let _ = writeln!(
            text,
            "  {}: {} → {}",
            row.image,
            row.current.as_deref().unwrap_or("-"),
            row.new
        );
    }
    for s in &promotion.skipped {
        let _ = writeln!(text, "  skipped {}: {}", s.image, s.reason);
    }
    for gate in &promotion.gates {
        let _ = writeln!(
            text,
            "  gate {} {}: {}",
            gate.gate,
            if gate.met { "met" } else { "NOT met" },
            gate.detail
        );
    }
    match &promotion.step {
        Step::NothingToPromote { no_open_promotion } => {
            let _ = writeln!(
                text,
                "Nothing to promote: `{}` already runs what `{}` runs.",
                promotion.to, promotion.from
            );
            if *no_open_promotion {
                let _ = writeln!(
                    text,
                    "No open promotion into `{}`: nothing to merge.",
                    promotion.to
                );
            }
        }
        Step::GatesUnmet => {
            let _ = writeln!(
                text,
                "Waiting: not every gate is met; nothing was pushed or opened. Rerun later."
            );
        }
        Step::Bumped { summary } => {
            let _ = writeln!(text, "{summary}");
        }
    }
    let merged = promotion
        .change_request
        .as_ref()
        .and_then(|c| c.merge.as_ref());
    if let (Some(item), Some(words)) = (merged, promotion.words) {
        text.push_str(&item_text(item, words));
    }
    text
}

/// Prints the promotion (text or JSON).
pub fn emit(promotion: &Promotion, output: Output) -> std::io::Result<()> {
    report::emit(output, promotion, &text(promotion))
}

/// Publishes the CI's outputs and step summary.
pub fn publish(promotion: &Promotion) -> Result<(), RenderError> {
    let mut outputs = Outputs::default();
    outputs
        .set("status", promotion.status.as_str())
        .set(
            "changed",
            matches!(
                promotion.status,
                Status::Promoted | Status::Proposed | Status::Merged
            )
            .to_string(),
        )
        .set("commit-sha", promotion.commit.clone().unwrap_or_default())
        .set(
            "pr-number",
            promotion
                .change_request
                .as_ref()
                .map(|c| c.number.to_string())
                .unwrap_or_default(),
        )
        .set(
            "pr-url",
            promotion
                .change_request
                .as_ref()
                .map(|c| c.url.clone())
                .unwrap_or_default(),
        )
        .set(
            "promoted",
            promotion
                .images
                .iter()
                .map(|r| format!("{}={}", r.image, r.new))
                .collect::<Vec<_>>()
                .join(" "),
        );
    outputs.summary = summary(promotion)?;
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    Ok(())
}

/// The built-in description of a promotion's change request.
pub const BODY: &str = include_str!("../../templates/promotion-body.md.tera");

/// The built-in step summary of `ferry promote`.
pub const SUMMARY: &str = include_str!("../../templates/promote-summary.md.tera");

/// The step summary: the images and the gates.
pub fn summary(promotion: &Promotion) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Image<'a> {
        image: &'a str,
        current: &'a str,
        new: &'a str,
    }
    let images: Vec<Image<'_>> = promotion
        .images
        .iter()
        .map(|row| Image {
            image: &row.image,
            current: row.current.as_deref().unwrap_or("-"),
            new: &row.new,
        })
        .collect();
    let context = serde_json::json!({
        "from": promotion.from,
        "to": promotion.to,
        "rows": images,
        "gates": promotion.gates,
    });
    render::template_text("built-in promote step summary", SUMMARY, &context)
}

/// The promotion's description: a table of what moves, and where it comes from.
pub fn body(promotion: &Promotion, now: Time) -> Result<String, RenderError> {
    #[derive(Serialize)]
    struct Line {
        image: String,
        current: String,
        new: String,
        commits: String,
        since: String,
    }
    let rows: Vec<Line> = promotion
        .images
        .iter()
        .map(|row| Line {
            image: cell(&row.image),
            current: cell(
                &row.current
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_tag),
            ),
            new: cell(&short_tag(&row.new)),
            commits: commits(row),
            since: since(row, now),
        })
        .collect();
    let skipped: Vec<Skipped> = promotion
        .skipped
        .iter()
        .map(|s| Skipped {
            image: s.image.clone(),
            reason: s.reason.replace('`', "'"),
        })
        .collect();
    let context = serde_json::json!({
        "from": promotion.from,
        "to": promotion.to,
        "from_path": promotion.from_path,
        "source_commit": short_commit(&promotion.source_commit),
        "from_cell": cell(&promotion.from),
        "to_cell": cell(&promotion.to),
        "rows": rows,
        "skipped": skipped,
    });
    render::template_text("built-in promotion description", BODY, &context)
}

/// The application commits a row brings: a compare link, else a link to the new commit.
fn commits(row: &Row) -> String {
    match (&row.compare_url, &row.app_to, &row.app_repo) {
        (Some(url), _, _) => format!(
            "[{}…{}]({url})",
            short_tag(row.app_from.as_deref().unwrap_or_default()),
            short_tag(row.app_to.as_deref().unwrap_or_default())
        ),
        (None, Some(to), Some(repo)) => {
            match RepoUrl::parse(repo)
                .ok()
                .and_then(|(url, _)| ForgeKind::guess(&url).commit_url(&url, to))
            {
                Some(link) => format!("[{}]({link})", short_tag(to)),
                None => short_tag(to),
            }
        }
        _ => "—".to_owned(),
    }
}

/// Since when a row's version is in the source, and how long ago that is.
fn since(row: &Row, now: Time) -> String {
    match row.since {
        Some(since) => format!(
            "{}{since} ({} ago)",
            if row.since_cut { "before " } else { "" },
            Duration::from_secs(since.until(now).as_secs())
        ),
        None => "unknown".to_owned(),
    }
}

/// The first 12 characters of a commit id.
fn short_commit(commit: &str) -> &str {
    &commit[..12.min(commit.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::merge::{self, Item};
    use crate::outcome::promotion::{ChangeRequest, Gate, Row, Skipped};

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn row(image: &str, current: Option<&str>, new: &str) -> Row {
        Row {
            image: image.to_owned(),
            current: current.map(str::to_owned),
            new: new.to_owned(),
            since: None,
            since_cut: false,
            source_commit: None,
            app_repo: None,
            app_from: None,
            app_to: None,
            compare_url: None,
        }
    }

    /// Three images (a compare link, a commit link, nothing known), two left out, two gates.
    fn promotion() -> Promotion {
        let compared = Row {
            since: Some(Time::from_unix(1_704_067_200)),
            app_repo: Some("https://github.com/acme/cart".to_owned()),
            app_from: Some("1111111".to_owned()),
            app_to: Some("aaaaaaa".to_owned()),
            compare_url: Some("https://github.com/acme/cart/compare/1111111...aaaaaaa".to_owned()),
            ..row("ghcr.io/acme/cart", Some("1111111"), "aaaaaaa")
        };
        let linked = Row {
            since: Some(Time::from_unix(1_704_060_000)),
            since_cut: true,
            app_repo: Some("https://gitlab.example.com/acme/web".to_owned()),
            app_to: Some(COMMIT.to_owned()),
            ..row("ghcr.io/acme/web", None, &format!("{COMMIT}@sha256:abc"))
        };
        let unknown = row("ghcr.io/acme/odd|name", Some("v1"), "v2");
        Promotion {
            status: Status::Proposed,
            from: "staging".to_owned(),
            to: "prod|eu".to_owned(),
            source_commit: COMMIT.to_owned(),
            images: vec![compared, linked, unknown],
            skipped: vec![
                Skipped {
                    image: "ghcr.io/acme/canary".to_owned(),
                    reason: "only in `staging`: `prod|eu` does not reference it".to_owned(),
                },
                Skipped {
                    image: "ghcr.io/acme/db".to_owned(),
                    reason: "only in `prod|eu`".to_owned(),
                },
            ],
            gates: vec![
                Gate {
                    gate: "window".to_owned(),
                    met: true,
                    detail: "2024-01-01T10:00:00Z is inside `Mon-Fri 09:00-17:00 UTC`".to_owned(),
                    url: None,
                },
                Gate {
                    gate: "min-age 1h ghcr.io/acme/cart".to_owned(),
                    met: false,
                    detail: "aaaaaaa has been in `staging` 10m; 50m to go".to_owned(),
                    url: None,
                },
            ],
            commit: Some(COMMIT.to_owned()),
            change_request: Some(ChangeRequest {
                number: 7,
                url: "https://github.com/acme/envs/pull/7".to_owned(),
                head_branch: "ferry/prod/promotion".to_owned(),
                merge: Some(Item {
                    number: 7,
                    url: "https://github.com/acme/envs/pull/7".to_owned(),
                    status: merge::Status::Waiting,
                    head_sha: COMMIT.to_owned(),
                    merge_sha: None,
                    missing: vec!["1 approval".to_owned()],
                }),
            }),
            from_path: "envs/staging".to_owned(),
            step: Step::Bumped {
                summary: "Proposed pull request #7.".to_owned(),
            },
            words: Some(ForgeKind::GitHub.words()),
            exit: crate::exit::Exit::Waiting,
        }
    }

    #[test]
    fn the_description_tables_what_moves_and_where_it_comes_from() {
        let now = Time::from_unix(1_704_067_200 + 5400);
        let shown = body(&promotion(), now).unwrap();
        // insta ignores a trailing line break: the description has none.
        assert!(shown.ends_with("not duplicated."), "{shown:?}");
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn the_description_of_one_image_with_nothing_left_out() {
        let mut promotion = promotion();
        promotion.images.truncate(1);
        promotion.skipped.clear();
        let now = Time::from_unix(1_704_067_200 + 60);
        insta::assert_snapshot!(body(&promotion, now).unwrap());
    }

    #[test]
    fn the_step_summary_lists_images_and_gates() {
        let shown = summary(&promotion()).unwrap();
        assert!(
            shown.ends_with("``\n") && !shown.ends_with("\n\n"),
            "{shown:?}"
        );
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn the_text_says_what_was_read_checked_and_done() {
        insta::assert_snapshot!(text(&promotion()));
        let mut nothing = promotion();
        nothing.images.clear();
        nothing.gates.clear();
        nothing.change_request = None;
        nothing.step = Step::NothingToPromote {
            no_open_promotion: true,
        };
        insta::assert_snapshot!("nothing_to_promote", text(&nothing));
        let mut waiting = promotion();
        waiting.change_request = None;
        waiting.step = Step::GatesUnmet;
        insta::assert_snapshot!("gates_unmet", text(&waiting));
    }
}
