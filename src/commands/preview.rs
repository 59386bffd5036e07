//! `ferry preview up|down|list|gc`: preview environments per merge request.
//!
//! A preview is one file, `<directory>/<slug>.yaml` on the previews branch, rendered from a
//! template and checked ([`crate::preview`]). Every write is one compare-and-swap transaction on
//! that branch (`transaction::transact`): the plan is recomputed from each fetched tip, so
//! concurrent `up`s of different merge requests all land, and a rerun changes nothing.
//!
//! Names and titles come from people ferry does not trust: they reach the file only as template
//! values and DNS labels, the file path only as the slug (always `previews.prefix` + a readable
//! part + a hash: [`crate::slug::preview_label`]), and output only through [`one_line`]. What the
//! previews branch holds is not trusted either: a file is a preview only if its name is the slug
//! of its `ferry.dev/name`, and the forge a file names is asked only when it is the run's
//! application repository or listed in `previews.projects`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::transaction::{self, Planned, Transaction};
use super::{Error, read_template, site};
use crate::ci::{self, Context, Outputs, one_line};
use crate::cli::{
    PreviewAppArgs, PreviewArgs, PreviewCommand, PreviewDownArgs, PreviewGcArgs, PreviewListArgs,
    PreviewRepoArgs, PreviewUpArgs, PreviewWhich,
};
use crate::clock::Time;
use crate::config::{self, OnMax, Previews, Template as ConfigTemplate};
use crate::exit::Exit;
use crate::forge::{self, CrState, Forge, ForgeArgs, ForgeKind};
use crate::git::{Edit, Identity, Remote, RepoUrl, Store, Tip};
use crate::preview::{
    self, Meta, PreviewChangeRequest, PreviewContext, PreviewDeploy, PreviewImage, PreviewSource,
    Template,
};
use crate::render;
use crate::report::{self, Output};
use crate::slug;
use crate::trailers;

pub fn run(args: &PreviewArgs, output: Output) -> Result<Exit, Error> {
    match &args.command {
        PreviewCommand::Up(args) => up(args, output),
        PreviewCommand::Down(args) => down(args, output),
        PreviewCommand::List(args) => list(args, output),
        PreviewCommand::Gc(args) => gc(args, output),
    }
}

// ---------------------------------------------------------------------------------------------
// The environment repository and its settings

/// The environment repository, opened, with its `previews:` settings.
struct Site {
    /// The environment repository's URL (without credentials).
    repo_url: String,
    /// The environment repository's token for the forge's API, and whether it is a job token.
    api_token: Option<(SecretString, bool)>,
    settings: Previews,
    /// The branch ferry.yaml was read from.
    config_branch: String,
    identity: Identity,
    /// A repository template: (path, text).
    template_file: Option<(String, String)>,
    /// Namespaces no preview may name (the environments'), for the rendered-preview check.
    reserved: Vec<String>,
    now: Time,
    attempts: u32,
}

impl Site {
    /// Opens the repository and reads ferry.yaml; the store is returned beside the settings, for
    /// the transaction to write with while plans read the settings.
    fn open(args: &PreviewRepoArgs) -> Result<(Site, Remote), Error> {
        let connection = &args.connection;
        let site::Fetched {
            store,
            config,
            config_tip: tip,
            api_token,
            ..
        } = site::fetch(&site::Access::of_connection(
            connection,
            args.config_branch.clone(),
            ForgeArgs::default(),
        )?)?;
        let config = config.unwrap_or_default();
        let template_file = match &config.previews.template {
            ConfigTemplate::File(path) => {
                let path = config::RelPath::new(path)
                    .map_err(|e| Error::Usage(format!("previews.template: {e}")))?;
                read_template(&store, &tip, "previews.template", Some(&path))?
            }
            _ => None,
        };
        let author = config.commit.author.clone();
        let reserved = preview::reserved_of(&config);
        let site = Site {
            repo_url: store.url().to_string(),
            api_token,
            identity: Identity {
                name: args.commit.author_name.clone().unwrap_or(author.name),
                email: args.commit.author_email.clone().unwrap_or(author.email),
            },
            settings: config.previews,
            config_branch: tip.branch,
            template_file,
            reserved,
            now: args.now.unwrap_or_else(Time::now),
            attempts: args.commit.attempts,
        };
        Ok((site, store))
    }

    fn template(&self) -> Template<'_> {
        match (&self.settings.template, &self.template_file) {
            (ConfigTemplate::Flux, _) => Template::Flux,
            (ConfigTemplate::File(_), Some((name, text))) => Template::File { name, text },
            _ => Template::Argocd,
        }
    }

    fn directory(&self) -> &str {
        self.settings.directory.as_str()
    }

    /// The file of the preview with this slug. The slug is a DNS label: it cannot climb out.
    fn file_of(&self, slug: &str) -> String {
        if self.directory().is_empty() {
            format!("{slug}.yaml")
        } else {
            format!("{}/{slug}.yaml", self.directory())
        }
    }

    fn transaction(&self, dry_run: bool) -> Transaction<'_> {
        Transaction {
            branch: &self.settings.branch,
            create: true,
            attempts: self.attempts,
            identity: &self.identity,
            signer: None,
            dry_run,
        }
    }

    /// The names of a preview: (slug, namespace, release), all under `previews.prefix`.
    fn names(&self, name: &str) -> (String, String, String) {
        preview::names(
            name,
            &self.settings.prefix,
            self.settings.namespace_limit as usize,
            self.settings.release_limit as usize,
        )
    }

    fn url_of(&self, slug: &str) -> Option<String> {
        self.settings
            .url
            .as_ref()
            .map(|pattern| pattern.replace("{slug}", slug))
    }
}

