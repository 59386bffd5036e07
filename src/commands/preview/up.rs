//! `ferry preview up`: render the preview of a merge request and write it, in one transaction
//! on the previews branch; keep its comment on the merge request up to date.

use std::time::Duration;

use super::super::Error;
use super::super::transaction::{self, Planned};
use super::apps::{Apps, comment};
use super::live::live_previews;
use super::request::UpRequest;
use super::settings::{PreviewSite, Settings};
use crate::ci::one_line;
use crate::config::{ImagesMode, OnMax};
use crate::forge::{CrState, ForgeKind};
use crate::git::{Edit, Store, Tip};
use crate::outcome::preview::{Live, Up, UpReport, UpResult, UpStatus};
use crate::present;
use crate::preview::{self, PreviewChangeRequest, PreviewContext, PreviewDeploy, PreviewImage};
use crate::render;
use crate::trailers;

/// The note ferry writes in the preview directory of a branch it creates.
const PLACEHOLDER: &str = "\
# Preview environments

Written by `ferry preview up`, one file per merge request; removed by `ferry preview down` and
`ferry preview gc`. The agent (Argo CD, Flux) deploys every YAML file of this directory. This
note keeps the directory when no preview is left; it is not deployed.
";

/// What one plan of `up` decided.
struct UpPlan {
    status: UpStatus,
    context: PreviewContext,
    text: String,
    evicted: Vec<Live>,
}

/// The merge request of the preview, as its forge answered.
enum Asked {
    /// Open (or none was named): the preview is written.
    Open(ForgeKind, Option<PreviewChangeRequest>),
    /// Closed or merged: no preview.
    Closed(ForgeKind, u64, CrState),
}

pub(super) fn up(request: &UpRequest) -> Result<Up, Error> {
    let mut open = PreviewSite::open(&request.repo)?;
    let deploy = open.deploy()?;
    let settings = &open.settings;
    let (slug, _, _) = settings.names(&request.name);
    let file = settings.file_of(&slug);
    let mut apps = Apps::new(&request.app, settings, open.site.api_token());
    let (forge, change_request) = match ask(&mut apps, request)? {
        Asked::Open(forge, change_request) => (forge, change_request),
        Asked::Closed(forge, number, state) => {
            let report = report_of(UpStatus::ChangeRequestClosed, settings, request, &file);
            let result = UpResult::Closed {
                forge,
                number,
                state,
            };
            return Ok(Up { report, result });
        }
    };
    let base = base_context(request, settings, deploy, change_request)?;
    let ttl = Duration::from(settings.previews.ttl);
    let committed = transaction::transact(
        &mut open.site.store,
        &open.settings.transaction(request.dry_run),
        |store, tip| plan_up(store, &open.settings, tip, &base, &file, ttl),
    )?;
    let settings = &open.settings;
    let UpPlan {
        mut status,
        context,
        text,
        evicted,
    } = committed.value;
    if request.dry_run && committed.commit.is_some() {
        status = UpStatus::DryRun;
    }
    if !request.dry_run && settings.previews.comment {
        tell(&mut apps, settings, status, &context, forge, &evicted);
    }
    tracing::debug!(calls = apps.calls(), "api calls");
    let report = UpReport {
        slug: context.slug.clone(),
        namespace: context.namespace.clone(),
        release: context.release.clone(),
        url: context.url.clone(),
        commit: committed.commit,
        change_request: context.change_request.as_ref().map(|c| c.number),
        updated_at: context.updated_at.clone(),
        expires_at: context.expires_at.clone(),
        evicted: evicted.iter().map(|l| l.slug.clone()).collect(),
        attempts: committed.attempts,
        ..report_of(status, settings, request, &file)
    };
    let result = UpResult::Live {
        forge,
        context: Box::new(context),
        text,
        max: settings.previews.max,
    };
    Ok(Up { report, result })
}

/// Asks the forge about the preview's merge request, if it has one.
fn ask(apps: &mut Apps<'_>, request: &UpRequest) -> Result<Asked, Error> {
    let Some((number, project)) = &request.change_request else {
        return Ok(Asked::Open(ForgeKind::GitLab, None));
    };
    let forge = apps.forge(project)?;
    let kind = forge.kind();
    let cr = forge.get(*number)?;
    if cr.state != CrState::Open {
        return Ok(Asked::Closed(kind, *number, cr.state));
    }
    Ok(Asked::Open(
        kind,
        Some(PreviewChangeRequest {
            number: *number,
            project: Some(project.clone()),
            url: Some(cr.url).filter(|u| !u.is_empty()),
            title: Some(cr.title),
            author: cr.author,
        }),
    ))
}

