//! Merging a promotion's change request: after `ferry promote --merge` proposed it (or found it
//! open), and when `ferry merge` meets one ([`merge_gated`]: the promotion recorded in its
//! trailers, run again, so that its gates are checked again before it merges).

use std::path::PathBuf;
use std::str::FromStr as _;

use super::super::merging::{self, MergeRequest};
use super::super::site::{Access, Site};
use super::super::{Error, change_request};
use super::read::Reading;
use super::request::{Asked, PromoteRequest};
use crate::ci;
use crate::cli::{Commit, Signing, WriteArgs};
use crate::clock::Time;
use crate::config::Duration;
use crate::exit::Exit;
use crate::forge::{self, Forge};
use crate::git::RepoUrl;
use crate::outcome::merge::{self as merged, Item};
use crate::outcome::promotion::{ChangeRequest, Promotion, Status, Step};
use crate::trailers::{self, GATE, PROMOTION};

/// Merges the open promotion change request of the target, if any (`--merge` with nothing new
/// to promote).
pub(super) fn merge_open(
    args: &PromoteRequest,
    target: &Site,
    reading: &Reading,
    promotion: &mut Promotion,
) -> Result<(), Error> {
    let forge = target.forge()?;
    let head = change_request::promotion_branch(&reading.to.name);
    let Some(open) = forge.find_open(&head, &reading.to.branch)? else {
        promotion.step = Step::NothingToPromote {
            no_open_promotion: true,
        };
        return Ok(());
    };
    if promotion.gates.iter().any(|g| !g.met) {
        promotion.status = Status::Waiting;
        promotion.exit = Exit::Waiting;
        return Ok(());
    }
    promotion.change_request = Some(ChangeRequest {
        number: open.number,
        url: open.url.clone(),
        head_branch: head,
        merge: None,
    });
    merge_number(args, forge.as_ref(), target, open.number, promotion)
}

/// Merges promotion change request `number` when the forge says it is ready.
pub(super) fn merge_number(
    args: &PromoteRequest,
    forge: &dyn Forge,
    target: &Site,
    number: u64,
    promotion: &mut Promotion,
) -> Result<(), Error> {
    let request = MergeRequest {
        which: merging::Which::Number(number),
        repo: target.given.clone(),
        method: args.method,
        auto_merge: false,
        token: target.token(),
        forge: target.forge_args().clone(),
    };
    let item = merging::merge_one(forge, &request, number)?;
    promotion.exit = item.status.exit();
    promotion.words = Some(forge.words());
    promotion.status = match item.status {
        merged::Status::Merged | merged::Status::AlreadyMerged => Status::Merged,
        merged::Status::Waiting | merged::Status::AutoMerge => Status::Waiting,
        merged::Status::Closed => Status::Refused,
    };
    if let Some(cr) = promotion.change_request.as_mut() {
        cr.merge = Some(item);
    }
    Ok(())
}

/// `ferry merge` of a promotion change request: the promotion recorded in its head commit
/// (`Ferry-Promotion`, the images of its `Ferry-Update` trailers, the gates of its `Ferry-Gate`
/// trailers and `promotion.gates`) run again with `--merge`, so the gates are checked again
/// before it merges, and a source that moved on supersedes it first.
pub(crate) fn merge_gated(
    merge: &MergeRequest,
    cr: &forge::Readiness,
    words: forge::Words,
) -> Result<Item, Error> {
    let waiting = |missing: Vec<String>| Item {
        number: cr.number,
        url: cr.url.clone(),
        status: merged::Status::Waiting,
        head_sha: cr.head_sha.clone(),
        merge_sha: None,
        missing,
    };
    let message = merging::head_message(merge, &cr.head_branch)?;
    let request = match recorded(merge, &message)? {
        Recorded::Promotion(request) => request,
        Recorded::Unknown(why) => return Ok(waiting(vec![why])),
        Recorded::Invalid(why) => {
            return Err(Error::Usage(format!(
                "cannot check the gates of promotion {} {}{}: its trailers do not make a promotion: {}",
                words.change_request,
                words.sigil,
                cr.number,
                ci::one_line(&why)
            )));
        }
    };
    let (source, asked) = *request;
    let request = PromoteRequest::resolve(source, asked)?;
    let from = request.from.as_deref().unwrap_or_default();
    let to = request.to.as_str();
    tracing::info!(
        number = cr.number,
        from,
        to,
        "checking the promotion's gates again"
    );
    let promotion = super::execute(&request)?;
    let unmet: Vec<String> = promotion
        .gates
        .iter()
        .filter(|g| !g.met)
        .map(|g| format!("gate {}: {}", g.gate, g.detail))
        .collect();
    if !unmet.is_empty() {
        return Ok(waiting(unmet));
    }
    let exit = promotion.exit;
    let text = crate::present::promotion::text(&promotion);
    match promotion.change_request.and_then(|c| c.merge) {
        Some(item) => Ok(item),
        None if exit == Exit::Done => Ok(waiting(vec![format!(
            "`ferry promote --from {from} --to {to}` found nothing of it to merge: {}",
            ci::one_line(&text)
        )])),
        None => Ok(waiting(vec![ci::one_line(&text)])),
    }
}

