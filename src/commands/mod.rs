//! What each command does: short orchestrations of the pure planners and the effectful layers.

pub mod schema;
pub mod set_image;

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use crate::exit::Exit;
use crate::plan::PlanError;
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
        }
    }
}

/// Runs the command the user asked for.
pub fn run(cli: &Cli) -> Result<Exit, Error> {
    match &cli.command {
        Command::SetImage(args) => set_image::run(args, cli.output),
        Command::Schema => schema::run(),
    }
}
