//! What a bump is asked to do, resolved from the command line (or from another command) with
//! every local check made before any network call: the updates, the repository and how to
//! reach it, the target, the commit's author and signer, the audit trailers and the change
//! request's audience.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use super::super::Error;
use super::super::change_request::Preset;
use super::super::site::Site;
use crate::ci::{self, Context, one_line};
use crate::cli::{BumpArgs, SignFormat, Signing, Source, WriteArgs};
use crate::config::{self, Update};
use crate::forge::ForgeArgs;
use crate::git::sign::{self, KeySource};
use crate::git::{RepoUrl, Signer, Transport, UrlSecret};
use crate::image::ImageUpdate;
use crate::plan::Planner;
use crate::render::Trailer;
use crate::report;
use crate::stamps::Origin;
use crate::trailers;

/// Everything a bump needs, clap-free.
pub(crate) struct Request {
    pub(super) planner: Planner,
    pub(super) repo: RepoUrl,
    /// The password the URL carried, if any (used, and warned about).
    pub(super) url_secret: Option<UrlSecret>,
    pub(super) token: Option<SecretString>,
    pub(super) username: Option<String>,
    pub(super) ssh_key: Option<PathBuf>,
    pub(super) cache_dir: Option<PathBuf>,
    /// The branch to change (`None`: the environment's, else the default branch).
    pub(super) branch: Option<String>,
    pub(super) env: Option<String>,
    /// The directory to change, normalized (`--path`).
    pub(super) path: Option<String>,
    pub(super) dry_run: bool,
    pub(super) strict: bool,
    pub(super) force: bool,
    /// How many times to try the push.
    pub(super) attempts: u32,
    pub(super) author_name: Option<String>,
    pub(super) author_email: Option<String>,
    pub(super) signer: Option<Signer>,
    /// The CI ferry runs in.
    pub(super) context: Option<Context>,
    /// Where the tag comes from, for the stale-write guard.
    pub(super) origin: Origin,
    /// The audit trailers: the CI's, with flags on top.
    pub(super) source_trailers: Vec<Trailer>,
    pub(super) via: Option<Update>,
    pub(super) labels: Vec<String>,
    pub(super) reviewers: Vec<String>,
    pub(super) assignees: Vec<String>,
    pub(super) forge: ForgeArgs,
    /// What the command running this bump (a promotion, a rollback) says in bump's place.
    pub(super) preset: Option<Preset>,
}

/// The repository and how to reach it.
struct Connect {
    /// The repository as given (a URL, a path).
    pub given: String,
    pub token: Option<SecretString>,
    pub username: Option<String>,
    pub ssh_key: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
}

/// The commit's author and signer, and how many times to try the push.
struct Committing {
    pub attempts: u32,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub signer: Option<Signer>,
}

/// Where the bump's change comes from, when given (unset, the CI's).
#[derive(Default)]
struct Sources {
    pub repo: Option<String>,
    pub source_ref: Option<String>,
    pub commit: Option<String>,
    pub run_number: Option<u64>,
}

impl Request {
    /// The request of `ferry bump`'s arguments.
    pub fn resolve(args: &BumpArgs) -> Result<Request, Error> {
        let updates = super::super::requested_updates(&args.updates, args.digest.as_ref())?;
        let mut request = Request::new(
            updates,
            Connect {
                given: args.connection.repo.clone(),
                token: args.connection.token.clone(),
                username: args.connection.username.clone(),
                ssh_key: args.connection.ssh_key.clone(),
                cache_dir: args.connection.cache_dir.clone(),
            },
            Committing {
                attempts: args.commit.attempts,
                author_name: args.commit.author_name.clone(),
                author_email: args.commit.author_email.clone(),
                signer: None,
            },
            &sources(&args.source),
        )?;
        request.branch.clone_from(&args.branch);
        request.env.clone_from(&args.env);
        request.dry_run = args.dry_run;
        request.strict = args.strict;
        request.force = args.force;
        request.labels.clone_from(&args.labels);
        request.reviewers.clone_from(&args.reviewers);
        request.assignees.clone_from(&args.assignees);
        request.forge = args.forge.clone();
        request.set_via(args.via)?;
        request.set_path(args.path.as_deref())?;
        request.signer = signer(signing(&args.signing))?;
        Ok(request)
    }

