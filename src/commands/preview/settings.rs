//! The environment repository as `ferry preview` sees it: the one [`Site`] every command opens,
//! with the `previews:` settings of its `ferry.yaml` beside it.

use super::super::{Error, read_template, site::Site};
use super::request::RepoRequest;
use crate::clock::Time;
use crate::config::{self, Config, Previews, Template as ConfigTemplate};
use crate::git::{Identity, Store};
use crate::preview::{self, PreviewDeploy, Template};

use super::super::transaction::Transaction;

/// The environment repository, opened, with its `previews:` settings. The two are apart so a
/// transaction can write with the site's store while its plan reads the settings.
pub(super) struct PreviewSite {
    pub site: Site,
    pub settings: Settings,
}

/// What `ferry preview` reads from an environment repository and the command line: the
/// `previews:` settings of its `ferry.yaml` (the defaults without one), the template, the
/// author, the time.
pub(super) struct Settings {
    pub previews: Previews,
    pub identity: Identity,
    /// A repository template: (path, text).
    template_file: Option<(String, String)>,
    /// Namespaces no preview may name (the environments'), for the rendered-preview check.
    pub reserved: Vec<String>,
    pub now: Time,
    attempts: u32,
}

impl PreviewSite {
    /// Opens the repository of `request` and reads its `ferry.yaml` (and template file).
    pub fn open(request: &RepoRequest) -> Result<PreviewSite, Error> {
        let site = Site::open(&request.access)?;
        let settings = Settings::of(&site, request)?;
        Ok(PreviewSite { site, settings })
    }

    /// What the preview deploys, from `previews.deploy` (a built-in template needs its path).
    pub fn deploy(&self) -> Result<PreviewDeploy, Error> {
        let previews = &self.settings.previews;
        let deploy = &previews.deploy;
        let path = match (&deploy.path, self.settings.template()) {
            (Some(path), _) => path.as_str().to_owned(),
            (None, Template::File { .. }) => String::new(),
            (None, _) => {
                return Err(Error::Usage(format!(
                    "{}: previews.deploy.path is not set: the built-in {} template needs the directory of the kustomization (or chart) a preview deploys, e.g.\n  previews:\n    deploy:\n      path: previews/base",
                    config::FILE_NAME,
                    previews.template
                )));
            }
        };
        Ok(PreviewDeploy {
            repo: deploy
                .repo
                .clone()
                .unwrap_or_else(|| self.site.store.url().to_string()),
            revision: deploy
                .revision
                .clone()
                .unwrap_or_else(|| self.site.config_tip.branch.clone()),
            path,
            images: deploy.images.as_str().to_owned(),
        })
    }
}

impl Settings {
    /// The settings of `site` for `request`.
    fn of(site: &Site, request: &RepoRequest) -> Result<Settings, Error> {
        let default = Config::default();
        let config = site.config.as_ref().unwrap_or(&default);
        let template_file = match &config.previews.template {
            ConfigTemplate::File(path) => {
                let path = config::RelPath::new(path)
                    .map_err(|e| Error::Usage(format!("previews.template: {e}")))?;
                read_template(
                    &site.store,
                    &site.config_tip,
                    "previews.template",
                    Some(&path),
                )?
            }
            _ => None,
        };
        let author = &config.commit.author;
        Ok(Settings {
            previews: config.previews.clone(),
            identity: Identity {
                name: request
                    .author_name
                    .clone()
                    .unwrap_or_else(|| author.name.clone()),
                email: request
                    .author_email
                    .clone()
                    .unwrap_or_else(|| author.email.clone()),
            },
            template_file,
            reserved: preview::reserved_of(config),
            now: request.now.unwrap_or_else(Time::now),
            attempts: request.attempts,
        })
    }

    /// The previews branch.
    pub fn branch(&self) -> &str {
        &self.previews.branch
    }

    pub fn template(&self) -> Template<'_> {
        match (&self.previews.template, &self.template_file) {
            (ConfigTemplate::Flux, _) => Template::Flux,
            (ConfigTemplate::File(_), Some((name, text))) => Template::File { name, text },
            _ => Template::Argocd,
        }
    }

    /// The previews' directory on the branch (empty: its root).
    pub fn directory(&self) -> &str {
        self.previews.directory.as_str()
    }

    /// `name` in the previews' directory.
    pub fn path_of(&self, name: &str) -> String {
        if self.directory().is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.directory())
        }
    }

    /// The file of the preview with this slug. The slug is a DNS label: it cannot climb out.
    pub fn file_of(&self, slug: &str) -> String {
        self.path_of(&format!("{slug}.yaml"))
    }

    /// How previews are written: on the previews branch, created when absent.
    pub fn transaction(&self, dry_run: bool) -> Transaction<'_> {
        Transaction {
            branch: &self.previews.branch,
            create: true,
            attempts: self.attempts,
            identity: &self.identity,
            signer: None,
            dry_run,
        }
    }

    /// The names of a preview: (slug, namespace, release), all under `previews.prefix`.
    pub fn names(&self, name: &str) -> (String, String, String) {
        preview::names(
            name,
            &self.previews.prefix,
            self.previews.namespace_limit as usize,
            self.previews.release_limit as usize,
        )
    }

    pub fn url_of(&self, slug: &str) -> Option<String> {
        self.previews
            .url
            .as_ref()
            .map(|pattern| pattern.replace("{slug}", slug))
    }
}