/// The note ferry writes in the preview directory of a branch it creates.
const PLACEHOLDER: &str = "\
# Preview environments

Written by `ferry preview up`, one file per merge request; removed by `ferry preview down` and
`ferry preview gc`. The agent (Argo CD, Flux) deploys every YAML file of this directory. This
note keeps the directory when no preview is left; it is not deployed.
";

/// A preview found on the branch.
#[derive(Debug, Clone, Serialize)]
struct Live {
    slug: String,
    file: String,
    #[serde(flatten)]
    meta: Meta,
}

/// A file of the preview directory that is not a preview of ferry's: (path, why).
type Foreign = (String, String);

/// The previews on the branch at `tip` (files directly in the directory that ferry wrote), and
/// the files it holds that are not previews.
fn live_previews(
    store: &dyn Store,
    site: &Site,
    tip: Option<&Tip>,
) -> Result<(Vec<Live>, Vec<Foreign>), Error> {
    let Some(tip) = tip else {
        return Ok((Vec::new(), Vec::new()));
    };
    let entries = match store.list_dir(tip, site.directory(), &|path| {
        !path.contains('/') && (path.ends_with(".yaml") || path.ends_with(".yml"))
    }) {
        Ok(entries) => entries,
        Err(crate::git::GitError::NoSuchPath { .. }) => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let mut live = Vec::new();
    let mut foreign = Vec::new();
    for entry in entries {
        let file = if site.directory().is_empty() {
            entry.path.clone()
        } else {
            format!("{}/{}", site.directory(), entry.path)
        };
        // Only a file ferry could have written is a preview: `<slug>.yaml`, where the slug is
        // the one its name annotation gives under the current prefix and limits. Anything
        // else (planted by hand, written by an older ferry without the prefix) is left alone
        // and reported, its name escaped.
        let Some(stem) = entry.path.strip_suffix(".yaml") else {
            foreign.push((file, "not a `.yaml` file ferry writes".to_owned()));
            continue;
        };
        if !stem.starts_with(&site.settings.prefix) || !slug::is_dns_label(stem, 63) {
            foreign.push((
                file,
                format!(
                    "not a name ferry gives a preview (`{}…` and a hash)",
                    site.settings.prefix
                ),
            ));
            continue;
        }
        let bytes = store.read_blob(&entry)?;
        match preview::read_meta(&String::from_utf8_lossy(&bytes)) {
            Ok(meta) if site.names(&meta.name).0 == stem => live.push(Live {
                slug: stem.to_owned(),
                file,
                meta,
            }),
            Ok(_) => foreign.push((
                file,
                format!(
                    "its `{}` annotation does not give this file name (under the current previews.prefix and namespace-limit)",
                    preview::ANNOTATION_NAME
                ),
            )),
            Err(why) => foreign.push((file, why)),
        }
    }
    Ok((live, foreign))
}

// ---------------------------------------------------------------------------------------------
// The application repository (where the merge requests are)

/// Connections to the forges of application repositories, by repository URL, made when first
/// needed.
///
/// Only the application repository of the run (`--app-repo`, the CI's repository) and those
/// listed in `previews.projects` are ever asked, whatever a preview file on the previews branch
/// names: whoever can write that branch must not be able to send the token elsewhere.
struct Apps<'a> {
    args: &'a PreviewAppArgs,
    site_token: Option<(SecretString, bool)>,
    connected: HashMap<String, Box<dyn Forge>>,
    /// The projects that may be asked, as [`project_key`]s.
    allowed: Vec<String>,
    /// Projects refused so far (each is warned about once).
    refused: Vec<String>,
}

/// A repository URL compared case-insensitively, without credentials, `.git` or a trailing `/`.
fn project_key(url: &str) -> Option<String> {
    RepoUrl::parse(url).ok().map(|(url, _)| url.key())
}

