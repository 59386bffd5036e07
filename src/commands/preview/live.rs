//! The previews on the previews branch, and the transactions that remove some.

use super::super::Error;
use super::super::transaction::{self, Committed, Planned, Transaction};
use super::settings::Settings;
use crate::git::{GitError, Remote, Store, Tip};
use crate::outcome::preview::{Live, OtherFile};
use crate::preview;
use crate::slug;

/// The previews on the branch at `tip` (files directly in the directory that ferry wrote), and
/// the files it holds that are not previews.
pub(super) fn live_previews(
    store: &dyn Store,
    settings: &Settings,
    tip: Option<&Tip>,
) -> Result<(Vec<Live>, Vec<OtherFile>), Error> {
    let Some(tip) = tip else {
        return Ok((Vec::new(), Vec::new()));
    };
    let entries = match store.list_dir(tip, settings.directory(), &|path| {
        !path.contains('/') && (path.ends_with(".yaml") || path.ends_with(".yml"))
    }) {
        Ok(entries) => entries,
        Err(GitError::NoSuchPath { .. }) => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let mut live = Vec::new();
    let mut foreign = Vec::new();
    for entry in entries {
        let file = settings.path_of(&entry.path);
        match read_live(store, settings, &entry)? {
            Ok((slug, meta)) => live.push(Live { slug, file, meta }),
            Err(reason) => foreign.push(OtherFile { file, reason }),
        }
    }
    Ok((live, foreign))
}

/// The preview in the file of `entry` (its slug and annotations), or why it is not one.
///
/// Only a file ferry could have written is a preview: `<slug>.yaml`, where the slug is the one
/// its name annotation gives under the current prefix and limits. Anything else (planted by
/// hand, written by an older ferry without the prefix) is left alone and reported, its name
/// escaped.
fn read_live(
    store: &dyn Store,
    settings: &Settings,
    entry: &crate::git::Entry,
) -> Result<Result<(String, preview::Meta), String>, Error> {
    let Some(stem) = entry.path.strip_suffix(".yaml") else {
        return Ok(Err("not a `.yaml` file ferry writes".to_owned()));
    };
    let prefix = &settings.previews.prefix;
    if !stem.starts_with(prefix.as_str()) || !slug::is_dns_label(stem, 63) {
        return Ok(Err(format!(
            "not a name ferry gives a preview (`{prefix}…` and a hash)"
        )));
    }
    let bytes = store.read_blob(entry)?;
    Ok(match preview::read_meta(&String::from_utf8_lossy(&bytes)) {
        Ok(meta) if settings.names(&meta.name).0 == stem => Ok((stem.to_owned(), meta)),
        Ok(_) => Err(format!(
            "its `{}` annotation does not give this file name (under the current previews.prefix and namespace-limit)",
            preview::ANNOTATION_NAME
        )),
        Err(why) => Err(why),
    })
}

/// A transaction that only removes previews (`down`, `gc`): it never creates the branch, and
/// on a branch that does not exist there is nothing to remove (`T::default()`).
pub(super) fn removing<T: Default>(
    settings: &Settings,
    store: &mut Remote,
    dry_run: bool,
    mut plan: impl FnMut(&dyn Store, &Tip) -> Result<Planned<T>, Error>,
) -> Result<Committed<T>, Error> {
    let tx = Transaction {
        create: false,
        ..settings.transaction(dry_run)
    };
    let committed = transaction::transact(store, &tx, |store, tip| match tip {
        Some(tip) => plan(store, tip),
        None => Ok(Planned::Nothing(T::default())),
    });
    match committed {
        Err(Error::Git(e)) if matches!(*e, GitError::NoSuchBranch { .. }) => Ok(Committed {
            value: T::default(),
            commit: None,
            attempts: 1,
        }),
        other => other,
    }
}
