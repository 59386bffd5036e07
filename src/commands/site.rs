//! An environment repository opened for reading: its `ferry.yaml`, its environments' tips, and
//! its forge, as `promote`, `rollback`, `status`, `history`, `wait` and `preview` need them.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{Error, read_config};
use crate::ci;
use crate::cli::{Connection, RepoArgs};
use crate::config::{self, Config, ResolvedEnvironment};
use crate::forge::{self, Forge};
use crate::git::{Credentials, Remote, RepoUrl, Store, Tip, UrlSecret};
use crate::report;

/// How to reach an environment repository, resolved from the command line with no network
/// call: the repository (its URL parsed), the credentials to use for it, where to cache it,
/// where its `ferry.yaml` is read, and the forge flags. Clap-free: commands build it from their
/// arguments ([`Access::of`]) or from another command's request.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The text given for the repository (a URL, a path), to hand on to a bump.
    pub given: String,
    pub url: RepoUrl,
    /// The password the URL carried, if any (used, and warned about).
    pub url_secret: Option<UrlSecret>,
    pub token: Option<SecretString>,
    pub username: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// The branch `ferry.yaml` is read from (`None`: the default branch).
    pub config_branch: Option<String>,
    pub forge: forge::ForgeArgs,
}

impl Access {
    /// The repository of `args`, its URL checked.
    pub fn of(args: &RepoArgs) -> Result<Access, Error> {
        Access::of_connection(
            &args.connection,
            args.config_branch.clone(),
            args.forge.clone(),
        )
    }

    /// The repository of `connection`, its URL checked.
    pub fn of_connection(
        connection: &Connection,
        config_branch: Option<String>,
        forge: forge::ForgeArgs,
    ) -> Result<Access, Error> {
        let (url, url_secret) = RepoUrl::parse(&connection.repo).map_err(Error::Usage)?;
        Ok(Access {
            given: connection.repo.clone(),
            url,
            url_secret,
            token: connection.token.clone(),
            username: connection.username.clone(),
            ssh_key: connection.ssh_key.clone(),
            cache_dir: connection.cache_dir.clone(),
            config_branch,
            forge,
        })
    }

    /// Another repository `given` reached the same way, with `token` (else this one's token).
    pub fn other(&self, given: &str, token: Option<SecretString>) -> Result<Access, Error> {
        let (url, url_secret) = RepoUrl::parse(given).map_err(Error::Usage)?;
        Ok(Access {
            given: given.to_owned(),
            url,
            url_secret,
            token: token.or_else(|| self.token.clone()),
            ..self.clone()
        })
    }
}

/// The credentials for `url` (see [`Credentials::resolve`]), their secret registered so that
/// no output shows it.
pub(crate) fn credentials(
    url: &RepoUrl,
    url_secret: Option<UrlSecret>,
    token: Option<SecretString>,
    username: Option<String>,
    ssh_key: Option<PathBuf>,
) -> Credentials {
    let credentials =
        Credentials::resolve(url, token, url_secret, username, ssh_key, &ci::process_env);
    if let Some(secret) = credentials.secret() {
        report::add_secret(secret);
    }
    credentials
}

/// One environment repository, fetched.
pub(crate) struct Site {
    pub store: Remote,
    pub url: RepoUrl,
    /// The text given for the repository (a URL, a path), to hand on to a bump.
    pub given: String,
    pub config: Option<Config>,
    /// Where `ferry.yaml` was read.
    pub config_tip: Tip,
    api_token: Option<(SecretString, bool)>,
    forge_args: forge::ForgeArgs,
}

impl Site {
    /// Opens the repository of `access` and reads its `ferry.yaml` from its config branch or
    /// the default branch: how every command but bump first reaches the environment
    /// repository.
    pub fn open(access: &Access) -> Result<Site, Error> {
        let url = access.url.clone();
        let credentials = credentials(
            &url,
            access.url_secret.clone(),
            access.token.clone(),
            access.username.clone(),
            access.ssh_key.clone(),
        );
        let api_token = credentials.api_token();
        let mut store = Remote::open(url.clone(), credentials, access.cache_dir.as_deref())?;
        let config_tip = store.fetch(access.config_branch.as_deref())?;
        let config = read_config(&store, &config_tip)?;
        Ok(Site {
            store,
            url,
            given: access.given.clone(),
            config,
            config_tip,
            api_token,
            forge_args: access.forge.clone(),
        })
    }

    /// The repository's `ferry.yaml`, which these commands need.
    pub fn config(&self) -> Result<&Config, Error> {
        self.config.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "{}: there is no {} on branch `{}`: environments are named there (see docs/config.md)",
                self.url,
                config::FILE_NAME,
                ci::one_line(&self.config_tip.branch)
            ))
        })
    }

    /// The environment `name`, with the file named in errors.
    pub fn environment(&self, name: &str) -> Result<ResolvedEnvironment, Error> {
        self.config()?.environment(name).map_err(|mut e| {
            e.file = Path::new(config::FILE_NAME).to_path_buf();
            Error::Config(e)
        })
    }

    /// The tip of `env`'s branch (fetched unless it is the branch `ferry.yaml` came from).
    pub fn tip_of(&mut self, env: &ResolvedEnvironment) -> Result<Tip, Error> {
        if env.branch == self.config_tip.branch {
            return Ok(self.config_tip.clone());
        }
        Ok(self.store.fetch(Some(&env.branch))?)
    }

    /// The repository's forge.
    pub fn forge(&self) -> Result<Box<dyn Forge>, Error> {
        let settings = forge::resolve_settings(
            &self.forge_args,
            &self.url,
            self.api_token.clone(),
            &ci::process_env,
        )?;
        Ok(forge::connect(settings)?)
    }

    /// The forge flags, to hand on.
    pub fn forge_args(&self) -> &forge::ForgeArgs {
        &self.forge_args
    }

    /// The token given for this repository, to hand on to a bump.
    pub fn token(&self) -> Option<SecretString> {
        self.api_token.as_ref().map(|(t, _)| t.clone())
    }

    /// The token for the forge's API, and whether it is a CI job token: what an application
    /// repository's forge falls back to (`ferry preview`).
    pub fn api_token(&self) -> Option<&(SecretString, bool)> {
        self.api_token.as_ref()
    }
}
