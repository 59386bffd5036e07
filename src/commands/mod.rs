//! What each command does: short orchestrations of the pure planners and the effectful layers.

pub mod bump;
pub mod change_request;
pub mod merge;
pub mod schema;
pub mod set_image;
mod transaction;
mod text;

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use crate::exit::Exit;
use crate::forge::ForgeError;
use crate::git::GitError;
use crate::image::{Digest, ImageUpdate};
use crate::plan::PlanError;
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
            Error::Tree(_) | Error::Plan(PlanError::Verify { .. }) | Error::Output(_) => {
                Exit::Failure
            }
            Error::Render(_) | Error::Sign(_) => Exit::Usage,
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
                | GitError::NotFound { .. } => Exit::Usage,
                GitError::Transport { .. } | GitError::Local { .. } => Exit::Failure,
            },
        }
    }
}

/// Runs the command the user asked for.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    match &cli.command {
        Command::SetImage(args) => set_image::run(args, cli.output),
        Command::Bump(args) => bump::run(args, cli.output),
        Command::Merge(args) => merge::run(args, cli.output),
        Command::Schema => schema::run(),
    }
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
                    "--digest and IMAGE=TAG@DIGEST both give a digest; use one".into(),
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