/// The preview's images. Helm parameters and values set `image.repository` and `image.tag`
/// only: a digest-only request has nothing to put there.
fn images(request: &UpRequest, settings: &Settings) -> Result<Vec<PreviewImage>, Error> {
    let mut images = Vec::new();
    for u in &request.images {
        if u.tag.is_none() && settings.previews.deploy.images == ImagesMode::Helm {
            return Err(Error::Usage(format!(
                "{}: a preview deployed with Helm values (previews.deploy.images: helm) sets `image.tag`, and a digest-only request has no tag; pass {}=TAG@DIGEST",
                u.argument(&u.written),
                u.written
            )));
        }
        let tag = u.tag.as_ref().map(ToString::to_string).unwrap_or_default();
        let digest = u.digest.as_ref().map(ToString::to_string);
        images.push(PreviewImage::new(&u.image, &tag, digest.as_deref()));
    }
    Ok(images)
}

/// The template's context, but for the times (set by each plan).
fn base_context(
    request: &UpRequest,
    settings: &Settings,
    deploy: PreviewDeploy,
    change_request: Option<PreviewChangeRequest>,
) -> Result<PreviewContext, Error> {
    let (slug, namespace, release) = settings.names(&request.name);
    let previews = &settings.previews;
    Ok(PreviewContext {
        name: request.name.clone(),
        namespace,
        release,
        agent_namespace: previews
            .agent_namespace
            .clone()
            .unwrap_or_else(|| settings.template().default_agent_namespace().to_owned()),
        prefix: previews.prefix.clone(),
        reserved: settings.reserved.clone(),
        change_request,
        source: request.source.clone(),
        deploy,
        images: images(request, settings)?,
        values: request.values.clone(),
        url: settings.url_of(&slug),
        slug,
        expires_at: String::new(),
        updated_at: String::new(),
    })
}

/// The report of `up` but for what the plan decided.
fn report_of(status: UpStatus, settings: &Settings, request: &UpRequest, file: &str) -> UpReport {
    let (slug, namespace, release) = settings.names(&request.name);
    UpReport {
        status,
        name: request.name.clone(),
        url: settings.url_of(&slug),
        slug,
        namespace,
        release,
        file: file.to_owned(),
        branch: settings.branch().to_owned(),
        commit: None,
        change_request: None,
        updated_at: String::new(),
        expires_at: String::new(),
        evicted: Vec::new(),
        attempts: 0,
    }
}

/// Updates the preview's comment on its merge request, and tells those of evicted previews.
fn tell(
    apps: &mut Apps<'_>,
    settings: &Settings,
    status: UpStatus,
    context: &PreviewContext,
    forge: ForgeKind,
    evicted: &[Live],
) {
    if let Some(cr) = &context.change_request
        && let Some(project) = &cr.project
    {
        // The preview is live whatever the comment does: a failure is a warning, and the
        // next run edits the comment again.
        let result = present::preview::up_comment(context, forge)
            .map_err(Error::from)
            .and_then(|body| {
                let forge = apps.forge(project)?;
                comment(forge, cr.number, &context.slug, &body)
            });
        if let Err(e) = result {
            tracing::warn!("could not update the preview's comment: {e}");
        }
    }
    if status == UpStatus::DryRun {
        return;
    }
    for gone in evicted {
        apps.notify_removed(
            gone,
            "evicted to make room for a newer preview",
            settings.now,
        );
    }
}

/// How a plan of `up` treats the preview's file as it is on the branch.
enum Existing {
    /// Same content, renewed not long ago: nothing to write (the rendered text).
    Unchanged(String),
    /// Same content, but its expiry is near.
    Renew,
    Update,
}

/// The plan of `up` on one snapshot of the previews branch.
fn plan_up(
    store: &dyn Store,
    settings: &Settings,
    tip: Option<&Tip>,
    base: &PreviewContext,
    file: &str,
    ttl: Duration,
) -> Result<Planned<UpPlan>, Error> {
    let existing = match tip {
        Some(tip) => store.read_file(tip, file)?,
        None => None,
    };
    let mut context = base.clone();
    let status = match &existing {
        None => UpStatus::Created,
        Some(bytes) => match existing_file(settings, &mut context, file, bytes, ttl)? {
            Existing::Unchanged(text) => {
                return Ok(Planned::Nothing(UpPlan {
                    status: UpStatus::Unchanged,
                    context,
                    text,
                    evicted: Vec::new(),
                }));
            }
            Existing::Renew => UpStatus::Renewed,
            Existing::Update => UpStatus::Updated,
        },
    };
    context.updated_at = settings.now.to_string();
    context.expires_at = settings.now.after(ttl).to_string();
    let text = preview::render(&settings.template(), &context)?;
    let mut edits: Vec<Edit> = vec![(file.to_owned(), Some(text.clone().into_bytes()))];
    if tip.is_none() {
        // A new branch: a note that keeps the directory when the last preview goes (an agent
        // watching a path that vanished reports an error instead of pruning).
        edits.push((
            settings.path_of("README.md"),
            Some(PLACEHOLDER.as_bytes().to_vec()),
        ));
    }
    let evicted = match existing {
        None => evictions(store, settings, tip, base, file)?,
        Some(_) => Vec::new(),
    };
    edits.extend(evicted.iter().map(|gone| (gone.file.clone(), None)));
    Ok(Planned::Write {
        edits,
        message: message(status, base, &evicted),
        value: UpPlan {
            status,
            context,
            text,
            evicted,
        },
    })
}

