//! `ferry rollback`: set an image of an environment back to a version it ran before, found in
//! the environment branch's history, through the environment's usual way (a push, or a change
//! request of its own), with a message that says it is a rollback; `--hold` also puts the
//! environment on hold in ferry.yaml, in the same commit, so that the next build's bump does not
//! undo it. What it concluded is an [`outcome::rollback::Rollback`], told by
//! [`present::rollback`].
//!
//! [`outcome::rollback::Rollback`]: crate::outcome::rollback::Rollback
//! [`present::rollback`]: crate::present::rollback

use super::site::{self, Site};
use super::{Error, bump, change_request};
use crate::ci;
use crate::cli::{RollbackArgs, WriteArgs};
use crate::config::ResolvedEnvironment;
use crate::history::{self, Change};
use crate::image::{ImageName, ImageUpdate};
use crate::inventory::{Inventory, short_tag};
use crate::outcome::rollback::{Description, Rollback};
use crate::trailers;

/// A rollback to do, clap-free, checked.
#[derive(Debug, Clone)]
pub(crate) struct RollbackRequest {
    pub env: String,
    pub image: ImageName,
    pub back: Back,
    pub hold: bool,
    /// Why (`--reason`), on one line; empty for none.
    pub reason: String,
    pub max_commits: usize,
    pub access: site::Access,
    /// How the bump of the environment writes.
    pub write: WriteArgs,
}

/// How far back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Back {
    /// To this tag (with or without its digest).
    To(String),
    /// This many versions back (at least one).
    Steps(usize),
}

impl RollbackRequest {
    /// `ferry rollback`'s arguments, checked: the repository's URL and the image's name.
    pub fn from_args(args: &RollbackArgs) -> Result<RollbackRequest, Error> {
        let access = site::Access::of(&args.repo)?;
        let image = super::image_flag(&args.image)?;
        Ok(RollbackRequest {
            env: args.env.clone(),
            image,
            back: match &args.to {
                Some(to) => Back::To(to.clone()),
                None => Back::Steps(args.steps.unwrap_or(1).max(1)),
            },
            hold: args.hold,
            reason: args.reason.as_deref().map(ci::one_line).unwrap_or_default(),
            max_commits: args.max_commits,
            access,
            write: args.write.clone(),
        })
    }
}

/// Rolls the image back: finds the version, then writes it through a bump of the environment.
pub(crate) fn execute(args: &RollbackRequest) -> Result<Rollback, Error> {
    let mut site = Site::open(&args.access)?;
    let env = site.environment(&args.env)?;
    let name = args.image.to_string();
    let (current, target) = versions(args, &mut site, &env)?;
    let update = ImageUpdate::at_version(&name, &target).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}",
            ci::one_line(&format!("{name}={target}"))
        ))
    })?;
    let description = Description {
        image: name.clone(),
        environment: env.name.clone(),
        from: current.clone(),
        to: target.clone(),
        reason: args.reason.clone(),
        hold: args.hold,
    };
    let preset = preset(args, &env, &description)?;
    let request = bump::of_site(
        &site,
        &args.write,
        Some(env.name.clone()),
        vec![update],
        args.write.via,
    )?;
    let executed = bump::execute(&request.with_preset(preset))?;
    let (line, proposed) = (
        crate::present::bump::one_line(&executed),
        executed.proposed(),
    );
    Ok(Rollback {
        status: executed.status.as_str(),
        environment: env.name.clone(),
        image: name,
        from: current,
        to: target,
        held: args.hold,
        commit: executed.commit.clone(),
        change_request: proposed
            .map(|(n, _)| (n, executed.change_request_url().unwrap_or_default())),
        summary: line,
        url: executed.change_request_url(),
        exit: executed.exit(),
    })
}

