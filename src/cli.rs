//! The command line: what the user typed. Commands validate it into a plan before any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::image::{Digest, ImageUpdate};

const EXIT_CODES: &str = "\
Exit codes:
  0  done, or nothing to do (already up to date)
  1  unexpected failure (I/O, a bug)
  2  usage or configuration error (bad image, tag, flag or ferry.yaml)
  3  no reference to a requested image was found
  4  refused: a reference cannot be edited safely; nothing was written";

/// ferry changes what a GitOps environment repository declares, safely, from a CI pipeline.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, propagate_version = true, after_long_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    /// More log detail on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Result format on stdout; with json, logs on stderr are JSON lines too.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, env = "FERRY_OUTPUT")]
    pub output: Output,

    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set the tag of images everywhere they are referenced in a local directory.
    ///
    /// Finds every reference to each IMAGE in the YAML files below --dir, whatever its shape
    /// (an `image:` field, a kustomization `images:` entry, Helm values `repository` + `tag`,
    /// Argo CD helm parameters, Flux setter markers...), and changes only the tag bytes:
    /// comments, quoting, key order and everything else stay as they are.
    #[command(after_long_help = EXIT_CODES)]
    SetImage(SetImageArgs),

    /// Print the JSON schema of ferry.yaml, for editor completion and validation.
    Schema,
}

#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// Images and their new tags: IMAGE=TAG or IMAGE=TAG@DIGEST, e.g. ghcr.io/acme/cart=1a2b3c4.
    #[arg(value_name = "IMAGE=TAG", required = true, value_parser = ImageUpdate::parse)]
    pub updates: Vec<ImageUpdate>,

    /// The directory to edit; with --env, the environment repository's root.
    #[arg(short = 'C', long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Edit this environment of ferry.yaml (its `path`, below --dir).
    #[arg(short, long, value_name = "NAME")]
    pub env: Option<String>,

    /// The ferry.yaml to read for --env [default: DIR/ferry.yaml].
    #[arg(long, value_name = "FILE", requires = "env")]
    pub config: Option<PathBuf>,

    /// Also pin this digest (sha256:...); only with a single IMAGE=TAG.
    #[arg(long, value_name = "DIGEST", value_parser = Digest::parse)]
    pub digest: Option<Digest>,

    /// Print the changes as a unified diff; write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
