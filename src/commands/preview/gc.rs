//! `ferry preview gc`: remove, in one commit, every preview whose merge request is closed or
//! merged or whose expiry has passed.

use std::collections::HashMap;

use super::super::Error;
use super::super::transaction::Planned;
use super::apps::Apps;
use super::live::{live_previews, removing};
use super::request::GcRequest;
use super::settings::{PreviewSite, Settings};
use crate::ci::one_line;
use crate::forge::CrState;
use crate::git::{Store, Tip};
use crate::outcome::preview::{Collected, GcReport, Live};

/// What `gc` keeps across the attempts of its transaction.
struct Sweep<'a, 'b> {
    apps: &'b mut Apps<'a>,
    /// The forge's answers: a retry asks only about new previews.
    states: HashMap<(String, u64), CrState>,
    kept: usize,
    /// The previews the last plan removes, beside their [`Collected`].
    removed: Vec<Live>,
}

pub(super) fn gc(request: &GcRequest) -> Result<GcReport, Error> {
    let mut open = PreviewSite::open(&request.repo)?;
    let mut apps = Apps::new(&request.app, &open.settings, open.site.api_token());
    let mut sweep = Sweep {
        apps: &mut apps,
        states: HashMap::new(),
        kept: 0,
        removed: Vec::new(),
    };
    let committed = removing(
        &open.settings,
        &mut open.site.store,
        request.dry_run,
        |store, tip| sweep.plan(store, tip, &open.settings),
    )?;
    let settings = &open.settings;
    let removed = committed.value;
    let status = match (removed.is_empty(), request.dry_run) {
        (true, _) => "nothing",
        (false, true) => "dry-run",
        (false, false) => "removed",
    };
    if status == "removed" && settings.previews.comment {
        for (gone, why) in sweep.removed.iter().zip(&removed) {
            sweep.apps.notify_removed(gone, &why.reason, settings.now);
        }
    }
    tracing::debug!(calls = sweep.apps.calls(), "api calls");
    Ok(GcReport {
        status,
        branch: settings.branch().to_owned(),
        commit: committed.commit,
        removed,
        kept: sweep.kept,
        attempts: committed.attempts,
    })
}

impl Sweep<'_, '_> {
    /// The plan of `gc` on one snapshot of the previews branch.
    fn plan(
        &mut self,
        store: &dyn Store,
        tip: &Tip,
        settings: &Settings,
    ) -> Result<Planned<Vec<Collected>>, Error> {
        let (live, foreign) = live_previews(store, settings, Some(tip))?;
        for other in &foreign {
            tracing::warn!(
                "not ferry's, left alone: {} ({})",
                one_line(&other.file),
                one_line(&other.reason)
            );
        }
        let mut removed = Vec::new();
        self.removed.clear();
        self.kept = 0;
        for preview in live {
            match self.reason(&preview, settings)? {
                Some(reason) => {
                    removed.push(Collected {
                        slug: preview.slug.clone(),
                        file: preview.file.clone(),
                        name: preview.meta.name.clone(),
                        change_request: preview.meta.change_request,
                        reason,
                    });
                    self.removed.push(preview);
                }
                None => self.kept += 1,
            }
        }
        if removed.is_empty() {
            return Ok(Planned::Nothing(removed));
        }
        let lines: String = removed
            .iter()
            .map(|r| format!("- {}: {}\n", r.slug, r.reason))
            .collect();
        Ok(Planned::Write {
            edits: removed.iter().map(|r| (r.file.clone(), None)).collect(),
            message: format!("preview: collect {} preview(s)\n\n{lines}", removed.len()),
            value: removed,
        })
    }

    /// Why `preview` goes: its merge request is closed or merged, or it expired.
    fn reason(&mut self, preview: &Live, settings: &Settings) -> Result<Option<String>, Error> {
        let state = match (preview.meta.change_request, &preview.meta.project) {
            (Some(number), Some(project)) if self.apps.allows(project, &preview.slug) => {
                let key = (project.clone(), number);
                let state = match self.states.get(&key) {
                    Some(state) => *state,
                    None => {
                        let state = self.apps.forge(project)?.get(number)?.state;
                        self.states.insert(key, state);
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
        Ok(state.or_else(|| {
            preview
                .meta
                .expires_at
                .filter(|e| *e <= settings.now)
                .map(|e| format!("expired at {e}"))
        }))
    }
}
