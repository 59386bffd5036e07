//! A promotion: carrying what runs in one environment to the next.
//!
//! Read the source environment's images (the same reader a bump edits with), keep those the
//! target also has (`read`), check the gates (statuses on the source commit, how long the tags
//! have been in the source, time windows: `gates`), then hand the updates to a bump of the
//! target with the promotion's own words: one change request per target environment on a
//! stable branch (`ferry/<env>/promotion`), recomputed and updated in place when the source
//! moves again. With `--merge` it is merged once the forge says approvals and checks are in and
//! the gates still hold. A promotion's change request met by `ferry merge` is the promotion
//! recorded in its trailers, run again (`merge::merge_gated`). `ferry promote` (`promote.rs`)
//! runs one and reports it.

mod gates;
mod merge;
mod read;
mod request;

pub(crate) use merge::merge_gated;
pub(crate) use request::PromoteRequest;

use super::site::Site;
use super::{Error, bump, change_request};
use crate::ci;
use crate::clock::Time;
use crate::config::Config;
use crate::exit::Exit;
use crate::image::ImageUpdate;
use crate::inventory::short_tag;
use crate::outcome::promotion::{ChangeRequest, Promotion, Status, Step};
use crate::trailers;
use read::Reading;
use trailers::{GATE, PROMOTION};

/// The label on every promotion change request, beside `ferry` and `env:<target>`.
pub const LABEL: &str = "ferry:promotion";

/// The environment before `to` in `promotion.order`.
pub(crate) fn predecessor(config: &Config, to: &str) -> Result<String, Error> {
    let order = config
        .promotion
        .as_ref()
        .map(|p| p.order.as_slice())
        .unwrap_or_default();
    match order.iter().position(|e| e == to) {
        Some(0) => Err(Error::Usage(format!(
            "`{}` is the first environment in promotion.order: nothing is promoted into it; pass --from",
            ci::one_line(to)
        ))),
        Some(i) => Ok(order[i - 1].clone()),
        None if order.is_empty() => Err(Error::Usage(format!(
            "pass --from: ferry.yaml has no promotion.order to find what comes before `{}`",
            ci::one_line(to)
        ))),
        None => Err(Error::Usage(format!(
            "`{}` is not in promotion.order ({}); pass --from or add it there",
            ci::one_line(to),
            order.join(", ")
        ))),
    }
}

/// Promotes (and merges when asked): what was read, checked and done.
pub(crate) fn execute(args: &PromoteRequest) -> Result<Promotion, Error> {
    let now = args.now.unwrap_or_else(Time::now);
    let mut source = Site::open(&args.source)?;
    let config = source.config()?.clone();
    let from_name = match &args.from {
        Some(from) => from.clone(),
        None => predecessor(&config, &args.to)?,
    };
    request::distinct(&from_name, &args.to, args.target.is_some())?;
    let mut target_site = match &args.target {
        Some(access) => Some(Site::open(access)?),
        None => None,
    };
    let reading = read::read(args, &mut source, target_site.as_mut(), &from_name)?;
    let gates = gates::check(args, &config, &mut source, &reading, now)?;

    let mut promotion = Promotion {
        status: Status::UpToDate,
        from: reading.from.name.clone(),
        to: reading.to.name.clone(),
        source_commit: reading.source_tip.commit.clone(),
        images: reading.rows.clone(),
        skipped: reading.skipped.clone(),
        gates,
        commit: None,
        change_request: None,
        from_path: reading.from.path.clone(),
        step: Step::NothingToPromote {
            no_open_promotion: false,
        },
        words: None,
        exit: Exit::Done,
    };
    let target = target_site.as_ref().unwrap_or(&source);
    if reading.rows.is_empty() {
        // An open promotion may still wait for its merge.
        if args.merge {
            merge::merge_open(args, target, &reading, &mut promotion)?;
        }
    } else if promotion.gates.iter().any(|g| !g.met) {
        promotion.status = Status::Waiting;
        promotion.step = Step::GatesUnmet;
        promotion.exit = Exit::Waiting;
    } else {
        propose(args, &source, target, &reading, now, &mut promotion)?;
    }
    Ok(promotion)
}