    /// A bump with the repository, the updates and the source; everything else defaulted: no
    /// target, no signer, the forge found from the URL or the CI. The URL is checked here.
    fn new(
        updates: Vec<ImageUpdate>,
        connect: Connect,
        committing: Committing,
        source: &Sources,
    ) -> Result<Request, Error> {
        let planner = Planner::new(updates)?;
        let (repo, url_secret) = RepoUrl::parse(&connect.given).map_err(Error::Usage)?;
        if url_secret.is_some() {
            tracing::warn!(
                "--repo carries a password; it is used, but pass tokens in FERRY_TOKEN instead: URLs end up in logs"
            );
        }
        let context = Context::from_env();
        Ok(Request {
            planner,
            repo,
            url_secret,
            token: connect.token,
            username: connect.username,
            ssh_key: connect.ssh_key,
            cache_dir: connect.cache_dir,
            branch: None,
            env: None,
            path: None,
            dry_run: false,
            strict: false,
            force: false,
            attempts: committing.attempts,
            author_name: committing.author_name,
            author_email: committing.author_email,
            signer: committing.signer,
            origin: origin(context.as_ref(), source),
            source_trailers: source_trailers(context.as_ref(), source),
            context,
            via: None,
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
            forge: ForgeArgs::default(),
            preset: None,
        })
    }

    /// The bump of `env` in `site` that another command runs with its own words (a
    /// [`Preset`], see [`Request::with_preset`]): a promotion, a rollback.
    pub fn of_site(
        site: &Site,
        write: &WriteArgs,
        env: Option<String>,
        updates: Vec<ImageUpdate>,
        via: Option<Update>,
    ) -> Result<Request, Error> {
        let mut request = Request::new(
            updates,
            Connect {
                given: site.given.clone(),
                token: site.token(),
                username: None,
                ssh_key: None,
                // Not the site's cache: the site holds it locked.
                cache_dir: None,
            },
            Committing {
                attempts: write.commit.attempts,
                author_name: write.commit.author_name.clone(),
                author_email: write.commit.author_email.clone(),
                signer: None,
            },
            &Sources::default(),
        )?;
        request.env = env;
        request.dry_run = write.dry_run;
        // ferry.yaml's `strict: true` on the environment still applies; promotions and
        // rollbacks set versions on purpose: the stale-write guard is for builds racing each
        // other.
        request.force = true;
        request.labels.clone_from(&write.labels);
        request.reviewers.clone_from(&write.reviewers);
        request.forge = site.forge_args().clone();
        request.set_via(via)?;
        request.signer = signer(signing(&write.signing))?;
        Ok(request)
    }

    /// The CI ferry runs in, as the request read it.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_ref()
    }

    /// This request with `preset`'s words in bump's place.
    #[must_use]
    pub fn with_preset(mut self, preset: Preset) -> Request {
        self.preset = Some(preset);
        self
    }

    /// How the change reaches the branch; a change request needs a forge.
    fn set_via(&mut self, via: Option<Update>) -> Result<(), Error> {
        if via == Some(Update::PullRequest) {
            no_forge_in(&self.repo, "--via pull-request")?;
        }
        self.via = via;
        Ok(())
    }

    /// The directory to change (`--path`), checked and normalized.
    fn set_path(&mut self, path: Option<&str>) -> Result<(), Error> {
        self.path = path.map(target_path).transpose()?;
        Ok(())
    }

    /// The audit trailers of the commit: the source's, then the preset's.
    pub(super) fn trailers(&self) -> Vec<Trailer> {
        let mut list = self.source_trailers.clone();
        if let Some(preset) = &self.preset {
            for (key, value) in &preset.trailers {
                list.push(Trailer {
                    key: key.clone(),
                    value: one_line(value),
                });
            }
        }
        list
    }
}

/// What `ferry merge` recomputes a change request from: how it reaches the repository, the
/// change request's target branch, and what the trailers of its commit record (`Ferry-Path`,
/// `Ferry-Update`, the source's).
pub(crate) struct Recorded {
    pub repo: String,
    pub token: Option<SecretString>,
    pub forge: ForgeArgs,
    pub base_branch: String,
    pub path: String,
    pub updates: Vec<String>,
    pub source_repo: Option<String>,
    pub source_commit: Option<String>,
    pub source_ref: Option<String>,
    pub run_number: Option<String>,
}

