//! The application repositories (where the merge requests are): which may be asked, and the
//! sticky comment ferry keeps on a preview's merge request.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use super::super::Error;
use super::request::AppRequest;
use super::settings::Settings;
use crate::ci::{self, one_line};
use crate::clock::Time;
use crate::config;
use crate::forge::{self, Forge};
use crate::git::RepoUrl;
use crate::outcome::preview::Live;
use crate::present;
use crate::render;
use crate::report;

/// Connections to the forges of application repositories, by repository URL, made when first
/// needed.
///
/// Only the application repository of the run (`--app-repo`, the CI's repository) and those
/// listed in `previews.projects` are ever asked, whatever a preview file on the previews branch
/// names: whoever can write that branch must not be able to send the token elsewhere.
pub(super) struct Apps<'a> {
    request: &'a AppRequest,
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
    pub fn new(
        request: &'a AppRequest,
        settings: &Settings,
        site_token: Option<&(SecretString, bool)>,
    ) -> Apps<'a> {
        if let Some(token) = &request.token {
            report::add_secret(token.expose_secret());
        }
        let allowed = request
            .repo
            .clone()
            .into_iter()
            .chain(settings.previews.projects.iter().cloned())
            .filter_map(|url| project_key(&url))
            .collect();
        Apps {
            request,
            site_token: site_token.cloned(),
            connected: HashMap::new(),
            allowed,
            refused: Vec::new(),
        }
    }

    /// Whether `project` (read from a preview file) may be asked; warns once when not.
    pub fn allows(&mut self, project: &str, slug: &str) -> bool {
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

    pub fn forge(&mut self, project: &str) -> Result<&dyn Forge, Error> {
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
                .request
                .token
                .clone()
                .map(|t| (t, false))
                .or_else(|| self.site_token.clone());
            let settings =
                forge::resolve_settings(&self.request.forge, &url, token, &ci::process_env)?;
            self.connected
                .insert(project.to_owned(), forge::connect(settings)?);
        }
        Ok(self.connected[project].as_ref())
    }

    pub fn calls(&self) -> u32 {
        self.connected.values().map(|f| f.calls()).sum()
    }

    /// Tells a removed preview's merge request, when ferry knows it; a failure is a warning
    /// (the preview is gone either way).
    pub fn notify_removed(&mut self, gone: &Live, why: &str, now: Time) {
        let (Some(number), Some(project)) =
            (gone.meta.change_request, gone.meta.project.as_deref())
        else {
            return;
        };
        if !self.allows(project, &gone.slug) {
            return;
        }
        let result = present::preview::removed_comment(&gone.slug, why, now)
            .map_err(Error::from)
            .and_then(|body| {
                let forge = self.forge(project)?;
                comment(forge, number, &gone.slug, &body)
            });
        if let Err(e) = result {
            tracing::warn!(
                "could not update the comment of preview `{}`: {e}",
                gone.slug
            );
        }
    }
}

/// The sticky comment's marker for a preview (one comment per preview and merge request).
fn marker(slug: &str) -> String {
    format!("<!-- ferry:preview slug={slug} -->")
}

/// Keeps the preview's comment on its merge request up to date.
pub(super) fn comment(forge: &dyn Forge, number: u64, slug: &str, body: &str) -> Result<(), Error> {
    let marker = marker(slug);
    let (_, action) = forge.upsert_comment(number, &marker, &format!("{marker}\n{body}"))?;
    tracing::debug!(number, ?action, "comment");
    Ok(())
}