/// Writes the promotion into the target (a push, or its change request), then merges it when
/// asked.
fn propose(
    args: &PromoteRequest,
    source: &Site,
    target: &Site,
    reading: &Reading,
    now: Time,
    promotion: &mut Promotion,
) -> Result<(), Error> {
    let (request, preset) = bump_args(args, source, target, reading, promotion, now)?;
    let executed = bump::execute(&request.with_preset(preset))?;
    let (line, proposed) = (
        crate::present::bump::one_line(&executed),
        executed.proposed(),
    );
    let exit = executed.exit();
    promotion.step = Step::Bumped { summary: line };
    promotion.exit = exit;
    promotion.commit.clone_from(&executed.commit);
    promotion.status = match (exit, proposed.is_some(), args.write.dry_run) {
        (Exit::Done, _, true) => Status::DryRun,
        (Exit::Done, true, _) => Status::Proposed,
        (Exit::Done, false, _) if executed.status.as_str() == "up-to-date" => Status::UpToDate,
        (Exit::Done, false, _) => Status::Promoted,
        _ => Status::Refused,
    };
    if let Some((number, _)) = proposed {
        let url = executed.change_request_url().unwrap_or_default();
        promotion.change_request = Some(ChangeRequest {
            number,
            url,
            head_branch: change_request::promotion_branch(&reading.to.name),
            merge: None,
        });
        if args.merge && exit == Exit::Done {
            let forge = target.forge()?;
            merge::merge_number(args, forge.as_ref(), target, number, promotion)?;
        }
    }
    Ok(())
}

/// The bump that writes the promotion into the target.
fn bump_args(
    args: &PromoteRequest,
    source: &Site,
    target: &Site,
    reading: &Reading,
    promotion: &Promotion,
    now: Time,
) -> Result<(bump::Request, change_request::Preset), Error> {
    let updates: Vec<ImageUpdate> = reading
        .rows
        .iter()
        .map(|r| {
            ImageUpdate::at_version(&r.image, &r.new)
                .map_err(|e| Error::Usage(format!("{}: {e}", r.image)))
        })
        .collect::<Result<_, _>>()?;
    let from = &reading.from.name;
    let to = &reading.to.name;
    let title = match reading.rows.as_slice() {
        [one] => format!(
            "Promote {from} → {to}: {} {}",
            short_name(&one.image),
            short_tag(&one.new)
        ),
        rows => format!("Promote {from} → {to}: {} images", rows.len()),
    };
    let preset = change_request::Preset {
        head: Some(change_request::promotion_branch(to)),
        title: Some(title.clone()),
        body: Some(crate::present::promotion::body(promotion, now)?),
        labels: vec![LABEL.to_owned(), format!("env:{to}")],
        subject: Some(format!("{to}: promote from {from}")),
        trailers: promotion_trailers(args, source, reading),
        ..change_request::Preset::default()
    };
    let bump = bump::of_site(
        target,
        &args.write,
        Some(to.clone()),
        updates,
        args.write.via,
    )?;
    Ok((bump, preset))
}

/// The trailers that record the promotion (`ferry merge` runs it again from them).
fn promotion_trailers(
    args: &PromoteRequest,
    source: &Site,
    reading: &Reading,
) -> Vec<(String, String)> {
    let from = &reading.from.name;
    let to = &reading.to.name;
    let mut trailers = vec![
        (PROMOTION.to_owned(), format!("{from} -> {to}")),
        (
            trailers::PROMOTED_FROM.to_owned(),
            reading.source_tip.commit.clone(),
        ),
    ];
    if args.target.is_some() {
        trailers.push((
            trailers::PROMOTED_FROM_REPO.to_owned(),
            source.url.to_string(),
        ));
    }
    let gates = &args.gates;
    let recorded = gates
        .require_status
        .iter()
        .map(|s| format!("require-status={s}"))
        .chain(gates.min_age.iter().map(|d| format!("min-age={d}")))
        .chain(gates.windows.iter().map(|w| format!("window={}", w.text)));
    trailers.extend(recorded.map(|g| (GATE.to_owned(), ci::one_line(&g))));
    trailers
}

fn short_name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}
