//! `ferry preview down`: remove the preview of a merge request.

use super::super::Error;
use super::super::transaction::Planned;
use super::apps::Apps;
use super::live::removing;
use super::request::DownRequest;
use super::settings::{PreviewSite, Settings};
use crate::git::{Store, Tip};
use crate::outcome::preview::{DownReport, Live};
use crate::preview::{self, Meta};
use crate::render;

pub(super) fn down(request: &DownRequest) -> Result<DownReport, Error> {
    let mut open = PreviewSite::open(&request.repo)?;
    let settings = &open.settings;
    let name = &request.name;
    let (slug, _, _) = settings.names(name);
    let file = settings.file_of(&slug);
    let committed = removing(
        &open.settings,
        &mut open.site.store,
        request.dry_run,
        |store, tip| plan_down(store, tip, &open.settings, name, &slug, &file),
    )?;
    let settings = &open.settings;
    let status = match (&committed.value, request.dry_run) {
        (None, _) => "absent",
        (Some(_), true) => "dry-run",
        (Some(_), false) => "removed",
    };
    if status == "removed" && settings.previews.comment {
        let mut apps = Apps::new(&request.app, settings, open.site.api_token());
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
                change_request: meta.change_request.or(request.change_request),
                project: meta.project.or_else(|| request.app.repo.clone()),
                ..meta
            },
        };
        apps.notify_removed(&gone, "`ferry preview down`", settings.now);
    }
    Ok(DownReport {
        status,
        name: name.clone(),
        slug,
        file,
        branch: settings.branch().to_owned(),
        commit: committed.commit,
        attempts: committed.attempts,
    })
}

/// The plan of `down` on one snapshot of the previews branch: remove the preview's file, if
/// it is this preview's.
fn plan_down(
    store: &dyn Store,
    tip: &Tip,
    settings: &Settings,
    name: &str,
    slug: &str,
    file: &str,
) -> Result<Planned<Option<Meta>>, Error> {
    let Some(bytes) = store.read_file(tip, file)? else {
        return Ok(Planned::Nothing(None));
    };
    let meta = preview::read_meta(&String::from_utf8_lossy(&bytes)).map_err(|why| {
        Error::Usage(format!(
            "{file} on `{}` is not a preview of ferry's ({why}); ferry leaves it alone",
            settings.branch()
        ))
    })?;
    if meta.name != name {
        return Err(Error::Usage(format!(
            "{file} on `{}` belongs to preview {}, not {}; ferry leaves it alone",
            settings.branch(),
            render::yaml_string(&meta.name),
            render::yaml_string(name)
        )));
    }
    Ok(Planned::Write {
        edits: vec![(file.to_owned(), None)],
        message: format!("preview: remove {slug}\n\nFerry-Preview: {slug}\n"),
        value: Some(meta),
    })
}