/// The image's version now and the earlier one to go back to, from the environment's history.
fn versions(
    args: &RollbackRequest,
    site: &mut Site,
    env: &ResolvedEnvironment,
) -> Result<(String, String), Error> {
    let tip = site.tip_of(env)?;
    let name = args.image.to_string();
    let inventory = Inventory::read(&site.store, &tip, &env.path)?;
    let current = inventory
        .get(&args.image)
        .ok_or_else(|| {
            Error::Usage(format!(
                "`{}` does not reference {name} (in {}): nothing to roll back",
                env.name, env.path
            ))
        })?
        .version();
    let wanted = |i: &str| i == name;
    let found = |changes: &[Change]| match &args.back {
        Back::To(to) => changes
            .iter()
            .any(|c| c.from.as_deref().is_some_and(|f| same_tag(f, to))),
        Back::Steps(steps) => earlier_versions(changes, &current).len() >= *steps,
    };
    let walk = history::walk(
        &mut site.store,
        &tip,
        &env.path,
        &wanted,
        args.max_commits,
        &found,
    )?;
    let earlier = earlier_versions(&walk.changes, &current);
    let target = match &args.back {
        Back::To(to) => {
            if same_tag(&current, to) {
                return Err(Error::Usage(format!(
                    "{name} already runs {current} in `{}`: nothing to roll back",
                    env.name
                )));
            }
            earlier
                .iter()
                .find(|v| same_tag(v, to))
                .cloned()
                .ok_or_else(|| not_found(&env.name, &name, &earlier, walk.cut, Some(to)))?
        }
        Back::Steps(steps) => earlier
            .get(steps - 1)
            .cloned()
            .ok_or_else(|| not_found(&env.name, &name, &earlier, walk.cut, None))?,
    };
    Ok((current, target))
}

/// The rollback's own words for its commit and change request.
fn preset(
    args: &RollbackRequest,
    env: &ResolvedEnvironment,
    description: &Description,
) -> Result<change_request::Preset, Error> {
    let (current, target) = (&description.from, &description.to);
    let mut trailers = vec![(
        trailers::ROLLBACK.to_owned(),
        format!("{} {current} -> {target}", description.image),
    )];
    if !args.reason.is_empty() {
        trailers.push((trailers::REASON.to_owned(), args.reason.clone()));
    }
    Ok(change_request::Preset {
        head: Some(change_request::rollback_branch(&env.name, &args.image)),
        title: Some(format!(
            "Roll back {} in {} to {}",
            args.image.last_component(),
            env.name,
            short_tag(target)
        )),
        body: Some(crate::present::rollback::body(description)?),
        labels: vec!["ferry:rollback".to_owned(), format!("env:{}", env.name)],
        subject: Some(format!(
            "{}: roll back {} to {} (was {})",
            env.name,
            args.image.last_component(),
            short_tag(target),
            short_tag(current)
        )),
        trailers,
        hold: args.hold.then(|| args.reason.clone()),
        ignore_hold: true,
    })
}
/// The versions the image ran before `current`, newest first, each once.
fn earlier_versions(changes: &[Change], current: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for change in changes {
        if let Some(from) = &change.from
            && from != current
            && !versions.contains(from)
        {
            versions.push(from.clone());
        }
    }
    versions
}

/// Whether version `version` (`TAG[@DIGEST]`) is `tag` (with or without the digest).
fn same_tag(version: &str, tag: &str) -> bool {
    version == tag || version.split('@').next() == Some(tag)
}

fn not_found(env: &str, image: &str, earlier: &[String], cut: bool, to: Option<&str>) -> Error {
    let seen = if earlier.is_empty() {
        "no earlier version".to_owned()
    } else {
        format!("earlier versions: {}", earlier.join(", "))
    };
    let what = match to {
        Some(to) => format!("{to} is not a version {image} ran in `{env}`"),
        None => format!("{image} has fewer earlier versions in `{env}` than asked"),
    };
    Error::Usage(format!(
        "{what} ({seen}{}); pick one of those with --to",
        if cut {
            "; history was cut, raise --max-commits to look further back"
        } else {
            ""
        }
    ))
}
