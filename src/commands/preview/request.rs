//! What a `ferry preview` command is asked to do, resolved from the command line and the CI with
//! no network call: every name, image and flag is checked here, before the environment
//! repository is fetched.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::super::{Error, requested_updates, site::Access};
use crate::ci::Context;
use crate::cli::{
    PreviewAppArgs, PreviewArgs, PreviewCommand, PreviewRepoArgs, PreviewUpArgs, PreviewWhich,
};
use crate::clock::Time;
use crate::forge::ForgeArgs;
use crate::git::RepoUrl;
use crate::image::ImageUpdate;
use crate::preview::PreviewSource;

/// One `ferry preview` command, resolved.
#[derive(Debug)]
pub(crate) struct Request {
    /// The CI ferry runs in (where `up`, `down` and `gc` publish their outputs).
    pub ci: Option<Context>,
    pub command: Command,
}

#[derive(Debug)]
pub(crate) enum Command {
    Up(Box<UpRequest>),
    Down(DownRequest),
    List(RepoRequest),
    Gc(GcRequest),
}

/// The environment repository, and how ferry writes to it.
#[derive(Debug, Clone)]
pub(crate) struct RepoRequest {
    pub access: Access,
    /// The commits' author, over `commit.author` in ferry.yaml.
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// How many times to try the push.
    pub attempts: u32,
    /// The current time (`--now`), else the clock's when the repository is opened.
    pub now: Option<Time>,
}

/// The application repository whose merge requests previews belong to.
#[derive(Debug, Clone)]
pub(crate) struct AppRequest {
    /// This run's application repository (--app-repo, else the CI's), without a password.
    pub repo: Option<String>,
    /// Its API token (else the environment repository's).
    pub token: Option<SecretString>,
    pub forge: ForgeArgs,
}

/// `ferry preview up`.
#[derive(Debug, Clone)]
pub(crate) struct UpRequest {
    pub name: String,
    /// The merge request, and its application repository ([`AppRequest::repo`]).
    pub change_request: Option<(u64, String)>,
    pub images: Vec<ImageUpdate>,
    /// `--set KEY=VALUE` values.
    pub values: BTreeMap<String, String>,
    pub source: PreviewSource,
    pub dry_run: bool,
    pub repo: RepoRequest,
    pub app: AppRequest,
}

/// `ferry preview down`.
#[derive(Debug, Clone)]
pub(crate) struct DownRequest {
    pub name: String,
    pub change_request: Option<u64>,
    pub dry_run: bool,
    pub repo: RepoRequest,
    pub app: AppRequest,
}

/// `ferry preview gc`.
#[derive(Debug, Clone)]
pub(crate) struct GcRequest {
    pub dry_run: bool,
    pub repo: RepoRequest,
    pub app: AppRequest,
}

impl Request {
    /// The request of `args`, in the CI the process runs in.
    pub fn from_args(args: &PreviewArgs) -> Result<Request, Error> {
        if let PreviewCommand::List(list) = &args.command {
            return Ok(Request {
                ci: None,
                command: Command::List(RepoRequest::from_args(&list.repo)?),
            });
        }
        let ci = Context::from_env();
        let command = Command::from_args(args, ci.as_ref())?;
        Ok(Request { ci, command })
    }
}

impl Command {
    /// The command of `args`, its defaults taken from the CI's `context`.
    pub fn from_args(args: &PreviewArgs, context: Option<&Context>) -> Result<Command, Error> {
        Ok(match &args.command {
            PreviewCommand::Up(args) => Command::Up(Box::new(UpRequest::from_args(args, context)?)),
            PreviewCommand::Down(args) => {
                let (name, change_request) = which(&args.which, context)?;
                Command::Down(DownRequest {
                    name,
                    change_request,
                    dry_run: args.dry_run,
                    repo: RepoRequest::from_args(&args.repo)?,
                    app: AppRequest::from_args(&args.app, context),
                })
            }
            PreviewCommand::List(args) => Command::List(RepoRequest::from_args(&args.repo)?),
            PreviewCommand::Gc(args) => Command::Gc(GcRequest {
                dry_run: args.dry_run,
                repo: RepoRequest::from_args(&args.repo)?,
                app: AppRequest::from_args(&args.app, context),
            }),
        })
    }
}

impl RepoRequest {
    fn from_args(args: &PreviewRepoArgs) -> Result<RepoRequest, Error> {
        Ok(RepoRequest {
            access: Access::of_connection(
                &args.connection,
                args.config_branch.clone(),
                ForgeArgs::default(),
            )?,
            author_name: args.commit.author_name.clone(),
            author_email: args.commit.author_email.clone(),
            attempts: args.commit.attempts,
            now: args.now,
        })
    }
}

impl AppRequest {
    fn from_args(args: &PreviewAppArgs, context: Option<&Context>) -> AppRequest {
        AppRequest {
            repo: args
                .app_repo
                .clone()
                .or_else(|| context.and_then(|c| c.source_repo.clone()))
                .map(|url| RepoUrl::shown(&url)),
            token: args.app_token.clone(),
            forge: args.forge.clone(),
        }
    }
}

impl UpRequest {
    fn from_args(args: &PreviewUpArgs, context: Option<&Context>) -> Result<UpRequest, Error> {
        let (name, number) = which(&args.which, context)?;
        let repo = RepoRequest::from_args(&args.repo)?;
        let app = AppRequest::from_args(&args.app, context);
        let change_request = match number {
            Some(number) => Some((number, app.repo.clone().ok_or_else(|| {
                Error::Usage(format!(
                    "merge request {number}: which application repository? give --app-repo URL (FERRY_APP_REPO)"
                ))
            })?)),
            None => None,
        };
        Ok(UpRequest {
            name,
            change_request,
            images: requested_updates(&args.updates, None)?,
            values: args.values.iter().cloned().collect(),
            source: PreviewSource {
                repo: args
                    .source_repo
                    .clone()
                    .or_else(|| context.and_then(|c| c.source_repo.clone()))
                    .map(|u| RepoUrl::shown(&u)),
                commit: args
                    .source_commit
                    .clone()
                    .or_else(|| context.and_then(|c| c.source_commit.clone())),
                branch: args
                    .source_ref
                    .clone()
                    .or_else(|| context.and_then(|c| c.source_ref.clone())),
            },
            dry_run: args.dry_run,
            repo,
            app,
        })
    }
}

/// The name and change request of the preview: flags, else the CI's branch and merge request.
fn which(args: &PreviewWhich, context: Option<&Context>) -> Result<(String, Option<u64>), Error> {
    let name = args
        .name
        .clone()
        .or_else(|| context.and_then(|c| c.source_ref.clone()))
        .ok_or_else(|| {
            Error::Usage(
                "which preview? give --name NAME (FERRY_PREVIEW_NAME); in a merge request pipeline it is the source branch".to_owned(),
            )
        })?;
    let number = args
        .change_request
        .or_else(|| context.and_then(|c| c.change_request));
    Ok((name, number))
}
