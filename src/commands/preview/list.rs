//! `ferry preview list`: the previews on the previews branch.

use super::super::Error;
use super::live::live_previews;
use super::request::RepoRequest;
use super::settings::PreviewSite;
use crate::git::{GitError, Store};
use crate::outcome::preview::{ListReport, Listed};

pub(super) fn list(request: &RepoRequest) -> Result<ListReport, Error> {
    let mut open = PreviewSite::open(request)?;
    let settings = &open.settings;
    let tip = match open.site.store.fetch(Some(settings.branch())) {
        Ok(tip) => Some(tip),
        Err(GitError::NoSuchBranch { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let (mut live, other_files) = live_previews(&open.site.store, settings, tip.as_ref())?;
    live.sort_by(|a, b| a.slug.cmp(&b.slug));
    let now = settings.now;
    let previews = live
        .into_iter()
        .map(|live| Listed {
            expired: live.meta.expires_at.is_some_and(|e| e <= now),
            live,
        })
        .collect();
    Ok(ListReport {
        branch: settings.branch().to_owned(),
        directory: settings.directory().to_owned(),
        commit: tip.map(|t| t.commit),
        previews,
        other_files,
    })
}