impl<'a> Apps<'a> {
    fn new(args: &'a PreviewAppArgs, site: &Site, context: Option<&Context>) -> Apps<'a> {
        if let Some(token) = &args.app_token {
            report::add_secret(token.expose_secret());
        }
        let allowed = app_repo(args, context)
            .into_iter()
            .chain(site.settings.projects.iter().cloned())
            .filter_map(|url| project_key(&url))
            .collect();
        Apps {
            args,
            site_token: site.api_token.clone(),
            connected: HashMap::new(),
            allowed,
            refused: Vec::new(),
        }
    }

    /// Whether `project` (read from a preview file) may be asked; warns once when not.
    fn allows(&mut self, project: &str, slug: &str) -> bool {
        if project_key(project).is_some_and(|key| self.allowed.contains(&key)) {
            return true;
        }
        if !self.refused.iter().any(|p| p == project) {
            self.refused.push(project.to_owned());
            tracing::warn!(
                "preview `{slug}` names application repository {}, which is neither this run's (--app-repo) nor listed in previews.projects: ferry does not ask it (nor send it a token); the preview goes when it expires. If it is yours, add it to previews.projects in {}",
                render::yaml_string(&one_line(project)),
                config::FILE_NAME
            );
        }
        false
    }

    fn forge(&mut self, project: &str) -> Result<&dyn Forge, Error> {
        if !project_key(project).is_some_and(|key| self.allowed.contains(&key)) {
            return Err(Error::Usage(format!(
                "application repository {} is neither this run's (--app-repo) nor listed in previews.projects; add it there to let ferry ask it",
                render::yaml_string(&one_line(project))
            )));
        }
        if !self.connected.contains_key(project) {
            let (url, _) = RepoUrl::parse(project)
                .map_err(|e| Error::Usage(format!("application repository `{project}`: {e}")))?;
            let token = self
                .args
                .app_token
                .clone()
                .map(|t| (t, false))
                .or_else(|| self.site_token.clone());
            let settings =
                forge::resolve_settings(&self.args.forge, &url, token, &ci::process_env)?;
            self.connected
                .insert(project.to_owned(), forge::connect(settings)?);
        }
        Ok(self.connected[project].as_ref())
    }

    fn calls(&self) -> u32 {
        self.connected.values().map(|f| f.calls()).sum()
    }
}

/// The application repository of this run: --app-repo, else the CI's repository.
fn app_repo(args: &PreviewAppArgs, context: Option<&Context>) -> Option<String> {
    args.app_repo
        .clone()
        .or_else(|| context.and_then(|c| c.source_repo.clone()))
        .map(|url| strip_secret(&url))
}

/// A repository URL without a password, for annotations and messages.
fn strip_secret(url: &str) -> String {
    RepoUrl::shown(url)
}

/// The name and change request of the preview: flags, else the CI's branch and merge request.
fn which(args: &PreviewWhich, context: Option<&Context>) -> Result<(String, Option<u64>), Error> {
    let name = args
        .name
        .clone()
        .or_else(|| context.and_then(|c| c.source_ref.clone()))
        .ok_or_else(|| {
            Error::Usage(
                "which preview? give --name NAME (FERRY_PREVIEW_NAME); in a merge request pipeline it is the source branch".to_owned(),
            )
        })?;
    let number = args
        .change_request
        .or_else(|| context.and_then(|c| c.change_request));
    Ok((name, number))
}

/// The sticky comment's marker for a preview (one comment per preview and merge request).
fn marker(slug: &str) -> String {
    format!("<!-- ferry:preview slug={slug} -->")
}

/// Keeps the preview's comment on its merge request up to date.
fn comment(forge: &dyn Forge, number: u64, slug: &str, body: &str) -> Result<(), Error> {
    let marker = marker(slug);
    let (_, action) = forge.upsert_comment(number, &marker, &format!("{marker}\n{body}"))?;
    tracing::debug!(number, ?action, "comment");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// up

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum UpStatus {
    Created,
    Updated,
    /// Same content; the expiry was renewed.
    Renewed,
    Unchanged,
    DryRun,
    /// The change request is closed or merged: no preview.
    ChangeRequestClosed,
}

impl UpStatus {
    fn as_str(self) -> &'static str {
        match self {
            UpStatus::Created => "created",
            UpStatus::Updated => "updated",
            UpStatus::Renewed => "renewed",
            UpStatus::Unchanged => "unchanged",
            UpStatus::DryRun => "dry-run",
            UpStatus::ChangeRequestClosed => "change-request-closed",
        }
    }
}

#[derive(Debug, Serialize)]
struct UpReport {
    status: UpStatus,
    name: String,
    slug: String,
    namespace: String,
    release: String,
    file: String,
    branch: String,
    url: Option<String>,
    commit: Option<String>,
    change_request: Option<u64>,
    updated_at: String,
    expires_at: String,
    /// Previews removed to make room (previews.on-max: evict-oldest).
    evicted: Vec<String>,
    attempts: u32,
}

/// What one plan of `up` decided.
struct UpPlan {
    status: UpStatus,
    context: PreviewContext,
    text: String,
    evicted: Vec<Live>,
}

fn up(args: &PreviewUpArgs, output: Output) -> Result<Exit, Error> {
    let context = Context::from_env();
    let (name, number) = which(&args.which, context.as_ref())?;
    let (site, mut store) = Site::open(&args.repo)?;
    let (slug, namespace, release) = site.names(&name);
    let template = site.template();
    let deploy = deploy_of(&site, &template)?;
    let file = site.file_of(&slug);

    let mut apps = Apps::new(&args.app, &site, context.as_ref());
    let project = app_repo(&args.app, context.as_ref());
    let mut change_request = None;
    let mut words = ForgeKind::GitLab.words();
    if let Some(number) = number {
        let project = project.clone().ok_or_else(|| {
            Error::Usage(format!(
                "merge request {number}: which application repository? give --app-repo URL (FERRY_APP_REPO)"
            ))
        })?;
        let forge = apps.forge(&project)?;
        words = forge.kind().words();
        let cr = forge.get(number)?;
        if cr.state != CrState::Open {
            let line = format!(
                "{} {}{number} is {}: no preview for it (`ferry preview gc` removes what is left).",
                words.short,
                words.sigil,
                match cr.state {
                    CrState::Merged => "merged",
                    _ => "closed",
                }
            );
            let report = up_report(UpStatus::ChangeRequestClosed, &site, &name, &file, None);
            let mut outputs = Outputs::default();
            outputs
                .set("status", UpStatus::ChangeRequestClosed.as_str())
                .set("changed", "false")
                .set("slug", report.slug.clone())
                .set("namespace", report.namespace.clone())
                .set("release", report.release.clone())
                .set("preview-file", file.clone());
            publish(context.as_ref(), &outputs);
            report::emit(output, &report, &format!("{line}\n"))?;
            return Ok(Exit::Done);
        }
        change_request = Some(PreviewChangeRequest {
            number,
            project: Some(project),
            url: Some(cr.url).filter(|u| !u.is_empty()),
            title: Some(cr.title),
            author: cr.author,
        });
    }

    let mut images = Vec::new();
    for u in &super::requested_updates(&args.updates, None)? {
        // Helm parameters and values set `image.repository` and `image.tag` only: a
        // digest-only request has nothing to put there.
        if u.tag.is_none() && site.settings.deploy.images == config::ImagesMode::Helm {
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
    let base = PreviewContext {
        name: name.clone(),
        slug: slug.clone(),
        namespace,
        release,
        agent_namespace: site
            .settings
            .agent_namespace
            .clone()
            .unwrap_or_else(|| template.default_agent_namespace().to_owned()),
        prefix: site.settings.prefix.clone(),
        reserved: site.reserved.clone(),
        change_request,
        source: PreviewSource {
            repo: args
                .source_repo
                .clone()
                .or_else(|| context.as_ref().and_then(|c| c.source_repo.clone()))
                .map(|u| strip_secret(&u)),
            commit: args
                .source_commit
                .clone()
                .or_else(|| context.as_ref().and_then(|c| c.source_commit.clone())),
            branch: args
                .source_ref
                .clone()
                .or_else(|| context.as_ref().and_then(|c| c.source_ref.clone())),
        },
        deploy,
        images,
        values: args.values.iter().cloned().collect::<BTreeMap<_, _>>(),
        url: site.url_of(&slug),
        expires_at: String::new(),
        updated_at: String::new(),
    };

    let ttl = Duration::from(site.settings.ttl);
    let now = site.now;
    let committed =
        transaction::transact(&mut store, &site.transaction(args.dry_run), |store, tip| {
            plan_up(store, &site, tip, &base, &template, &file, now, ttl)
        })?;
    let UpPlan {
        mut status,
        context: rendered,
        text: rendered_text,
        evicted,
    } = committed.value;
    if args.dry_run && committed.commit.is_some() {
        status = UpStatus::DryRun;
    }

    let mut text = String::new();
    let short = |c: &str| c.chars().take(7).collect::<String>();
    match status {
        UpStatus::DryRun => {
            let _ = writeln!(
                text,
                "Dry run: would write {file} on `{}`:\n\n{rendered_text}",
                site.settings.branch
            );
        }
        UpStatus::Unchanged => {
            let _ = writeln!(
                text,
                "Preview `{slug}` is up to date ({file} on `{}`; expires {}).",
                site.settings.branch, rendered.expires_at
            );
        }
        _ => {
            let _ = writeln!(
                text,
                "Preview `{slug}` {} ({file} on `{}`, commit {}; expires {}).",
                status.as_str(),
                site.settings.branch,
                committed.commit.as_deref().map(short).unwrap_or_default(),
                rendered.expires_at
            );
        }
    }
    for gone in &evicted {
        let _ = writeln!(
            text,
            "Evicted preview `{}` (least recently updated) to stay within previews.max = {}.",
            gone.slug,
            site.settings.max.unwrap_or_default()
        );
    }
    if let Some(url) = &rendered.url {
        let _ = writeln!(text, "URL: {url}");
    }

    if !args.dry_run && site.settings.comment {
        if let Some(cr) = &rendered.change_request
            && let Some(project) = &cr.project
        {
            let body = up_comment(&rendered, words);
            // The preview is live whatever the comment does: a failure is a warning, and the
            // next run edits the comment again.
            if let Err(e) = apps
                .forge(project)
                .and_then(|forge| comment(forge, cr.number, &slug, &body))
            {
                tracing::warn!("could not update the preview's comment: {e}");
            }
        }
        for gone in &evicted {
            if status != UpStatus::DryRun {
                notify_removed(
                    &mut apps,
                    gone,
                    "evicted to make room for a newer preview",
                    now,
                );
            }
        }
    }
    tracing::debug!(calls = apps.calls(), "api calls");

    let mut report = up_report(status, &site, &name, &file, committed.commit.clone());
    report.slug = rendered.slug.clone();
    report.namespace = rendered.namespace.clone();
    report.release = rendered.release.clone();
    report.url = rendered.url.clone();
    report.change_request = rendered.change_request.as_ref().map(|c| c.number);
    report.updated_at = rendered.updated_at.clone();
    report.expires_at = rendered.expires_at.clone();
    report.evicted = evicted.iter().map(|l| l.slug.clone()).collect();
    report.attempts = committed.attempts;

    let mut outputs = Outputs::default();
    outputs
        .set("status", status.as_str())
        .set(
            "changed",
            (committed.commit.is_some() && !args.dry_run).to_string(),
        )
        .set("slug", rendered.slug.clone())
        .set("namespace", rendered.namespace.clone())
        .set("release", rendered.release.clone())
        .set("preview-url", rendered.url.clone().unwrap_or_default())
        .set("preview-file", file.clone())
        .set("expires-at", rendered.expires_at.clone())
        .set("commit-sha", committed.commit.clone().unwrap_or_default());
    outputs.summary = up_comment(&rendered, words);
    publish(context.as_ref(), &outputs);
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
}

/// What the preview deploys, from `previews.deploy` (a built-in template needs its path).
fn deploy_of(site: &Site, template: &Template<'_>) -> Result<PreviewDeploy, Error> {
    let deploy = &site.settings.deploy;
    let path = match (&deploy.path, template) {
        (Some(path), _) => path.as_str().to_owned(),
        (None, Template::File { .. }) => String::new(),
        (None, _) => {
            return Err(Error::Usage(format!(
                "{}: previews.deploy.path is not set: the built-in {} template needs the directory of the kustomization (or chart) a preview deploys, e.g.\n  previews:\n    deploy:\n      path: previews/base",
                config::FILE_NAME,
                site.settings.template
            )));
        }
    };
    Ok(PreviewDeploy {
        repo: deploy.repo.clone().unwrap_or_else(|| site.repo_url.clone()),
        revision: deploy
            .revision
            .clone()
            .unwrap_or_else(|| site.config_branch.clone()),
        path,
        images: deploy.images.as_str().to_owned(),
    })
}

/// The plan of `up` on one snapshot of the previews branch.
#[allow(clippy::too_many_arguments)]
fn plan_up(
    store: &dyn Store,
    site: &Site,
    tip: Option<&Tip>,
    base: &PreviewContext,
    template: &Template<'_>,
    file: &str,
    now: Time,
    ttl: Duration,
) -> Result<Planned<UpPlan>, Error> {
    let existing = match tip {
        Some(tip) => store.read_file(tip, file)?,
        None => None,
    };
    let mut context = base.clone();
    let mut status = UpStatus::Created;
    if let Some(bytes) = &existing {
        let text = String::from_utf8_lossy(bytes);
        let meta = preview::read_meta(&text).map_err(|why| {
            Error::Usage(format!(
                "{file} on `{}` is not a preview of ferry's ({why}); remove it, or give this preview another --name",
                site.settings.branch
            ))
        })?;
        if meta.name != base.name {
            return Err(Error::Usage(format!(
                "{file} on `{}` belongs to preview {}, not {}: their names make the same slug `{}`; give this preview another --name",
                site.settings.branch,
                render::yaml_string(&meta.name),
                render::yaml_string(&base.name),
                base.slug
            )));
        }
        status = UpStatus::Updated;
        if let (Some(updated), Some(expires)) = (meta.updated_at, meta.expires_at) {
            context.updated_at = updated.to_string();
            context.expires_at = expires.to_string();
            let same = preview::render(template, &context)?;
            if same.as_bytes() == bytes.as_slice() {
                // Renew once less than half the time to live is left: a rerun soon after
                // changes nothing, a preview kept in use does not expire.
                if now.until(expires) > ttl / 2 {
                    return Ok(Planned::Nothing(UpPlan {
                        status: UpStatus::Unchanged,
                        context,
                        text: same,
                        evicted: Vec::new(),
                    }));
                }
                status = UpStatus::Renewed;
            }
        }
    }
    context.updated_at = now.to_string();
    context.expires_at = now.after(ttl).to_string();
    let text = preview::render(template, &context)?;
    let mut edits: Vec<Edit> = vec![(file.to_owned(), Some(text.clone().into_bytes()))];
    if tip.is_none() {
        // A new branch: a note that keeps the directory when the last preview goes (an agent
        // watching a path that vanished reports an error instead of pruning).
        let readme = if site.directory().is_empty() {
            "README.md".to_owned()
        } else {
            format!("{}/README.md", site.directory())
        };
        edits.push((readme, Some(PLACEHOLDER.as_bytes().to_vec())));
    }
    let mut evicted = Vec::new();
    if existing.is_none()
        && let Some(max) = site.settings.max
    {
        let (mut live, _) = live_previews(store, site, tip)?;
        live.retain(|l| l.file != file);
        if live.len() >= max as usize {
            if site.settings.on_max == OnMax::Fail {
                return Err(Error::Limit(format!(
                    "{} previews are alive on `{}`, the most previews.max allows; preview `{}` was not created. Remove one (`ferry preview down --name NAME`, `ferry preview gc`), raise previews.max, or set previews.on-max: evict-oldest",
                    live.len(),
                    site.settings.branch,
                    base.slug
                )));
            }
            live.sort_by(|a, b| (a.meta.updated_at, &a.slug).cmp(&(b.meta.updated_at, &b.slug)));
            let excess = live.len() + 1 - max as usize;
            for gone in live.into_iter().take(excess) {
                edits.push((gone.file.clone(), None));
                evicted.push(gone);
            }
        }
    }
    let mut message = format!(
        "preview: {} {}\n\n{}",
        match status {
            UpStatus::Created => "create",
            UpStatus::Renewed => "renew",
            _ => "update",
        },
        base.slug,
        base.images
            .iter()
            .map(|i| format!("- {}", one_line(&i.reference)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for gone in &evicted {
        let _ = write!(message, "\n- evicted preview {}", gone.slug);
    }
    message.push('\n');
    let trailers = trailers_of(base);
    if !trailers.is_empty() {
        message.push('\n');
        message.push_str(&trailers);
    }
    Ok(Planned::Write {
        edits,
        message,
        value: UpPlan {
            status,
            context,
            text,
            evicted,
        },
    })
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

fn up_report(
    status: UpStatus,
    site: &Site,
    name: &str,
    file: &str,
    commit: Option<String>,
) -> UpReport {
    let (slug, namespace, release) = site.names(name);
    UpReport {
        status,
        name: name.to_owned(),
        url: site.url_of(&slug),
        slug,
        namespace,
        release,
        file: file.to_owned(),
        branch: site.settings.branch.clone(),
        commit,
        change_request: None,
        updated_at: String::new(),
        expires_at: String::new(),
        evicted: Vec::new(),
        attempts: 0,
    }
}

/// The sticky comment of a live preview.
fn up_comment(context: &PreviewContext, words: forge::Words) -> String {
    let mut body = format!("### Preview {}\n\n", render::markdown_code(&context.slug));
    body.push_str("| | |\n|---|---|\n");
    if let Some(url) = &context.url {
        let _ = writeln!(body, "| URL | {url} |");
    }
    let _ = writeln!(
        body,
        "| Namespace | {} |",
        render::markdown_code(&context.namespace)
    );
    let images: Vec<String> = context
        .images
        .iter()
        .map(|i| render::markdown_code(&i.reference))
        .collect();
    let _ = writeln!(body, "| Images | {} |", images.join("<br>"));
    let _ = writeln!(body, "| Updated | {} |", context.updated_at);
    let _ = writeln!(body, "| Expires | {} |", context.expires_at);
    let _ = write!(
        body,
        "\nRemoved when this {} closes, or by `ferry preview down`.\n",
        words.change_request
    );
    body
}

/// Tells a removed preview's merge request, when ferry knows it; a failure is a warning (the
/// preview is gone either way).
fn notify_removed(apps: &mut Apps<'_>, gone: &Live, why: &str, now: Time) {
    let (Some(number), Some(project)) = (gone.meta.change_request, gone.meta.project.as_deref())
    else {
        return;
    };
    if !apps.allows(project, &gone.slug) {
        return;
    }
    let body = removed_body(&gone.slug, why, now);
    let result = apps
        .forge(project)
        .and_then(|forge| comment(forge, number, &gone.slug, &body));
    if let Err(e) = result {
        tracing::warn!(
            "could not update the comment of preview `{}`: {e}",
            gone.slug
        );
    }
}

/// The sticky comment of a removed preview.
fn removed_body(slug: &str, why: &str, now: Time) -> String {
    format!(
        "### Preview {}\n\nRemoved at {now}: {why}.\n",
        render::markdown_code(slug)
    )
}

fn publish(context: Option<&Context>, outputs: &Outputs) {
    ci::publish_or_warn(context, outputs);
}

/// A transaction that only removes previews (`down`, `gc`): it never creates the branch, and
/// on a branch that does not exist there is nothing to remove (`T::default()`).
fn removing<T: Default>(
    site: &Site,
    store: &mut Remote,
    dry_run: bool,
    mut plan: impl FnMut(&dyn Store, &Tip) -> Result<Planned<T>, Error>,
) -> Result<transaction::Committed<T>, Error> {
    let tx = Transaction {
        create: false,
        ..site.transaction(dry_run)
    };
    let committed = transaction::transact(store, &tx, |store, tip| match tip {
        Some(tip) => plan(store, tip),
        None => Ok(Planned::Nothing(T::default())),
    });
    match committed {
        Err(Error::Git(e)) if matches!(*e, crate::git::GitError::NoSuchBranch { .. }) => {
            Ok(transaction::Committed {
                value: T::default(),
                commit: None,
                attempts: 1,
            })
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// down

#[derive(Debug, Serialize)]
struct DownReport {
    /// `removed`, `absent` (nothing to do) or `dry-run`.
    status: &'static str,
    name: String,
    slug: String,
    file: String,
    branch: String,
    commit: Option<String>,
    attempts: u32,
}

fn down(args: &PreviewDownArgs, output: Output) -> Result<Exit, Error> {
    let context = Context::from_env();
    let (name, number) = which(&args.which, context.as_ref())?;
    let (site, mut store) = Site::open(&args.repo)?;
    let (slug, _, _) = site.names(&name);
    let file = site.file_of(&slug);
    let committed = removing(&site, &mut store, args.dry_run, |store, tip| {
        let Some(bytes) = store.read_file(tip, &file)? else {
            return Ok(Planned::Nothing(None));
        };
        let meta = preview::read_meta(&String::from_utf8_lossy(&bytes)).map_err(|why| {
            Error::Usage(format!(
                "{file} on `{}` is not a preview of ferry's ({why}); ferry leaves it alone",
                site.settings.branch
            ))
        })?;
        if meta.name != name {
            return Err(Error::Usage(format!(
                "{file} on `{}` belongs to preview {}, not {}; ferry leaves it alone",
                site.settings.branch,
                render::yaml_string(&meta.name),
                render::yaml_string(&name)
            )));
        }
        Ok(Planned::Write {
            edits: vec![(file.clone(), None)],
            message: format!("preview: remove {slug}\n\nFerry-Preview: {slug}\n"),
            value: Some(meta),
        })
    })?;
    let status = match (&committed.value, args.dry_run) {
        (None, _) => "absent",
        (Some(_), true) => "dry-run",
        (Some(_), false) => "removed",
    };
    let text = match status {
        "absent" => format!(
            "No preview `{slug}` on `{}`: nothing to do.\n",
            site.settings.branch
        ),
        "dry-run" => format!(
            "Dry run: would remove {file} from `{}`.\n",
            site.settings.branch
        ),
        _ => format!(
            "Removed preview `{slug}` ({file} on `{}`, commit {}).\n",
            site.settings.branch,
            committed
                .commit
                .as_deref()
                .map(|c| &c[..7.min(c.len())])
                .unwrap_or_default()
        ),
    };
    if status == "removed" && site.settings.comment {
        let mut apps = Apps::new(&args.app, &site, context.as_ref());
        let meta = committed.value.clone().unwrap_or_else(|| Meta {
            name: name.clone(),
            expires_at: None,
            updated_at: None,
            change_request: None,
            project: None,
            change_request_url: None,
        });
        let gone = Live {
            slug: slug.clone(),
            file: file.clone(),
            meta: Meta {
                change_request: meta.change_request.or(number),
                project: meta
                    .project
                    .or_else(|| app_repo(&args.app, context.as_ref())),
                ..meta
            },
        };
        notify_removed(&mut apps, &gone, "`ferry preview down`", site.now);
    }
    let mut outputs = Outputs::default();
    outputs
        .set("status", status)
        .set("changed", (status == "removed").to_string())
        .set("slug", slug.clone())
        .set("preview-file", file.clone())
        .set("commit-sha", committed.commit.clone().unwrap_or_default());
    publish(context.as_ref(), &outputs);
    let report = DownReport {
        status,
        name,
        slug,
        file,
        branch: site.settings.branch.clone(),
        commit: committed.commit,
        attempts: committed.attempts,
    };
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
}

// ---------------------------------------------------------------------------------------------
// list

#[derive(Debug, Serialize)]
struct ListReport {
    branch: String,
    directory: String,
    /// The branch's tip (`None`: the branch does not exist yet).
    commit: Option<String>,
    previews: Vec<Listed>,
    /// Files in the directory that are not previews of ferry's, with why.
    other_files: Vec<OtherFile>,
}

#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    live: Live,
    expired: bool,
}

#[derive(Debug, Serialize)]
struct OtherFile {
    file: String,
    reason: String,
}

fn list(args: &PreviewListArgs, output: Output) -> Result<Exit, Error> {
    let (site, mut store) = Site::open(&args.repo)?;
    let branch = site.settings.branch.clone();
    let tip = match store.fetch(Some(&branch)) {
        Ok(tip) => Some(tip),
        Err(crate::git::GitError::NoSuchBranch { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let (mut live, foreign) = live_previews(&store, &site, tip.as_ref())?;
    live.sort_by(|a, b| a.slug.cmp(&b.slug));
    let now = site.now;
    let previews: Vec<Listed> = live
        .into_iter()
        .map(|live| Listed {
            expired: live.meta.expires_at.is_some_and(|e| e <= now),
            live,
        })
        .collect();
    let mut text = String::new();
    match &tip {
        None => {
            let _ = writeln!(
                text,
                "No previews: branch `{branch}` does not exist yet (`ferry preview up` creates it)."
            );
        }
        Some(_) if previews.is_empty() => {
            let _ = writeln!(text, "No previews on `{branch}`.");
        }
        Some(_) => {
            // Slugs are DNS labels, up to 63 characters.
            let width = previews
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
            for p in &previews {
                let time = |t: Option<Time>| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
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
    }
    for (file, why) in &foreign {
        let _ = writeln!(
            text,
            "Not ferry's, left alone: {} ({})",
            one_line(file),
            one_line(why)
        );
    }
    let report = ListReport {
        branch,
        directory: site.directory().to_owned(),
        commit: tip.map(|t| t.commit),
        previews,
        other_files: foreign
            .into_iter()
            .map(|(file, reason)| OtherFile { file, reason })
            .collect(),
    };
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
}

// ---------------------------------------------------------------------------------------------
// gc

#[derive(Debug, Clone, Serialize)]
struct Collected {
    slug: String,
    file: String,
    name: String,
    change_request: Option<u64>,
    reason: String,
}

#[derive(Debug, Serialize)]
struct GcReport {
    /// `removed`, `nothing` or `dry-run`.
    status: &'static str,
    branch: String,
    commit: Option<String>,
    removed: Vec<Collected>,
    kept: usize,
    attempts: u32,
}

fn gc(args: &PreviewGcArgs, output: Output) -> Result<Exit, Error> {
    let context = Context::from_env();
    let (site, mut store) = Site::open(&args.repo)?;
    let mut apps = Apps::new(&args.app, &site, context.as_ref());
    let now = site.now;
    // The forge's answers, kept across attempts: a retry asks only about new previews.
    let mut states: HashMap<(String, u64), CrState> = HashMap::new();
    let mut kept = 0;
    let mut removed_live: Vec<Live> = Vec::new();
    let committed = removing(&site, &mut store, args.dry_run, |store, tip| {
        let (live, foreign) = live_previews(store, &site, Some(tip))?;
        for (file, why) in &foreign {
            tracing::warn!(
                "not ferry's, left alone: {} ({})",
                one_line(file),
                one_line(why)
            );
        }
        let mut removed = Vec::new();
        removed_live.clear();
        kept = 0;
        for preview in live {
            let reason = match (preview.meta.change_request, &preview.meta.project) {
                (Some(number), Some(project)) if apps.allows(project, &preview.slug) => {
                    let key = (project.clone(), number);
                    let state = match states.get(&key) {
                        Some(state) => *state,
                        None => {
                            let forge = apps.forge(project)?;
                            let state = forge.get(number)?.state;
                            states.insert(key, state);
                            state
                        }
                    };
                    match state {
                        CrState::Merged => Some(format!("change request {number} is merged")),
                        CrState::Closed => Some(format!("change request {number} is closed")),
                        CrState::Open => None,
                    }
                }
                _ => None,
            };
            let reason = reason.or_else(|| {
                preview
                    .meta
                    .expires_at
                    .filter(|e| *e <= now)
                    .map(|e| format!("expired at {e}"))
            });
            match reason {
                Some(reason) => {
                    removed.push(Collected {
                        slug: preview.slug.clone(),
                        file: preview.file.clone(),
                        name: preview.meta.name.clone(),
                        change_request: preview.meta.change_request,
                        reason,
                    });
                    removed_live.push(preview);
                }
                None => kept += 1,
            }
        }
        if removed.is_empty() {
            return Ok(Planned::Nothing(removed));
        }
        let mut message = format!("preview: collect {} preview(s)\n\n", removed.len());
        for r in &removed {
            let _ = writeln!(message, "- {}: {}", r.slug, r.reason);
        }
        Ok(Planned::Write {
            edits: removed.iter().map(|r| (r.file.clone(), None)).collect(),
            message,
            value: removed,
        })
    })?;
    let removed = committed.value;
    let status = match (removed.is_empty(), args.dry_run) {
        (true, _) => "nothing",
        (false, true) => "dry-run",
        (false, false) => "removed",
    };
    let mut text = String::new();
    if removed.is_empty() {
        let _ = writeln!(
            text,
            "Nothing to collect on `{}`: {kept} preview(s), all open and unexpired.",
            site.settings.branch
        );
    } else {
        let _ = writeln!(
            text,
            "{} {} preview(s) from `{}`{}:",
            if args.dry_run {
                "Would remove"
            } else {
                "Removed"
            },
            removed.len(),
            site.settings.branch,
            committed
                .commit
                .as_deref()
                .filter(|_| !args.dry_run)
                .map(|c| format!(" (commit {})", &c[..7.min(c.len())]))
                .unwrap_or_default()
        );
        for r in &removed {
            let _ = writeln!(text, "  {}: {}", r.slug, r.reason);
        }
        let _ = writeln!(text, "Kept {kept} preview(s).");
    }
    if status == "removed" && site.settings.comment {
        for (gone, why) in removed_live.iter().zip(&removed) {
            notify_removed(&mut apps, gone, &why.reason, now);
        }
    }
    tracing::debug!(calls = apps.calls(), "api calls");
    let mut outputs = Outputs::default();
    outputs
        .set("status", status)
        .set("changed", (status == "removed").to_string())
        .set("removed", removed.len().to_string())
        .set("commit-sha", committed.commit.clone().unwrap_or_default());
    publish(context.as_ref(), &outputs);
    let report = GcReport {
        status,
        branch: site.settings.branch.clone(),
        commit: committed.commit,
        removed,
        kept,
        attempts: committed.attempts,
    };
    report::emit(output, &report, &text)?;
    Ok(Exit::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageName;

    /// A live preview's context, as `up` renders it.
    fn rendered(url: bool, images: &[(&str, &str, Option<&str>)]) -> PreviewContext {
        let (slug, namespace, release) = preview::names("feature/new-cart", "preview-", 63, 53);
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
        insta::assert_snapshot!(
            "up_comment_gitlab",
            up_comment(&one, ForgeKind::GitLab.words())
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let two = rendered(
            false,
            &[
                ("ghcr.io/acme/cart", "1.2.3", Some(&digest)),
                ("nginx", "", Some(&digest)),
                ("registry.example.com:5000/acme/web", "v1", None),
            ],
        );
        insta::assert_snapshot!(
            "up_comment_github",
            up_comment(&two, ForgeKind::GitHub.words())
        );
    }

    #[test]
    fn the_removed_comment() {
        let now = Time::parse("2026-11-23T12:00:00Z").expect("time");
        let gone = "preview-feature-new-cart-1a2b3c4d";
        insta::assert_snapshot!(
            "removed_comment",
            format!(
                "{}\n{}",
                marker(gone),
                removed_body(gone, "change request 42 is closed", now)
            )
        );
    }
}