impl Request {
    /// The bump that made a change request, run again on its target's tip (`--via
    /// pull-request`, and `--force`: the guard passed when the change was first proposed). What
    /// the process environment sets for `ferry bump` (`FERRY_ATTEMPTS`, the author, signing,
    /// the source when no trailer says) applies as it would. A trailer (or variable) that does
    /// not read is an error worded by `invalid`, given clap's words for it.
    pub fn recompute(
        recorded: Recorded,
        invalid: &dyn Fn(String) -> Error,
    ) -> Result<Request, Error> {
        let bad = |value: &str, arg: &str, why: &dyn std::fmt::Display| {
            invalid(format!(
                "error: invalid value '{value}' for '{arg}': {why}\n\nFor more information, try '--help'.\n"
            ))
        };
        let updates = recorded
            .updates
            .iter()
            .map(|u| ImageUpdate::parse(u).map_err(|e| bad(u, "<IMAGE=TAG>...", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let run_number = match recorded.run_number.or_else(|| variable("FERRY_RUN_NUMBER")) {
            Some(n) => Some(
                n.parse::<u64>()
                    .map_err(|e| bad(&n, "--run-number <N>", &e))?,
            ),
            None => None,
        };
        let attempts = match variable("FERRY_ATTEMPTS") {
            Some(n) => match n.parse::<u32>() {
                Ok(a) if (1..=100).contains(&a) => a,
                Ok(a) => return Err(bad(&n, "--attempts <N>", &format!("{a} is not in 1..=100"))),
                Err(e) => return Err(bad(&n, "--attempts <N>", &e)),
            },
            None => 8,
        };
        let sign = match variable("FERRY_SIGN").as_deref() {
            None => None,
            Some("ssh") => Some(sign::Format::Ssh),
            Some("gpg") => Some(sign::Format::Gpg),
            Some(other) => {
                return Err(invalid(format!(
                    "error: invalid value '{other}' for '--sign <FORMAT>'\n  [possible values: ssh, gpg]\n\nFor more information, try '--help'.\n"
                )));
            }
        };
        let source = Sources {
            repo: recorded
                .source_repo
                .or_else(|| variable("FERRY_SOURCE_REPO")),
            source_ref: recorded.source_ref.or_else(|| variable("FERRY_SOURCE_REF")),
            commit: recorded
                .source_commit
                .or_else(|| variable("FERRY_SOURCE_COMMIT")),
            run_number,
        };
        let connect = Connect {
            given: recorded.repo,
            token: recorded.token,
            username: variable("FERRY_USERNAME"),
            ssh_key: variable("FERRY_SSH_KEY").map(PathBuf::from),
            cache_dir: variable("FERRY_CACHE_DIR").map(PathBuf::from),
        };
        let committing = Committing {
            attempts,
            author_name: variable("FERRY_AUTHOR_NAME"),
            author_email: variable("FERRY_AUTHOR_EMAIL"),
            signer: None,
        };
        let mut request = Request::new(updates, connect, committing, &source)?;
        request.branch = Some(recorded.base_branch);
        request.forge = recorded.forge;
        request.force = true;
        request.set_via(Some(Update::PullRequest))?;
        request.set_path(Some(&recorded.path))?;
        let key = variable("FERRY_SIGNING_KEY_FILE");
        request.signer = signer((sign, key.as_deref()))?;
        Ok(request)
    }
}

/// A variable of the process environment that `ferry bump` reads for a flag (unset when
/// empty, as for the flag).
fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `--source-*` and `--run-number`.
fn sources(source: &Source) -> Sources {
    Sources {
        repo: source.source_repo.clone(),
        source_ref: source.source_ref.clone(),
        commit: source.source_commit.clone(),
        run_number: source.run_number,
    }
}

/// A change request needs a forge, which a local repository (a path, `file://`) does not have.
pub(super) fn no_forge_in(url: &RepoUrl, what: &str) -> Result<(), Error> {
    if url.transport() != Transport::Local {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{what}: the change goes through a pull/merge request, and {url} is a local repository, with no forge to open one on: pass --via push to push to the branch directly, or give --repo as the repository's URL on GitHub or GitLab"
    )))
}

/// `--path` as the repository path it names: `./envs/staging/` is `envs/staging`, `.` the root
/// (`""`). Absolute paths and `..` are refused (exit 2), as are backslashes and control
/// characters.
pub(super) fn target_path(path: &str) -> Result<String, Error> {
    use config::RelPathError;
    config::RelPath::normalize(path).map_err(|e| {
        Error::Usage(match e {
            RelPathError::Absolute | RelPathError::ParentDir => format!(
                "--path {}: give a directory relative to the repository root, without `..`",
                one_line(path)
            ),
            other => format!("--path {}: {other}; {}", one_line(path), other.hint()),
        })
    })
}

/// Where the tag comes from, for the stale-write guard: the CI's context with flags on top.
fn origin(context: Option<&Context>, source: &Sources) -> Origin {
    let mut origin = context.map_or_else(Origin::default, |c| Origin {
        repo: c.source_repo.clone(),
        source_ref: c.source_ref.clone(),
        workflow: c.workflow.clone(),
        run: c.run_number,
        commit: c.source_commit.clone(),
    });
    if let Some(repo) = &source.repo {
        origin.repo = Some(one_line(repo));
    }
    if let Some(r) = &source.source_ref {
        origin.source_ref = Some(one_line(r));
    }
    if let Some(c) = &source.commit {
        origin.commit = Some(one_line(c));
    }
    if let Some(n) = source.run_number {
        origin.run = Some(n);
    }
    origin
}

/// The audit trailers: the CI's, with flags on top.
fn source_trailers(context: Option<&Context>, source: &Sources) -> Vec<Trailer> {
    let mut list: Vec<(String, String)> = context
        .map(ci::trailers)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(value) = value.map(|v| one_line(&v)).filter(|v| !v.is_empty()) {
            match list.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => list.push((key.to_owned(), value)),
            }
        }
    };
    set(trailers::SOURCE_REPO, source.repo.clone());
    set(trailers::SOURCE_COMMIT, source.commit.clone());
    set(trailers::SOURCE_REF, source.source_ref.clone());
    set(
        trailers::RUN_NUMBER,
        source.run_number.map(|n| n.to_string()),
    );
    list.into_iter()
        .map(|(key, value)| Trailer { key, value })
        .collect()
}

