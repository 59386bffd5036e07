//! The command line: what the user typed. Commands validate it into a plan before any work.
//!
//! The doc comments of the argument structs are the `--help` text, written for a terminal:
//! `[default: …]`, `ferry[bot]` and bare URLs there are not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::config::Update;
use crate::forge::{ForgeArgs, MergeMethod};
use crate::image::{Digest, ImageUpdate};
use crate::report::Output;

/// `ferry --version`: the package version and the commit it was built from (build.rs says how it
/// finds it).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FERRY_COMMIT"),
    ")"
);

const COMPLETIONS_INSTALL: &str = "\
Install (then start a new shell):
  bash        mkdir -p ~/.local/share/bash-completion/completions
              ferry completions bash > ~/.local/share/bash-completion/completions/ferry
  zsh         mkdir -p ~/.zfunc && ferry completions zsh > ~/.zfunc/_ferry
              (and in ~/.zshrc, before compinit: fpath+=(~/.zfunc))
  fish        ferry completions fish > ~/.config/fish/completions/ferry.fish
  powershell  ferry completions powershell >> $PROFILE";

/// ferry changes what a GitOps environment repository declares, safely, from a CI pipeline.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = VERSION, propagate_version = true, after_long_help = crate::exit::help(), max_term_width = 100)]
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

    /// Give up on a git connection not established after this many seconds.
    #[arg(long, global = true, value_name = "SECONDS", env = "FERRY_GIT_CONNECT_TIMEOUT",
          default_value_t = crate::git::DEFAULT_CONNECT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub git_connect_timeout: u64,

    /// Give up on a git transfer that sends and receives nothing for this many seconds (a
    /// stalled server); exit 15.
    #[arg(long, global = true, value_name = "SECONDS", env = "FERRY_GIT_TIMEOUT",
          default_value_t = crate::git::DEFAULT_STALL_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub git_timeout: u64,

    /// The longest the command may run, in seconds; past it ferry stops and exits 15
    /// [`ferry wait`: at least its --timeout plus 5 minutes].
    #[arg(long, global = true, value_name = "SECONDS", env = "FERRY_DEADLINE",
          default_value_t = crate::git::DEFAULT_DEADLINE_SECS,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub deadline: u64,

    /// Largest YAML file ferry parses for an edit (bytes, or with KiB/MiB/GiB): a larger file
    /// that may reference the images is refused with exit 4.
    #[arg(long, global = true, value_name = "SIZE", default_value = "16MiB", env = "FERRY_MAX_FILE_SIZE", value_parser = crate::plan::parse_size)]
    pub max_file_size: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set the tag of images everywhere they are referenced in a local directory.
    ///
    /// Finds every reference to each IMAGE in the YAML files below --dir, whatever its shape
    /// (an `image:` field, a kustomization `images:` entry, Helm values `repository` + `tag`,
    /// Argo CD helm parameters, Flux setter markers...), and changes only the tag bytes:
    /// comments, quoting, key order and everything else stay as they are.
    #[command(after_long_help = crate::exit::help())]
    SetImage(SetImageArgs),

    /// Set image tags in an environment of a remote environment repository, and push.
    ///
    /// Fetches only the environment's branch at depth 1 into a bare repository (no checkout),
    /// edits the tags the way set-image does, commits, and pushes with compare-and-swap on the
    /// fetched tip. When another pipeline pushed first, ferry fetches again, recomputes the edit on
    /// the new tip and retries, with jittered exponential backoff. Rerunning a finished bump
    /// changes nothing.
    #[command(after_long_help = crate::exit::help())]
    Bump(Box<BumpArgs>),

    /// Merge a pull/merge request once its approvals and checks allow it.
    ///
    /// Reads the change request's approvals, checks and mergeability from the forge. When nothing
    /// is missing it merges, pinned to the head commit it checked; otherwise it prints what is
    /// missing and exits 11 (waiting), or with --auto-merge asks the forge to merge by itself
    /// once ready. A change request that conflicts with its target branch is never merged: rerun
    /// the bump, which recomputes it on the new tip.
    #[command(after_long_help = crate::exit::help())]
    Merge(Box<MergeArgs>),

    /// Preview environments per merge request: up, down, list, gc.
    ///
    /// A preview is one file, `<directory>/<slug>.yaml` on the previews branch (ferry.yaml's
    /// `previews:`; by default `apps/` on `dynamic-envs`), holding an Argo CD Application or a
    /// Flux Kustomization rendered from a template. The agent deploys it into a namespace of its
    /// own and removes it when the file goes.
    #[command(after_long_help = crate::exit::help())]
    Preview(Box<PreviewArgs>),

    /// Carry one environment's image tags to the next (staging → production): through the
    /// environment's one promotion pull/merge request, or pushed directly; with --merge, merge
    /// it once approved. Gates (statuses, minimum age, time windows) are checked first.
    #[command(after_long_help = crate::exit::help())]
    Promote(Box<PromoteArgs>),

    /// Set an image in an environment back to an earlier tag found in its history, and
    /// optionally put the image on hold so that bumps don't undo it.
    #[command(after_long_help = crate::exit::help())]
    Rollback(Box<RollbackArgs>),

    /// The matrix of images × environments: each tag, when it changed and from which source
    /// commit, and what is pending promotion.
    Status(Box<StatusArgs>),

    /// Who changed which image of an environment, and when, from the branch's commits.
    History(Box<HistoryArgs>),

    /// Wait for the agents' verdict: a commit status (Flux, Argo CD notifications) on the
    /// environment repository's commit. Exits 0 on success, 13 on failure, 14 on timeout.
    #[command(after_long_help = crate::exit::help())]
    Wait(Box<WaitArgs>),

    /// Check an environment repository's working tree, for its own CI: ferry.yaml is valid,
    /// every template renders with sample values, and every environment's path exists and
    /// holds image references. Errors name file:line with a hint; they exit 2, or 4 when a
    /// file is one the agents and ferry refuse (a key defined twice).
    #[command(after_long_help = crate::exit::help())]
    Check(Box<CheckArgs>),

    /// Print the JSON schema of ferry.yaml, for editor completion and validation.
    Schema,

    /// Print the completion script of a shell on stdout.
    #[command(after_long_help = COMPLETIONS_INSTALL)]
    Completions(CompletionsArgs),

    /// Print ferry's manual page (roff) on stdout, or write a page per command into a directory.
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete ferry's commands and flags in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `ferry.1` and a page per command (`ferry-bump.1`, `ferry-preview-up.1`, ...) into
    /// this directory instead (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(subcommand)]
    pub command: PreviewCommand,
}

