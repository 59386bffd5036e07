//! How `ferry preview up|down|list|gc` tell people what they did: the text and JSON on stdout,
//! the CI outputs and step summary, and the sticky comment on the merge request
//! (`templates/preview-comment.md.tera`).

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::ci::{self, Context, Outputs, one_line};
use crate::clock::Time;
use crate::forge::{CrState, ForgeKind};
use crate::outcome::preview::{
    DownReport, GcReport, ListReport, Outcome, Up, UpReport, UpResult, UpStatus,
};
use crate::preview::PreviewContext;
use crate::render::{self, RenderError};
use crate::report::{self, Output};

/// The sticky comment of a preview on its merge request, live or removed; also the step
/// summary of `up`.
pub const COMMENT: &str = include_str!("../../templates/preview-comment.md.tera");

/// Tells what a `ferry preview` command did: the CI outputs (and step summary) of `up`,
/// `down` and `gc` for the CI of `ci`, then the text or JSON on stdout.
pub fn show(outcome: &Outcome, ci: Option<&Context>, output: Output) -> io::Result<()> {
    match outcome {
        Outcome::Up(up) => {
            ci::publish_or_warn(ci, &up_outputs(up).map_err(io::Error::other)?);
            report::emit(output, &up.report, &up_text(up))
        }
        Outcome::Down(down) => {
            ci::publish_or_warn(ci, &down_outputs(down));
            report::emit(output, down, &down_text(down))
        }
        Outcome::List(list) => report::emit(output, list, &list_text(list)),
        Outcome::Gc(gc) => {
            ci::publish_or_warn(ci, &gc_outputs(gc));
            report::emit(output, gc, &gc_text(gc))
        }
    }
}

/// What the comment template is given.
#[derive(Serialize)]
struct CommentContext<'a> {
    slug: &'a str,
    url: Option<&'a str>,
    namespace: &'a str,
    /// The images' references (`name:tag[@digest]`).
    images: Vec<&'a str>,
    updated_at: &'a str,
    expires_at: &'a str,
    /// The forge's words for a change request ("merge request").
    change_request: &'a str,
    removed: Option<Removed<'a>>,
}

#[derive(Serialize)]
struct Removed<'a> {
    at: String,
    why: &'a str,
}

/// The sticky comment of a live preview (without its marker), and `up`'s step summary.
pub fn up_comment(context: &PreviewContext, forge: ForgeKind) -> Result<String, RenderError> {
    let comment = CommentContext {
        slug: &context.slug,
        url: context.url.as_deref(),
        namespace: &context.namespace,
        images: context
            .images
            .iter()
            .map(|i| i.reference.as_str())
            .collect(),
        updated_at: &context.updated_at,
        expires_at: &context.expires_at,
        change_request: forge.words().change_request,
        removed: None,
    };
    render::template_text("preview comment", COMMENT, &comment)
}

/// The sticky comment of a removed preview (without its marker): removed at `at`, `why`.
pub fn removed_comment(slug: &str, why: &str, at: Time) -> Result<String, RenderError> {
    let comment = CommentContext {
        slug,
        url: None,
        namespace: "",
        images: Vec::new(),
        updated_at: "",
        expires_at: "",
        change_request: "",
        removed: Some(Removed {
            at: at.to_string(),
            why,
        }),
    };
    render::template_text("preview comment", COMMENT, &comment)
}

