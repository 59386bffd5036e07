//! An environment repository opened for reading: its `ferry.yaml`, its environments' tips, and
//! its forge, as `promote`, `rollback`, `status`, `history` and `wait` need them; [`fetch`] also
//! opens it for `preview`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{Error, read_config};
use crate::ci;
use crate::cli::{Connection, RepoArgs};
use crate::config::{self, Config, ResolvedEnvironment};
use crate::forge::{self, Forge};
use crate::git::{Credentials, Remote, RepoUrl, Store, Tip, UrlSecret};
use crate::report;

/// An environment repository opened and its `ferry.yaml` read.
pub(crate) struct Fetched {
    pub store: Remote,
    pub url: RepoUrl,
    pub config: Option<Config>,
    /// Where `ferry.yaml` was read.
    pub config_tip: Tip,
    /// The token for the forge's API, and whether it is a CI job token.
    pub api_token: Option<(SecretString, bool)>,
}

/// Opens `given` (a URL or a path) with `token` and the other credentials of `connection`, and
/// reads its `ferry.yaml` from `config_branch` or the default branch: how every command but
/// bump first reaches the environment repository.
pub(crate) fn fetch(
    connection: &Connection,
    given: &str,
    token: Option<SecretString>,
    config_branch: Option<&str>,
) -> Result<Fetched, Error> {
    let (url, url_secret) = RepoUrl::parse(given).map_err(Error::Usage)?;
    let credentials = credentials(
        &url,
        url_secret,
        token,
        connection.username.clone(),
        connection.ssh_key.clone(),
    );
    let api_token = credentials.api_token();
    let mut store = Remote::open(url.clone(), credentials, connection.cache_dir.as_deref())?;
    let config_tip = store.fetch(config_branch)?;
    let config = read_config(&store, &config_tip)?;
    Ok(Fetched {
        store,
        url,
        config,
        config_tip,
        api_token,
    })
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
    /// Opens `repo` (else `args`' repository) with `token` (else `args`' token) and reads its
    /// `ferry.yaml` from `args.config_branch` or the default branch.
    pub fn open(
        args: &RepoArgs,
        other: Option<(&str, Option<SecretString>)>,
    ) -> Result<Site, Error> {
        let connection = &args.connection;
        let (given, token) = match other {
            Some((repo, token)) => (repo.to_owned(), token.or_else(|| connection.token.clone())),
            None => (connection.repo.clone(), connection.token.clone()),
        };
        let Fetched {
            store,
            url,
            config,
            config_tip,
            api_token,
        } = fetch(connection, &given, token, args.config_branch.as_deref())?;
        Ok(Site {
            store,
            url,
            given,
            config,
            config_tip,
            api_token,
            forge_args: args.forge.clone(),
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
}
