//! `ferry rollback`: set an image of an environment back to a version it ran before, found in
//! the environment branch's history, through the environment's usual way (a push, or a change
//! request of its own), with a message that says it is a rollback; `--hold` also puts the
//! environment on hold in ferry.yaml, in the same commit, so that the next build's bump does not
//! undo it.

use std::fmt::Write as _;

use serde::Serialize;

use super::site::{self, Site};
use super::{Error, bump, change_request};
use crate::ci::{self, Context, Outputs};
use crate::cli::RollbackArgs;
use crate::exit::Exit;
use crate::history::{self, Change};
use crate::image::ImageUpdate;
use crate::inventory::{Inventory, short_tag};
use crate::report::{self, Output};
use crate::trailers;

#[derive(Debug, Serialize)]
struct Report {
    status: &'static str,
    environment: String,
    image: String,
    from: String,
    to: String,
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change_request: Option<(u64, String)>,
}

pub fn run(args: &RollbackArgs, output: Output) -> Result<Exit, Error> {
    let mut site = Site::open(&site::Access::of(&args.repo)?)?;
    let env = site.environment(&args.env)?;
    let tip = site.tip_of(&env)?;
    let image = super::image_flag(&args.image)?;
    let name = image.to_string();
    let inventory = Inventory::read(&site.store, &tip, &env.path)?;
    let current = inventory
        .get(&image)
        .ok_or_else(|| {
            Error::Usage(format!(
                "`{}` does not reference {name} (in {}): nothing to roll back",
                env.name, env.path
            ))
        })?
        .version();
    let steps = args.steps.unwrap_or(1).max(1);
    let wanted = |i: &str| i == name;
    let found = |changes: &[Change]| match &args.to {
        Some(to) => changes
            .iter()
            .any(|c| c.from.as_deref().is_some_and(|f| same_tag(f, to))),
        None => earlier_versions(changes, &current).len() >= steps,
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
    let target = match &args.to {
        Some(to) => {
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
        None => earlier
            .get(steps - 1)
            .cloned()
            .ok_or_else(|| not_found(&env.name, &name, &earlier, walk.cut, None))?,
    };
    let reason = args.reason.as_deref().map(ci::one_line).unwrap_or_default();
    let update = ImageUpdate::at_version(&name, &target).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}",
            ci::one_line(&format!("{name}={target}"))
        ))
    })?;
    let mut trailers = vec![(
        trailers::ROLLBACK.to_owned(),
        format!("{name} {current} -> {target}"),
    )];
    if !reason.is_empty() {
        trailers.push((trailers::REASON.to_owned(), reason.clone()));
    }
    let mut body = format!(
        "Rolls {} in {} back from {} to {}, a version it ran before.\n",
        crate::render::markdown_code(&name),
        crate::render::markdown_code(&env.name),
        crate::render::markdown_code(&current),
        crate::render::markdown_code(&target),
    );
    if !reason.is_empty() {
        let _ = write!(
            body,
            "\nReason: {}\n",
            crate::render::markdown_code(&reason)
        );
    }
    if args.hold {
        let _ = write!(
            body,
            "\nIt also puts {} on hold in ferry.yaml: bumps are refused until someone removes `hold: true`.\n",
            crate::render::markdown_code(&env.name)
        );
    }
    let preset = change_request::Preset {
        head: Some(change_request::rollback_branch(&env.name, &image)),
        title: Some(format!(
            "Roll back {} in {} to {}",
            image.last_component(),
            env.name,
            short_tag(&target)
        )),
        body: Some(body),
        labels: vec!["ferry:rollback".to_owned(), format!("env:{}", env.name)],
        subject: Some(format!(
            "{}: roll back {} to {} (was {})",
            env.name,
            image.last_component(),
            short_tag(&target),
            short_tag(&current)
        )),
        trailers,
        hold: args.hold.then(|| reason.clone()),
        ignore_hold: true,
    };
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
    let exit = executed.exit();
    let mut text = format!(
        "Rollback of {name} in `{}`: {current} → {target}{}\n{line}\n",
        env.name,
        if args.hold { " (and on hold)" } else { "" }
    );
    if let Some(url) = executed.change_request_url() {
        let _ = writeln!(text, "{url}");
    }
    let report = Report {
        status: executed.status.as_str(),
        environment: env.name.clone(),
        image: name.clone(),
        from: current.clone(),
        to: target.clone(),
        held: args.hold,
        commit: executed.commit.clone(),
        change_request: proposed
            .map(|(n, _)| (n, executed.change_request_url().unwrap_or_default())),
    };
    let mut outputs = Outputs::default();
    outputs
        .set("status", report.status)
        .set(
            "changed",
            (exit == Exit::Done && report.status != "up-to-date" && report.status != "dry-run")
                .to_string(),
        )
        .set("commit-sha", report.commit.clone().unwrap_or_default())
        .set("rolled-back-to", target.clone())
        .set(
            "pr-number",
            report
                .change_request
                .as_ref()
                .map(|(n, _)| n.to_string())
                .unwrap_or_default(),
        )
        .set(
            "pr-url",
            report
                .change_request
                .as_ref()
                .map(|(_, u)| u.clone())
                .unwrap_or_default(),
        );
    outputs.summary = format!("### ferry rollback\n\n{text}");
    ci::publish_or_warn(Context::from_env().as_ref(), &outputs);
    report::emit(output, &report, &text)?;
    Ok(exit)
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
