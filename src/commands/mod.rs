//! What each command does: short orchestrations of the pure planners and the effectful layers.

pub mod bump;
pub mod change_request;
pub mod check;
pub mod history;
pub mod merge;
mod merging;
mod missing;
pub mod preview;
pub mod promote;
mod promotion;
pub mod rollback;
pub mod schema;
pub mod set_image;
pub mod shell;
mod site;
pub mod status;
mod transaction;
pub mod wait;

use std::path::Path;

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use crate::config::{self, Config};
use crate::exit::Exit;
use crate::forge::ForgeError;
use crate::git::GitError;
use crate::git::{Store, Tip};
use crate::image::{Digest, ImageName, ImageUpdate};
use crate::plan::PlanError;
use crate::present;
use crate::preview::PreviewError;
use crate::render::RenderError;
use crate::tree::TreeError;

/// A command that could not do its work. Outcomes that are answers (nothing found, refused) are
/// not errors: commands report them and return their [`Exit`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot write the result: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Git(Box<GitError>),
    #[error("commit message template {0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Sign(String),
    #[error(transparent)]
    Forge(Box<ForgeError>),
    /// A preview's template failed, or its output failed the checks: nothing was pushed.
    #[error(transparent)]
    Preview(#[from] PreviewError),
    /// The most previews alive at once are running (`previews.max`, `on-max: fail`).
    #[error("{0}")]
    Limit(String),
    /// The git layer kept failing the same retryable way until attempts ran out.
    #[error("{error}\n  gave up after {attempts} attempt(s){hint}")]
    GaveUp {
        error: Box<GitError>,
        attempts: u32,
        hint: String,
    },
}

impl From<ForgeError> for Error {
    fn from(e: ForgeError) -> Self {
        Error::Forge(Box::new(e))
    }
}

impl From<GitError> for Error {
    fn from(e: GitError) -> Self {
        Error::Git(Box::new(e))
    }
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Plan(PlanError::Duplicate(_)) => {
                Exit::Usage
            }
            Error::Tree(
                TreeError::Outside { .. } | TreeError::Link { .. } | TreeError::Name { .. },
            ) => Exit::Refused,
            Error::Tree(_) | Error::Plan(PlanError::Verify { .. }) | Error::Output(_) => {
                Exit::Failure
            }
            Error::Render(_) | Error::Sign(_) => Exit::Usage,
            Error::Limit(_) => Exit::Limit,
            Error::Preview(PreviewError::Render(_)) => Exit::Usage,
            Error::Preview(_) => Exit::Refused,
            Error::Forge(e) => match e.as_ref() {
                ForgeError::Auth { .. } => Exit::Auth,
                ForgeError::Usage(_) | ForgeError::NotFound { .. } => Exit::Usage,
                ForgeError::Refused { .. } => Exit::Rejected,
                ForgeError::RateLimited { .. }
                | ForgeError::Server { .. }
                | ForgeError::Transport { .. }
                | ForgeError::Unexpected { .. } => Exit::Failure,
            },
            Error::Git(e) | Error::GaveUp { error: e, .. } => match e.as_ref() {
                GitError::Auth { .. } => Exit::Auth,
                GitError::Conflict { .. } => Exit::Conflict,
                GitError::Rejected { .. } => Exit::Rejected,
                GitError::NoSuchBranch { .. }
                | GitError::InvalidBranch(_)
                | GitError::NoSuchPath { .. }
                | GitError::NotFound { .. }
                | GitError::Cache { .. } => Exit::Usage,
                GitError::Stalled { .. } | GitError::Deadline { .. } => Exit::Stalled,
                GitError::Transport { .. } | GitError::Local { .. } => Exit::Failure,
            },
        }
    }
}

impl Error {
    /// The error as a CI annotation, at the file and line it names when it names one.
    #[must_use]
    pub fn annotation(&self) -> crate::ci::Annotation {
        let (file, line, column) = match self {
            Error::Config(e) => (Some(e.file.display().to_string()), e.line, e.column),
            Error::Plan(PlanError::Verify { file, .. }) => (Some(file.clone()), None, None),
            _ => (None, None, None),
        };
        crate::ci::Annotation {
            level: crate::ci::Level::Error,
            file,
            line,
            column,
            title: format!("ferry: exit {}", self.exit().code()),
            message: self.to_string(),
        }
    }
}