/// The first 7 characters of a commit id.
fn short(commit: Option<&str>) -> String {
    commit
        .map(|c| c.chars().take(7).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// up

fn up_text(up: &Up) -> String {
    let report = &up.report;
    let (context, rendered, max) = match &up.result {
        UpResult::Closed {
            forge,
            number,
            state,
        } => {
            let words = forge.words();
            return format!(
                "{} {}{number} is {}: no preview for it (`ferry preview gc` removes what is left).\n",
                words.short,
                words.sigil,
                match state {
                    CrState::Merged => "merged",
                    _ => "closed",
                }
            );
        }
        UpResult::Live {
            context, text, max, ..
        } => (context, text, max),
    };
    let (file, branch, slug) = (&report.file, &report.branch, &report.slug);
    let mut text = String::new();
    match report.status {
        UpStatus::DryRun => {
            let _ = writeln!(
                text,
                "Dry run: would write {file} on `{branch}`:\n\n{rendered}"
            );
        }
        UpStatus::Unchanged => {
            let _ = writeln!(
                text,
                "Preview `{slug}` is up to date ({file} on `{branch}`; expires {}).",
                context.expires_at
            );
        }
        status => {
            let _ = writeln!(
                text,
                "Preview `{slug}` {} ({file} on `{branch}`, commit {}; expires {}).",
                status.as_str(),
                short(report.commit.as_deref()),
                context.expires_at
            );
        }
    }
    for gone in &report.evicted {
        let _ = writeln!(
            text,
            "Evicted preview `{gone}` (least recently updated) to stay within previews.max = {}.",
            max.unwrap_or_default()
        );
    }
    if let Some(url) = &context.url {
        let _ = writeln!(text, "URL: {url}");
    }
    text
}

fn up_outputs(up: &Up) -> Result<Outputs, RenderError> {
    let report: &UpReport = &up.report;
    let mut outputs = Outputs::default();
    outputs
        .set("status", report.status.as_str())
        .set(
            "changed",
            (report.commit.is_some() && report.status != UpStatus::DryRun).to_string(),
        )
        .set("slug", report.slug.clone())
        .set("namespace", report.namespace.clone())
        .set("release", report.release.clone());
    let UpResult::Live { forge, context, .. } = &up.result else {
        outputs.set("preview-file", report.file.clone());
        return Ok(outputs);
    };
    outputs
        .set("preview-url", report.url.clone().unwrap_or_default())
        .set("preview-file", report.file.clone())
        .set("expires-at", report.expires_at.clone())
        .set("commit-sha", report.commit.clone().unwrap_or_default());
    outputs.summary = up_comment(context, *forge)?;
    Ok(outputs)
}

// ---------------------------------------------------------------------------------------------
// down

fn down_text(down: &DownReport) -> String {
    let (slug, file, branch) = (&down.slug, &down.file, &down.branch);
    match down.status {
        "absent" => format!("No preview `{slug}` on `{branch}`: nothing to do.\n"),
        "dry-run" => format!("Dry run: would remove {file} from `{branch}`.\n"),
        _ => format!(
            "Removed preview `{slug}` ({file} on `{branch}`, commit {}).\n",
            short(down.commit.as_deref())
        ),
    }
}

fn down_outputs(down: &DownReport) -> Outputs {
    let mut outputs = Outputs::default();
    outputs
        .set("status", down.status)
        .set("changed", (down.status == "removed").to_string())
        .set("slug", down.slug.clone())
        .set("preview-file", down.file.clone())
        .set("commit-sha", down.commit.clone().unwrap_or_default());
    outputs
}

// ---------------------------------------------------------------------------------------------
// list

fn list_text(list: &ListReport) -> String {
    let branch = &list.branch;
    let mut text = String::new();
    if list.commit.is_none() {
        let _ = writeln!(
            text,
            "No previews: branch `{branch}` does not exist yet (`ferry preview up` creates it)."
        );
    } else if list.previews.is_empty() {
        let _ = writeln!(text, "No previews on `{branch}`.");
    } else {
        // Slugs are DNS labels, up to 63 characters.
        let width = list
            .previews
            .iter()
            .map(|p| p.live.slug.len())
            .max()
            .unwrap_or_default()
            .max(40);
        let _ = writeln!(
            text,
            "{:<width$} {:<6} {:<21} {:<21} NAME",
            "SLUG", "MR", "UPDATED", "EXPIRES"
        );
        let time = |t: Option<Time>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
        for p in &list.previews {
            let _ = writeln!(
                text,
                "{:<width$} {:<6} {:<21} {:<21} {}{}",
                p.live.slug,
                p.live
                    .meta
                    .change_request
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                time(p.live.meta.updated_at),
                time(p.live.meta.expires_at),
                one_line(&p.live.meta.name),
                if p.expired { " (expired)" } else { "" }
            );
        }
    }
    for other in &list.other_files {
        let _ = writeln!(
            text,
            "Not ferry's, left alone: {} ({})",
            one_line(&other.file),
            one_line(&other.reason)
        );
    }
    text
}

// ---------------------------------------------------------------------------------------------
// gc

fn gc_text(gc: &GcReport) -> String {
    let branch = &gc.branch;
    let kept = gc.kept;
    let mut text = String::new();
    if gc.removed.is_empty() {
        let _ = writeln!(
            text,
            "Nothing to collect on `{branch}`: {kept} preview(s), all open and unexpired."
        );
        return text;
    }
    let dry_run = gc.status == "dry-run";
    let _ = writeln!(
        text,
        "{} {} preview(s) from `{branch}`{}:",
        if dry_run { "Would remove" } else { "Removed" },
        gc.removed.len(),
        gc.commit
            .as_deref()
            .filter(|_| !dry_run)
            .map(|c| format!(" (commit {})", short(Some(c))))
            .unwrap_or_default()
    );
    for r in &gc.removed {
        let _ = writeln!(text, "  {}: {}", r.slug, r.reason);
    }
    let _ = writeln!(text, "Kept {kept} preview(s).");
    text
}

fn gc_outputs(gc: &GcReport) -> Outputs {
    let mut outputs = Outputs::default();
    outputs
        .set("status", gc.status)
        .set("changed", (gc.status == "removed").to_string())
        .set("removed", gc.removed.len().to_string())
        .set("commit-sha", gc.commit.clone().unwrap_or_default());
    outputs
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::image::ImageName;
    use crate::preview::{PreviewChangeRequest, PreviewDeploy, PreviewImage, PreviewSource};

    /// A live preview's context, as `up` renders it.
    fn rendered(url: bool, images: &[(&str, &str, Option<&str>)]) -> PreviewContext {
        let (slug, namespace, release) =
            crate::preview::names("feature/new-cart", "preview-", 63, 53);
        PreviewContext {
            name: "feature/new-cart".to_owned(),
            url: url.then(|| format!("https://{slug}.preview.example.com")),
            slug,
            namespace,
            release,
            agent_namespace: "argocd".to_owned(),
            prefix: "preview-".to_owned(),
            reserved: Vec::new(),
            change_request: Some(PreviewChangeRequest {
                number: 42,
                project: Some("https://gitlab.example.com/acme/shop".to_owned()),
                url: None,
                title: Some("Add the new cart".to_owned()),
                author: None,
            }),
            source: PreviewSource::default(),
            deploy: PreviewDeploy {
                repo: "https://gitlab.example.com/acme/env.git".to_owned(),
                revision: "main".to_owned(),
                path: "previews/base".to_owned(),
                images: "kustomize".to_owned(),
            },
            images: images
                .iter()
                .map(|(name, tag, digest)| {
                    PreviewImage::new(&ImageName::parse(name).expect("name"), tag, *digest)
                })
                .collect(),
            values: BTreeMap::new(),
            expires_at: "2026-11-30T12:00:00Z".to_owned(),
            updated_at: "2026-11-23T12:00:00Z".to_owned(),
        }
    }

    #[test]
    fn the_up_comment_and_step_summary() {
        let one = rendered(true, &[("ghcr.io/acme/cart", "9d8c7b6", None)]);
        let gitlab = up_comment(&one, ForgeKind::GitLab).expect("renders");
        insta::assert_snapshot!("up_comment_gitlab", gitlab);
        let digest = format!("sha256:{}", "a".repeat(64));
        let two = rendered(
            false,
            &[
                ("ghcr.io/acme/cart", "1.2.3", Some(&digest)),
                ("nginx", "", Some(&digest)),
                ("registry.example.com:5000/acme/web", "v1", None),
            ],
        );
        let github = up_comment(&two, ForgeKind::GitHub).expect("renders");
        insta::assert_snapshot!("up_comment_github", github);
        // The step summary is the comment.
        let up = Up {
            report: UpReport {
                status: UpStatus::Created,
                name: one.name.clone(),
                slug: one.slug.clone(),
                namespace: one.namespace.clone(),
                release: one.release.clone(),
                file: format!("previews/{}.yaml", one.slug),
                branch: "previews".to_owned(),
                url: one.url.clone(),
                commit: Some("0123456789abcdef".to_owned()),
                change_request: Some(42),
                updated_at: one.updated_at.clone(),
                expires_at: one.expires_at.clone(),
                evicted: Vec::new(),
                attempts: 1,
            },
            result: UpResult::Live {
                forge: ForgeKind::GitLab,
                context: Box::new(one),
                text: String::new(),
                max: None,
            },
        };
        assert_eq!(up_outputs(&up).expect("outputs").summary, gitlab);
    }

    #[test]
    fn the_removed_comment() {
        let now = Time::parse("2026-11-23T12:00:00Z").expect("time");
        let gone = "preview-feature-new-cart-1a2b3c4d";
        let body = removed_comment(gone, "change request 42 is closed", now).expect("renders");
        insta::assert_snapshot!(
            "removed_comment",
            format!("<!-- ferry:preview slug={gone} -->\n{body}")
        );
    }
}