/// `--sign` and `--signing-key`.
fn signing(args: &Signing) -> (Option<sign::Format>, Option<&str>) {
    let format = args.sign.map(|f| match f {
        SignFormat::Ssh => sign::Format::Ssh,
        SignFormat::Gpg => sign::Format::Gpg,
    });
    (format, args.signing_key.as_deref())
}

/// The signer from --sign, --signing-key and $FERRY_SIGNING_KEY.
fn signer(
    (sign, signing_key): (Option<sign::Format>, Option<&str>),
) -> Result<Option<Signer>, Error> {
    let inline = std::env::var("FERRY_SIGNING_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(SecretString::from);
    if let Some(key) = &inline {
        for line in key.expose_secret().lines() {
            report::add_secret(line);
        }
    }
    let format = match (sign, signing_key, &inline) {
        (Some(f), _, _) => f,
        (None, None, None) => return Ok(None),
        (None, _, _) => sign::Format::Ssh,
    };
    let source = match format {
        sign::Format::Ssh => ssh_key(signing_key, inline)?,
        sign::Format::Gpg => gpg_key(signing_key, inline)?,
    };
    let signer = Signer::new(format, source).map_err(|e| Error::Sign(e.to_string()))?;
    tracing::debug!(signer = %signer.describe(), "signing commits");
    Ok(Some(signer))
}

fn ssh_key(signing_key: Option<&str>, inline: Option<SecretString>) -> Result<KeySource, Error> {
    match (signing_key, inline) {
        (Some(file), _) => Ok(KeySource::File(file.into())),
        (None, Some(key)) => Ok(KeySource::Inline(key)),
        (None, None) => Err(Error::Usage(
            "--sign ssh needs a key: --signing-key FILE or the key itself in $FERRY_SIGNING_KEY"
                .to_owned(),
        )),
    }
}

fn gpg_key(signing_key: Option<&str>, inline: Option<SecretString>) -> Result<KeySource, Error> {
    match (signing_key, inline) {
        (Some(key), _) if Path::new(key).is_file() => Ok(KeySource::File(key.into())),
        (Some(id), _) => Ok(KeySource::KeyId(id.to_owned())),
        (None, Some(key)) => Ok(KeySource::Inline(key)),
        (None, None) => Err(Error::Usage(
            "--sign gpg needs a key: --signing-key KEYID (or an armored key file), or the armored key in $FERRY_SIGNING_KEY".to_owned(),
        )),
    }
}