#[derive(Debug, Subcommand)]
pub enum PreviewCommand {
    /// Create or update the preview of a merge request.
    ///
    /// Renders the template with the images' tags and writes the file; a rerun with the same
    /// inputs changes nothing (until half the preview's time to live has passed, when it renews
    /// the expiry). Keeps one comment on the merge request up to date.
    #[command(after_long_help = crate::exit::help())]
    Up(PreviewUpArgs),
    /// Remove the preview of a merge request (nothing to do when there is none).
    #[command(after_long_help = crate::exit::help())]
    Down(PreviewDownArgs),
    /// List the previews on the previews branch.
    List(PreviewListArgs),
    /// Remove, in one commit, every preview whose merge request is closed or merged or whose
    /// expiry has passed.
    #[command(after_long_help = crate::exit::help())]
    Gc(PreviewGcArgs),
}

/// Which preview: its name and merge request.
#[derive(Debug, Args)]
pub struct PreviewWhich {
    /// The preview's name, usually the merge request's source branch [default: from the CI].
    #[arg(long, value_name = "NAME", env = "FERRY_PREVIEW_NAME")]
    pub name: Option<String>,

    /// The merge request (GitLab IID) or pull request number [default: from the CI].
    #[arg(long = "mr", value_name = "N", env = "FERRY_CHANGE_REQUEST")]
    pub change_request: Option<u64>,
}

/// The environment repository, and how ferry writes to it.
#[derive(Debug, Args)]
pub struct PreviewRepoArgs {
    #[command(flatten)]
    pub connection: Connection,

    /// The branch ferry.yaml (and a template file) is read from [default: the repository's
    /// default branch].
    #[arg(long, value_name = "BRANCH", env = "FERRY_CONFIG_BRANCH")]
    pub config_branch: Option<String>,

