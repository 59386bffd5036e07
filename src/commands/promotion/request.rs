//! A promotion as asked, resolved with no network call: from `ferry promote`'s command line
//! ([`PromoteRequest::from_args`]) or from the trailers of a promotion's change request
//! (`merge::merge_gated`). Every check that needs no repository is made here: the repository
//! URLs, `--from` and `--to` apart, the image names, the time windows.

use secrecy::SecretString;

use super::super::Error;
use super::super::site::Access;
use crate::ci;
use crate::cli::{PromoteArgs, WriteArgs};
use crate::clock::Time;
use crate::config::Duration;
use crate::forge::MergeMethod;
use crate::image::ImageName;
use crate::window::Window;

/// A promotion to run: clap-free, checked.
#[derive(Debug, Clone)]
pub(crate) struct PromoteRequest {
    /// The environment promoted from (`None`: the one before `to` in `promotion.order`).
    pub from: Option<String>,
    pub to: String,
    /// Only these images (empty: every image found in both).
    pub images: Vec<ImageName>,
    /// The repository read (the source, and the target unless `target` is given).
    pub source: Access,
    /// The target's own repository (`--to-repo`), with its token.
    pub target: Option<Access>,
    /// The gates given on the command line (else `promotion.gates` of ferry.yaml).
    pub gates: Gates,
    pub merge: bool,
    pub method: MergeMethod,
    /// The time to check gates at (`None`: now).
    pub now: Option<Time>,
    pub max_commits: usize,
    /// How the bump of the target writes.
    pub write: WriteArgs,
}

/// The gates asked for, parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gates {
    pub require_status: Vec<String>,
    pub min_age: Option<Duration>,
    pub windows: Vec<GateWindow>,
}

/// A time window gate: as written (recorded in the `Ferry-Gate` trailer) and parsed.
#[derive(Debug, Clone)]
pub(crate) struct GateWindow {
    pub text: String,
    pub window: Window,
}

/// A promotion as asked, before its checks.
pub(crate) struct Asked {
    pub from: Option<String>,
    pub to: String,
    pub images: Vec<String>,
    /// The target's repository (`--to-repo`) and its token (else the source's).
    pub to_repo: Option<String>,
    pub to_token: Option<SecretString>,
    pub require_status: Vec<String>,
    pub min_age: Option<Duration>,
    pub windows: Vec<String>,
    pub merge: bool,
    pub method: MergeMethod,
    pub now: Option<Time>,
    pub max_commits: usize,
    pub write: WriteArgs,
}

impl PromoteRequest {
    /// `ferry promote`'s arguments, checked.
    pub fn from_args(args: &PromoteArgs) -> Result<PromoteRequest, Error> {
        let source = Access::of(&args.repo)?;
        PromoteRequest::resolve(
            source,
            Asked {
                from: args.from.clone(),
                to: args.to.clone(),
                images: args.images.clone(),
                to_repo: args.to_repo.clone(),
                to_token: args.to_token.clone(),
                require_status: args.require_status.clone(),
                min_age: args.min_age,
                windows: args.windows.clone(),
                merge: args.merge,
                method: args.method,
                now: args.now,
                max_commits: args.max_commits,
                write: args.write.clone(),
            },
        )
    }

    /// The promotion `asked` of the repository `source`, checked.
    pub fn resolve(source: Access, asked: Asked) -> Result<PromoteRequest, Error> {
        if let Some(from) = &asked.from {
            distinct(from, &asked.to, asked.to_repo.is_some())?;
        }
        let target = match &asked.to_repo {
            Some(repo) => Some(source.other(repo, asked.to_token.clone())?),
            None => None,
        };
        let images = asked
            .images
            .iter()
            .map(|i| super::super::image_flag(i))
            .collect::<Result<_, _>>()?;
        let windows = asked
            .windows
            .iter()
            .map(|text| {
                Ok(GateWindow {
                    text: text.clone(),
                    window: window(text)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(PromoteRequest {
            from: asked.from,
            to: asked.to,
            images,
            source,
            target,
            gates: Gates {
                require_status: asked.require_status,
                min_age: asked.min_age,
                windows,
            },
            merge: asked.merge,
            method: asked.method,
            now: asked.now,
            max_commits: asked.max_commits,
            write: asked.write,
        })
    }
}

/// A time window gate, parsed.
pub(super) fn window(text: &str) -> Result<Window, Error> {
    Window::parse(text)
        .map_err(|e| Error::Usage(format!("time window `{}`: {e}", ci::one_line(text))))
}

/// `from` and `to` must be two environments (unless `to` is in another repository).
pub(super) fn distinct(from: &str, to: &str, other_repository: bool) -> Result<(), Error> {
    if from == to && !other_repository {
        return Err(Error::Usage(format!(
            "--from and --to are both `{}`: promote between two environments",
            ci::one_line(to)
        )));
    }
    Ok(())
}