/// The preview's file on the branch: checked to be this preview's, and compared with what it
/// would be rendered again with its own times (`context` gets them).
fn existing_file(
    settings: &Settings,
    context: &mut PreviewContext,
    file: &str,
    bytes: &[u8],
    ttl: Duration,
) -> Result<Existing, Error> {
    let text = String::from_utf8_lossy(bytes);
    let meta = preview::read_meta(&text).map_err(|why| {
        Error::Usage(format!(
            "{file} on `{}` is not a preview of ferry's ({why}); remove it, or give this preview another --name",
            settings.branch()
        ))
    })?;
    if meta.name != context.name {
        return Err(Error::Usage(format!(
            "{file} on `{}` belongs to preview {}, not {}: their names make the same slug `{}`; give this preview another --name",
            settings.branch(),
            render::yaml_string(&meta.name),
            render::yaml_string(&context.name),
            context.slug
        )));
    }
    let (Some(updated), Some(expires)) = (meta.updated_at, meta.expires_at) else {
        return Ok(Existing::Update);
    };
    context.updated_at = updated.to_string();
    context.expires_at = expires.to_string();
    let same = preview::render(&settings.template(), context)?;
    if same.as_bytes() != bytes {
        return Ok(Existing::Update);
    }
    // Renew once less than half the time to live is left: a rerun soon after changes
    // nothing, a preview kept in use does not expire.
    if settings.now.until(expires) > ttl / 2 {
        return Ok(Existing::Unchanged(same));
    }
    Ok(Existing::Renew)
}

/// The previews a new one evicts to stay within `previews.max` (the least recently updated),
/// or the error `on-max: fail` asks for.
fn evictions(
    store: &dyn Store,
    settings: &Settings,
    tip: Option<&Tip>,
    base: &PreviewContext,
    file: &str,
) -> Result<Vec<Live>, Error> {
    let Some(max) = settings.previews.max else {
        return Ok(Vec::new());
    };
    let (mut live, _) = live_previews(store, settings, tip)?;
    live.retain(|l| l.file != file);
    if live.len() < max as usize {
        return Ok(Vec::new());
    }
    if settings.previews.on_max == OnMax::Fail {
        return Err(Error::Limit(format!(
            "{} previews are alive on `{}`, the most previews.max allows; preview `{}` was not created. Remove one (`ferry preview down --name NAME`, `ferry preview gc`), raise previews.max, or set previews.on-max: evict-oldest",
            live.len(),
            settings.branch(),
            base.slug
        )));
    }
    live.sort_by(|a, b| (a.meta.updated_at, &a.slug).cmp(&(b.meta.updated_at, &b.slug)));
    let excess = live.len() + 1 - max as usize;
    Ok(live.into_iter().take(excess).collect())
}

/// The commit message of `up`: what it did, the images, the previews evicted, the trailers.
fn message(status: UpStatus, base: &PreviewContext, evicted: &[Live]) -> String {
    let images: Vec<String> = base
        .images
        .iter()
        .map(|i| format!("- {}", one_line(&i.reference)))
        .collect();
    let evicted: String = evicted
        .iter()
        .map(|gone| format!("\n- evicted preview {}", gone.slug))
        .collect();
    let verb = match status {
        UpStatus::Created => "create",
        UpStatus::Renewed => "renew",
        _ => "update",
    };
    format!(
        "preview: {verb} {}\n\n{}{evicted}\n\n{}",
        base.slug,
        images.join("\n"),
        trailers_of(base)
    )
}

/// Trailers naming the preview and where it came from, one line each.
fn trailers_of(context: &PreviewContext) -> String {
    let mut lines = vec![format!("Ferry-Preview: {}", context.slug)];
    if let Some(repo) = &context.source.repo {
        lines.push(format!("{}: {}", trailers::SOURCE_REPO, one_line(repo)));
    }
    if let Some(commit) = &context.source.commit {
        lines.push(format!("{}: {}", trailers::SOURCE_COMMIT, one_line(commit)));
    }
    if let Some(cr) = &context.change_request {
        lines.push(format!("{}: {}", trailers::CHANGE_REQUEST, cr.number));
    }
    lines.join("\n") + "\n"
}