    #[command(flatten)]
    pub commit: Commit,

    /// The current time, RFC 3339 (2026-11-23T12:00:00Z), for expiry: ask what `gc` would
    /// remove then [default: the system clock].
    #[arg(long, value_name = "TIME", env = "FERRY_NOW", value_parser = crate::clock::Time::parse)]
    pub now: Option<crate::clock::Time>,
}

/// The application repository whose merge requests previews belong to: where ferry comments and
/// asks whether a merge request is still open.
#[derive(Debug, Args)]
pub struct PreviewAppArgs {
    /// The application repository's web URL [default: the repository the CI runs for].
    #[arg(long, value_name = "URL", env = "FERRY_APP_REPO")]
    pub app_repo: Option<String>,

    /// API token for the application repository [default: the environment repository's token].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FERRY_APP_TOKEN",
        hide_env_values = true
    )]
    pub app_token: Option<SecretString>,

    #[command(flatten)]
    pub forge: ForgeArgs,
}

#[derive(Debug, Args)]
pub struct PreviewUpArgs {
    /// Images and their tags: IMAGE=TAG or IMAGE=TAG@DIGEST, e.g. ghcr.io/acme/cart=1a2b3c4, or
    /// IMAGE@DIGEST (kustomize previews only: Helm values need a tag).
    #[arg(value_name = "IMAGE=TAG", required = true, value_parser = ImageUpdate::parse)]
    pub updates: Vec<ImageUpdate>,

    #[command(flatten)]
    pub which: PreviewWhich,

    /// A value for the template, as `values.KEY` (repeatable), e.g. --set project=previews.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub values: Vec<(String, String)>,

    /// The source repository [default: from the CI].
    #[arg(long, value_name = "URL", env = "FERRY_SOURCE_REPO")]
    pub source_repo: Option<String>,

    /// The source branch [default: from the CI].
    #[arg(long, value_name = "BRANCH", env = "FERRY_SOURCE_REF")]
    pub source_ref: Option<String>,

    /// The source commit [default: from the CI].
    #[arg(long, value_name = "SHA", env = "FERRY_SOURCE_COMMIT")]
    pub source_commit: Option<String>,

    /// Render and check, print the file; push nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub repo: PreviewRepoArgs,

    #[command(flatten)]
    pub app: PreviewAppArgs,
}

#[derive(Debug, Args)]
pub struct PreviewDownArgs {
    #[command(flatten)]
    pub which: PreviewWhich,

    /// Say what would be removed; push nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub repo: PreviewRepoArgs,

    #[command(flatten)]
    pub app: PreviewAppArgs,
}

#[derive(Debug, Args)]
pub struct PreviewListArgs {
    #[command(flatten)]
    pub repo: PreviewRepoArgs,
}

#[derive(Debug, Args)]
pub struct PreviewGcArgs {
    /// Say what would be removed; push nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub repo: PreviewRepoArgs,

    #[command(flatten)]
    pub app: PreviewAppArgs,
}