/// Runs the command the user asked for.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    crate::plan::set_max_file_size(cli.max_file_size);
    match &cli.command {
        Command::SetImage(args) => {
            let outcome = set_image::execute(args)?;
            Ok(present::set_image::report(&outcome, cli.output)?)
        }
        Command::Bump(args) => {
            let request = bump::Request::resolve(args)?;
            let outcome = bump::execute(&request)?;
            Ok(present::bump::report(
                &outcome,
                request.context(),
                cli.output,
            )?)
        }
        Command::Merge(args) => {
            let request = merge::MergeRequest::from_args(args)?;
            let outcome = merge::execute(&request)?;
            present::merge::publish(&outcome)?;
            present::merge::emit(&outcome, cli.output)?;
            Ok(outcome.exit())
        }
        Command::Preview(args) => {
            let request = preview::Request::from_args(args)?;
            let outcome = preview::run(&request.command)?;
            present::preview::show(&outcome, request.ci.as_ref(), cli.output)?;
            Ok(Exit::Done)
        }
        Command::Promote(args) => {
            let request = promote::PromoteRequest::from_args(args)?;
            let outcome = promote::execute(&request)?;
            present::promotion::publish(&outcome)?;
            present::promotion::emit(&outcome, cli.output)?;
            Ok(outcome.exit)
        }
        Command::Rollback(args) => {
            let request = rollback::RollbackRequest::from_args(args)?;
            let outcome = rollback::execute(&request)?;
            present::rollback::publish(&outcome)?;
            present::rollback::emit(&outcome, cli.output)?;
            Ok(outcome.exit)
        }
        Command::Status(args) => {
            let status = status::run(&status::Request::resolve(args)?)?;
            present::status::emit(cli.output, &status)?;
            Ok(Exit::Done)
        }
        Command::History(args) => {
            let history = history::run(&history::Request::resolve(args)?)?;
            present::history::emit(cli.output, &history)?;
            Ok(Exit::Done)
        }
        Command::Wait(args) => {
            let waited = wait::run(&wait::Request::resolve(args)?)?;
            present::wait::emit(cli.output, &waited)?;
            Ok(waited.state.exit())
        }
        Command::Check(args) => {
            let report = check::run(&check::Request::resolve(args))?;
            present::check::emit(cli.output, &report)?;
            Ok(report.exit())
        }
        Command::Schema => schema::run(),
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
    }
}

/// An image named on the command line (`--image NAME`), normalized.
fn image_flag(text: &str) -> Result<ImageName, Error> {
    ImageName::parse(text)
        .map_err(|e| Error::Usage(format!("--image {}: {e}", crate::ci::one_line(text))))
}

/// The updates from the command line, with `--digest` folded in.
fn requested_updates(
    updates: &[ImageUpdate],
    digest: Option<&Digest>,
) -> Result<Vec<ImageUpdate>, Error> {
    let mut updates = updates.to_vec();
    if let Some(digest) = digest {
        match updates.as_mut_slice() {
            [one] if one.digest.is_none() => one.digest = Some(digest.clone()),
            [_] => {
                return Err(Error::Usage(
                    "--digest and IMAGE=TAG@DIGEST (or IMAGE@DIGEST) both give a digest; use one"
                        .into(),
                ));
            }
            _ => {
                return Err(Error::Usage(
                    "--digest needs exactly one IMAGE=TAG; with several images write IMAGE=TAG@DIGEST"
                        .into(),
                ));
            }
        }
    }
    Ok(updates)
}

/// A template file named by `key` in ferry.yaml, read from `tip`: (path, text).
pub(crate) fn read_template(
    store: &dyn Store,
    tip: &Tip,
    key: &str,
    file: Option<&config::RelPath>,
) -> Result<Option<(String, String)>, Error> {
    let Some(file) = file else {
        return Ok(None);
    };
    let bytes = store.read_file(tip, file.as_str())?.ok_or_else(|| {
        Error::Usage(format!(
            "{}: {key} names `{}`, which does not exist on branch `{}`",
            config::FILE_NAME,
            file.as_str(),
            crate::ci::one_line(&tip.branch)
        ))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{}: the template is not UTF-8", file.as_str())))?;
    Ok(Some((file.as_str().to_owned(), text)))
}

/// The repository's `ferry.yaml` at `tip`, if it has one.
pub(crate) fn read_config(store: &dyn Store, tip: &Tip) -> Result<Option<Config>, Error> {
    let Some(bytes) = store.read_file(tip, config::FILE_NAME)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(Some(Config::parse(&text, Path::new(config::FILE_NAME))?))
}