/// What a promotion's head commit records.
enum Recorded {
    /// The promotion to run again: its repository and what is asked of it.
    Promotion(Box<(Access, Asked)>),
    /// Not a promotion ferry can run again: why it waits.
    Unknown(String),
    /// Trailers (or settings of the environment) that make no valid promotion: why, as the
    /// command line's parser says it.
    Invalid(String),
}

/// The promotion recorded in `message`, to run again with `--merge` as `merge` asks: from
/// `Ferry-Promotion`, the images of `Ferry-Update`, the gates of `Ferry-Gate`; the settings
/// `ferry promote` reads from the environment (`FERRY_NOW`, `FERRY_VIA`, ...) as it reads them.
fn recorded(merge: &MergeRequest, message: &str) -> Result<Recorded, Error> {
    let values = |key: &str| trailers::values(message, key);
    let promotion = values(PROMOTION);
    let Some((from, to)) = promotion.first().and_then(|v| v.split_once(" -> ")) else {
        return Ok(Recorded::Unknown(format!(
            "its head commit has no `{PROMOTION}` trailer, so its gates are unknown: rerun `ferry promote --to ENV --merge`"
        )));
    };
    let mut gates = (Vec::new(), Vec::new(), Vec::new());
    for gate in values(GATE) {
        match gate.split_once('=') {
            Some(("require-status", value)) => gates.0.push(value.to_owned()),
            Some(("min-age", value)) => gates.1.push(value.to_owned()),
            Some(("window", value)) => gates.2.push(value.to_owned()),
            _ => {
                return Ok(Recorded::Unknown(format!(
                    "its head commit records a gate ferry does not know (`{GATE}: {gate}`): rerun `ferry promote --to {to} --merge`"
                )));
            }
        }
    }
    let (require_status, min_ages, windows) = gates;
    let min_age = match min_age(&min_ages) {
        Ok(min_age) => min_age,
        Err(why) => return Ok(Recorded::Invalid(why)),
    };
    let env = match Inherited::read(&ci::process_env) {
        Ok(env) => env,
        Err(why) => return Ok(Recorded::Invalid(why)),
    };
    // `NAME=TAG[@DIGEST]` or `NAME@DIGEST`: no name holds '=' or '@'.
    let images = values(trailers::UPDATE)
        .iter()
        .flat_map(|u| {
            let name = u.split(['=', '@']).next().unwrap_or_default();
            name.split(',').map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    let (source, to_repo) = match values(trailers::PROMOTED_FROM_REPO).first() {
        Some(source) => (source.clone(), Some(merge.repo.clone())),
        None => (merge.repo.clone(), env.to_repo.clone()),
    };
    let source = env.access(&source, merge).map_err(Error::Usage)?;
    Ok(Recorded::Promotion(Box::new((
        source,
        Asked {
            from: Some(from.to_owned()),
            to: to.to_owned(),
            images,
            to_repo,
            to_token: merge.token.clone(),
            require_status,
            min_age,
            windows,
            merge: true,
            method: merge.method,
            now: env.now,
            max_commits: 1000,
            write: env.write,
        },
    ))))
}

/// The `min-age` gate recorded (at most one, as `--min-age`).
fn min_age(values: &[String]) -> Result<Option<Duration>, String> {
    match values {
        [] => Ok(None),
        [one] => Duration::from_str(one)
            .map(Some)
            .map_err(|e| invalid(one, "--min-age <DURATION>", &e.to_string())),
        [one, ..] => {
            Duration::from_str(one)
                .map_err(|e| invalid(one, "--min-age <DURATION>", &e.to_string()))?;
            Err("error: the argument '--min-age <DURATION>' cannot be used multiple times\n\nUsage: ferry promote [OPTIONS] --to <ENV> --repo <URL>\n\nFor more information, try '--help'.\n".to_owned())
        }
    }
}

/// The parser's words for an invalid value.
fn invalid(value: &str, arg: &str, why: &str) -> String {
    format!(
        "error: invalid value '{value}' for '{arg}': {why}\n\nFor more information, try '--help'.\n"
    )
}

/// The parser's words for a value that is none of `possible`.
fn not_one_of<E: clap::ValueEnum>(value: &str, arg: &str) -> String {
    let possible: Vec<String> = E::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
        .collect();
    format!(
        "error: invalid value '{value}' for '{arg}'\n  [possible values: {}]\n\nFor more information, try '--help'.\n",
        possible.join(", ")
    )
}

/// What `ferry promote` takes from the environment when it is not on its command line: what a
/// promotion run again by `ferry merge` takes too.
struct Inherited {
    now: Option<Time>,
    to_repo: Option<String>,
    username: Option<String>,
    ssh_key: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    config_branch: Option<String>,
    write: WriteArgs,
}

impl Inherited {
    /// Reads the variables, parsed as the command line's parser parses them.
    fn read(env: &dyn Fn(&str) -> Option<String>) -> Result<Inherited, String> {
        let now = env("FERRY_NOW")
            .map(|v| Time::parse(&v).map_err(|e| invalid(&v, "--now <TIME>", &e)))
            .transpose()?;
        let via = env("FERRY_VIA")
            .map(|v| {
                <crate::config::Update as clap::ValueEnum>::from_str(&v, false)
                    .map_err(|_| not_one_of::<crate::config::Update>(&v, "--via <HOW>"))
            })
            .transpose()?;
        let attempts = match env("FERRY_ATTEMPTS") {
            Some(v) => match v.parse::<i64>() {
                Ok(n) => u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| {
                        invalid(&v, "--attempts <N>", &format!("{n} is not in 1..=100"))
                    })?,
                Err(e) => return Err(invalid(&v, "--attempts <N>", &e.to_string())),
            },
            None => 8,
        };
        let sign = env("FERRY_SIGN")
            .map(|v| {
                <crate::cli::SignFormat as clap::ValueEnum>::from_str(&v, false)
                    .map_err(|_| not_one_of::<crate::cli::SignFormat>(&v, "--sign <FORMAT>"))
            })
            .transpose()?;
        Ok(Inherited {
            now,
            to_repo: env("FERRY_TO_REPO"),
            username: env("FERRY_USERNAME"),
            ssh_key: env("FERRY_SSH_KEY").map(PathBuf::from),
            cache_dir: env("FERRY_CACHE_DIR").map(PathBuf::from),
            config_branch: env("FERRY_CONFIG_BRANCH"),
            write: WriteArgs {
                via,
                dry_run: false,
                commit: Commit {
                    attempts,
                    author_name: env("FERRY_AUTHOR_NAME"),
                    author_email: env("FERRY_AUTHOR_EMAIL"),
                },
                signing: Signing {
                    sign,
                    signing_key: env("FERRY_SIGNING_KEY_FILE"),
                },
                labels: Vec::new(),
                reviewers: Vec::new(),
            },
        })
    }

    /// The repository `given`, reached with `merge`'s token and forge and these settings.
    fn access(&self, given: &str, merge: &MergeRequest) -> Result<Access, String> {
        let (url, url_secret) = RepoUrl::parse(given)?;
        Ok(Access {
            given: given.to_owned(),
            url,
            url_secret,
            token: merge.token.clone(),
            username: self.username.clone(),
            ssh_key: self.ssh_key.clone(),
            cache_dir: self.cache_dir.clone(),
            config_branch: self.config_branch.clone(),
            forge: merge.forge.clone(),
        })
    }
}