/// `KEY=VALUE`, with a key a template can name (`values.KEY`).
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: give KEY=VALUE"))?;
    let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{key}` is not a key a template can use: letters, digits and `_`, not starting with a digit"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["number", "env"])))]
pub struct MergeArgs {
    /// The pull request (GitHub) or merge request IID (GitLab) to merge.
    #[arg(value_name = "NUMBER")]
    pub number: Option<u64>,

    /// Merge every open ferry change request of this environment instead.
    #[arg(short, long, value_name = "NAME")]
    pub env: Option<String>,

    /// The environment repository: https://... or ssh (git@host:path).
    #[arg(long, value_name = "URL", env = "FERRY_REPO")]
    pub repo: String,

    /// How to merge.
    #[arg(long, value_name = "METHOD", value_enum, default_value_t = MergeMethod::Merge, env = "FERRY_MERGE_METHOD")]
    pub method: MergeMethod,

    /// When approvals or checks are still missing, ask the forge to merge by itself once they
    /// are there (GitHub auto-merge, GitLab "merge when the pipeline succeeds").
    #[arg(long, env = "FERRY_AUTO_MERGE")]
    pub auto_merge: bool,

    /// API token [default: $GITHUB_TOKEN, $GITLAB_TOKEN, $CI_JOB_TOKEN]. Prefer the environment
    /// variable: a flag's value is visible in the process list.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FERRY_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<SecretString>,

    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// The environment repository and how to reach it: its URL, the credentials for it, and where
/// to keep it between runs. Every command that fetches it takes these flags.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The environment repository: https://..., ssh (git@host:path), file://... or a local path.
    #[arg(long, value_name = "URL", env = "FERRY_REPO")]
    pub repo: String,

    /// HTTPS token [default: $GITHUB_TOKEN, $GITLAB_TOKEN, $CI_JOB_TOKEN]. Prefer the
    /// environment variable: a flag's value is visible in the process list.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FERRY_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<SecretString>,

    /// The user name sent with the token [default: what the forge expects for that token].
    #[arg(long, value_name = "USER", env = "FERRY_USERNAME")]
    pub username: Option<String>,

    /// SSH private key for ssh:// repositories [default: ssh-agent].
    #[arg(long, value_name = "FILE", env = "FERRY_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,

    /// Keep the fetched repository here and reuse it next time (locked while in use).
    #[arg(long, value_name = "DIR", env = "FERRY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// How the commands that write commit and push: the commits' author, and how many times to
/// try the push.
#[derive(Debug, Clone, Args)]
pub struct Commit {
    /// How many times to try the push when the branch keeps moving (or the network fails).
    #[arg(long, value_name = "N", default_value_t = 8, env = "FERRY_ATTEMPTS",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,

    /// Commit author name [default: commit.author.name in ferry.yaml, else ferry[bot]].
    #[arg(long, value_name = "NAME", env = "FERRY_AUTHOR_NAME")]
    pub author_name: Option<String>,

    /// Commit author e-mail [default: commit.author.email in ferry.yaml].
    #[arg(long, value_name = "EMAIL", env = "FERRY_AUTHOR_EMAIL")]
    pub author_email: Option<String>,
}

/// How commits are signed (bump, and the commands that write through one).
#[derive(Debug, Clone, Args)]
pub struct Signing {
    /// Sign commits: ssh or gpg [default: ssh when a signing key is given].
    #[arg(long, value_name = "FORMAT", value_enum, env = "FERRY_SIGN")]
    pub sign: Option<SignFormat>,

    /// The signing key: an SSH private key file; for gpg a key id or an armored secret-key
    /// file. The key itself can instead be given in $FERRY_SIGNING_KEY.
    #[arg(long, value_name = "FILE|KEYID", env = "FERRY_SIGNING_KEY_FILE")]
    pub signing_key: Option<String>,
}

/// What to sign commits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignFormat {
    Ssh,
    Gpg,
}

/// The environment repository and how to reach it, for the commands that read it (and those
/// that write through a bump).
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    #[command(flatten)]
    pub connection: Connection,

    /// The branch ferry.yaml is read from [default: the repository's default branch].
    #[arg(long, value_name = "BRANCH", env = "FERRY_CONFIG_BRANCH")]
    pub config_branch: Option<String>,

    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// How commands that write through a bump (promote, rollback) commit. The signing key's help
/// points to bump's, which explains it.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("signing_key", |arg| arg.help("The signing key (see `ferry bump --help`)")))]
pub struct WriteArgs {
    /// How the change reaches the target branch: push it, or through the pull/merge request
    /// [default: the environment's `update` in ferry.yaml, else push].
    #[arg(long, value_name = "HOW", value_enum, env = "FERRY_VIA")]
    pub via: Option<Update>,

    /// Print what would change; push nothing, open nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub commit: Commit,

    #[command(flatten)]
    pub signing: Signing,

    /// A label for the pull/merge request (repeatable).
    #[arg(long = "label", value_name = "LABEL", value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Request a review from this user on a new pull/merge request (repeatable).
    #[arg(long = "reviewer", value_name = "USER", value_delimiter = ',')]
    pub reviewers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment promoted from [default: the one before --to in `promotion.order`].
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,

    /// The environment promoted to.
    #[arg(long, value_name = "ENV")]
    pub to: String,

    /// Promote only these images (repeatable) [default: every image found in both].
    #[arg(long = "image", value_name = "NAME", value_delimiter = ',')]
    pub images: Vec<String>,

    /// The target environment lives in another repository (one repository per environment):
    /// its URL; its own ferry.yaml names the environment.
    #[arg(long, value_name = "URL", env = "FERRY_TO_REPO")]
    pub to_repo: Option<String>,

    /// Token for --to-repo [default: the source repository's token].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "FERRY_TO_TOKEN",
        hide_env_values = true
    )]
    pub to_token: Option<SecretString>,

    /// Gate: this commit status (or check) must be successful on the source environment's
    /// commit (repeatable; a trailing `*` matches a prefix) [default: promotion.gates].
    #[arg(long = "require-status", value_name = "CONTEXT")]
    pub require_status: Vec<String>,

    /// Gate: the tags must have been in the source environment at least this long, e.g. 2h
    /// [default: promotion.gates.min-age].
    #[arg(long, value_name = "DURATION")]
    pub min_age: Option<crate::config::Duration>,

    /// Gate: promote only inside this time window, e.g. 'Mon-Fri 09:00-17:00 Europe/Berlin'
    /// (repeatable) [default: promotion.gates.windows].
    #[arg(long = "window", value_name = "WINDOW")]
    pub windows: Vec<String>,

    /// Merge the promotion pull/merge request when the forge says it is ready (approvals,
    /// checks) and the gates still hold; else exit 11 (waiting) with what is missing.
    #[arg(long)]
    pub merge: bool,

    /// How to merge with --merge.
    #[arg(long, value_name = "METHOD", value_enum, default_value_t = MergeMethod::Merge, env = "FERRY_MERGE_METHOD")]
    pub method: MergeMethod,

    /// The time to check gates at (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME", env = "FERRY_NOW", value_parser = crate::clock::Time::parse)]
    pub now: Option<crate::clock::Time>,

    /// How many commits of the source environment's history to read at most, for the gates
    /// and the description.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_commits: usize,

    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("back").args(["to", "steps"])))]
pub struct RollbackArgs {
    /// The environment.
    #[arg(short, long, value_name = "NAME")]
    pub env: String,

    /// The image to roll back.
    #[arg(long, value_name = "NAME")]
    pub image: String,

    /// The tag to go back to; it must appear in the environment's history.
    #[arg(long, value_name = "TAG")]
    pub to: Option<String>,

    /// Go back this many versions [default: 1, the version before the current one].
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,

    /// Also put the image on hold in ferry.yaml (hold-images), so that bumps are refused until
    /// someone removes it.
    #[arg(long)]
    pub hold: bool,

    /// Why: recorded in the commit and, with --hold, as hold-reason.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// How many commits of history to read at most.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_commits: usize,

    #[command(flatten)]
    pub repo: RepoArgs,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these environments (repeatable) [default: all, in promotion order].
    #[arg(short, long = "env", value_name = "NAME", value_delimiter = ',')]
    pub envs: Vec<String>,

    /// Only these images (repeatable).
    #[arg(long = "image", value_name = "NAME", value_delimiter = ',')]
    pub images: Vec<String>,

    /// How many commits of each environment's history to read at most.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_commits: usize,

    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment.
    #[arg(short, long, value_name = "NAME")]
    pub env: String,

    /// Only this image.
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,

    /// How many changes to show.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// How many commits to read at most.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_commits: usize,

    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The environment whose commit to watch.
    #[arg(short, long, value_name = "NAME")]
    pub env: String,

    /// The commit [default: the newest commit that changed the environment].
    #[arg(long, value_name = "SHA", env = "FERRY_COMMIT_SHA")]
    pub commit: Option<String>,

    /// The status to wait for (a trailing `*` matches a prefix), e.g. 'kustomization/apps*'.
    #[arg(long, value_name = "CONTEXT")]
    pub context: String,

    /// How long to wait, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub timeout: crate::config::Duration,

    /// The first wait between polls; it doubles up to 30s.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub interval: crate::config::Duration,

    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["env", "path"])))]
pub struct BumpArgs {
    /// Images and their new tags: IMAGE=TAG or IMAGE=TAG@DIGEST, e.g. ghcr.io/acme/cart=1a2b3c4,
    /// or IMAGE@DIGEST to pin a digest alone (the tag beside it is dropped where the shape
    /// allows; see docs/shapes.md).
    #[arg(value_name = "IMAGE=TAG", required = true, value_parser = ImageUpdate::parse)]
    pub updates: Vec<ImageUpdate>,

    #[command(flatten)]
    pub connection: Connection,

    /// The branch to change [default: the environment's branch in ferry.yaml, else the
    /// repository's default branch].
    #[arg(short, long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// The environment to change, as named in the repository's ferry.yaml.
    #[arg(short, long, value_name = "NAME")]
    pub env: Option<String>,

    /// The directory to change, relative to the repository root (instead of --env).
    #[arg(long, value_name = "DIR")]
    pub path: Option<String>,

    /// Also pin this digest (sha256:...); only with a single IMAGE=TAG.
    #[arg(long, value_name = "DIGEST", value_parser = Digest::parse)]
    pub digest: Option<Digest>,

    /// Print the diff and the planned ref update; push nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// All or nothing: refuse when any mention of an image would be left alone and reported
    /// (a placeholder, a block scalar, a template, a bare name); also `strict: true` per
    /// environment in ferry.yaml.
    #[arg(long)]
    pub strict: bool,

    /// Skip the stale-write guard: deploy even if a newer run of the same branch already did.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub commit: Commit,

    #[command(flatten)]
    pub signing: Signing,

    #[command(flatten)]
    pub source: Source,

    /// How the change reaches the branch: push it, or put it on a branch of its own and open
    /// (or update) a pull/merge request [default: the environment's `update` in ferry.yaml,
    /// else push].
    #[arg(long, value_name = "HOW", value_enum, env = "FERRY_VIA")]
    pub via: Option<Update>,

    /// A label for the pull/merge request, besides `ferry` and the environment's (repeatable).
    #[arg(long = "label", value_name = "LABEL", value_delimiter = ',')]
    pub labels: Vec<String>,

    /// Request a review from this user (`org/team` for a GitHub team) on a new pull/merge
    /// request, besides the environment's reviewers (repeatable).
    #[arg(long = "reviewer", value_name = "USER", value_delimiter = ',')]
    pub reviewers: Vec<String>,

    /// Assign a new pull/merge request to this user (repeatable).
    #[arg(long = "assignee", value_name = "USER", value_delimiter = ',')]
    pub assignees: Vec<String>,

    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// Where a bump's change comes from: recorded in the commit, and compared by the stale-write
/// guard. Unset, the CI's.
#[derive(Debug, Clone, Default, Args)]
pub struct Source {
    /// The source repository recorded in the commit [default: from the CI].
    #[arg(long, value_name = "URL", env = "FERRY_SOURCE_REPO")]
    pub source_repo: Option<String>,

    /// The source branch, for the stale-write guard [default: from the CI].
    #[arg(long, value_name = "BRANCH", env = "FERRY_SOURCE_REF")]
    pub source_ref: Option<String>,

    /// The source commit recorded in the commit [default: from the CI].
    #[arg(long, value_name = "SHA", env = "FERRY_SOURCE_COMMIT")]
    pub source_commit: Option<String>,

    /// The CI run number, for the stale-write guard [default: from the CI].
    #[arg(long, value_name = "N", env = "FERRY_RUN_NUMBER")]
    pub run_number: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// Images and their new tags: IMAGE=TAG or IMAGE=TAG@DIGEST, e.g. ghcr.io/acme/cart=1a2b3c4,
    /// or IMAGE@DIGEST to pin a digest alone (the tag beside it is dropped where the shape
    /// allows; see docs/shapes.md).
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

    /// All or nothing: refuse when any mention of an image would be left alone and reported
    /// (a placeholder, a block scalar, a template, a bare name); also `strict: true` per
    /// environment in ferry.yaml.
    #[arg(long)]
    pub strict: bool,
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

/// `ferry check`: the environment repository's working tree to check.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The environment repository's working tree (the directory holding ferry.yaml).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}
