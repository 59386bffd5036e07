//! How ferry talks to GitHub: octocrab's clients (their authentication, user agent and
//! timeouts) behind [`api`](super::super::api)'s [`Transport`], connecting (a GitHub App's
//! installation token minted for this repository), requests below the REST base, and
//! pagination by `Link` headers.

use http::Method;
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::super::api::{Api, Request, Response, Transport};
use super::super::{ForgeAuth, ForgeError, ForgeSettings};
use super::{API_VERSION, GitHub, KIND, MEDIA_TYPE};

/// One page of a list: GitHub's maximum.
const PER_PAGE: u32 = 100;

/// Most pages read from one list (10,000 items): a bound, not a limit anyone should meet.
const MAX_PAGES: u32 = 100;

/// Sends requests with octocrab's clients (their authentication, user agent and timeouts).
///
/// octocrab prefixes every request with its base URI, and adds App and installation
/// credentials only to requests without a host (or to api.github.com). So URLs are sent as
/// paths: below the REST base with one client, and below the server's root (for GitHub
/// Enterprise's GraphQL endpoint, `/api/graphql`, which is not below `/api/v3`) with another.
pub struct OctocrabTransport {
    rest: (Octocrab, String),
    root: (Octocrab, String),
}

/// Both clients of a transport, for `auth`.
fn transport(settings: &ForgeSettings, auth: &ForgeAuth) -> Result<OctocrabTransport, ForgeError> {
    let rest = settings.api_url.clone();
    let root = origin(&rest);
    Ok(OctocrabTransport {
        rest: (build_client(settings, &rest, auth)?, rest),
        root: (build_client(settings, &root, auth)?, root),
    })
}

/// `scheme://host[:port]` of a URL, as written: the prefix requests to the server's root
/// (GraphQL, the App's endpoints) are recognised by.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url.to_owned(),
    }
}

impl Transport for OctocrabTransport {
    async fn send(&self, request: &Request) -> Result<Response, String> {
        let below = |(client, base): &'_ (Octocrab, String)| {
            request
                .url
                .strip_prefix(base.as_str())
                .filter(|path| path.starts_with('/'))
                .map(|path| (client.clone(), path.to_owned()))
        };
        let Some((client, url)) = below(&self.rest).or_else(|| below(&self.root)) else {
            return Err(format!(
                "{} is not on the API's server {}",
                request.url, self.root.1
            ));
        };
        let client = &client;
        let url = url.as_str();
        let body = request.body.as_ref();
        let result = match request.method {
            Method::GET => client._get(url).await,
            Method::POST => client._post(url, body).await,
            Method::PATCH => client._patch(url, body).await,
            Method::PUT => client._put(url, body).await,
            Method::DELETE => client._delete(url, body).await,
            ref other => return Err(format!("method {other} is not used")),
        };
        let response = result.map_err(|err| describe_client_error(&err))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|err| describe_client_error(&err))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// A network or client failure, in words (octocrab's errors carry no secrets; its Display is
/// short, so the source chain is added).
fn describe_client_error(err: &octocrab::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_source(source);
    }
    text
}

fn cause_source<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

fn runtime() -> Result<tokio::runtime::Runtime, ForgeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ForgeError::Usage(format!("cannot start the API client: {err}")))
}

/// An octocrab client for `auth` (to be built inside a runtime).
fn build_client(
    settings: &ForgeSettings,
    base: &str,
    auth: &ForgeAuth,
) -> Result<Octocrab, ForgeError> {
    let api_url = base;
    let mut builder = Octocrab::builder()
        .base_uri(api_url)
        .map_err(|err| ForgeError::Usage(format!("--api-url {api_url}: {err}")))?
        .add_header(http::header::ACCEPT, MEDIA_TYPE.to_owned())
        .add_header(
            http::HeaderName::from_static("x-github-api-version"),
            API_VERSION.to_owned(),
        )
        .set_connect_timeout(Some(settings.options.timeout))
        .set_read_timeout(Some(settings.options.timeout));
    builder = match auth {
        ForgeAuth::Token(token) | ForgeAuth::JobToken(token) => {
            builder.personal_token(token.expose_secret().to_owned())
        }
        ForgeAuth::GitHubApp { app_id, key } => {
            let key = octocrab::EncodingKey::from_rsa_pem(key.expose_secret().as_bytes())
                .map_err(|err| {
                    ForgeError::Usage(format!(
                        "the GitHub App key is not an RSA private key in PEM form ({err}); give the .pem file GitHub generated for the App"
                    ))
                })?;
            builder.app(octocrab::models::AppId(*app_id), key)
        }
        ForgeAuth::None => builder,
    };
    builder
        .build()
        .map_err(|err| ForgeError::Usage(format!("cannot build the GitHub client: {err}")))
}

impl GitHub {
    /// Connects to the GitHub of `settings`. With a GitHub App, this asks for an installation
    /// token of the repository (2 calls).
    pub fn connect(settings: ForgeSettings) -> Result<GitHub, ForgeError> {
        let runtime = runtime()?;
        let client = {
            let _guard = runtime.enter();
            transport(&settings, &settings.auth)?
        };
        let owner = settings
            .project
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let graphql_url = settings
            .graphql_url
            .clone()
            .unwrap_or_else(|| super::super::graphql_url_for(&settings.api_url));
        let mut github = GitHub {
            api: Api::new(KIND, client, runtime, settings.options),
            api_url: settings.api_url.clone(),
            graphql_url,
            project: settings.project.clone(),
            owner,
            minted: None,
            me: std::cell::RefCell::new(None),
        };
        if let ForgeAuth::GitHubApp { .. } = settings.auth {
            let slug = github.app_slug()?;
            *github.me.borrow_mut() = Some(format!("{slug}[bot]"));
            let token = github.installation_token()?;
            let client = {
                let _guard = github.api.enter();
                transport(&settings, &ForgeAuth::Token(token.clone()))?
            };
            github.api.set_transport(client);
            github.minted = Some(token);
        }
        drop(settings); // the key and token are not kept
        Ok(github)
    }

    /// The App's slug (`GET /app`, with the App's own credentials): its comments are signed
    /// `<slug>[bot]`.
    fn app_slug(&self) -> Result<String, ForgeError> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let request = self.request(Method::GET, "/app");
        let app: App = self.api.call(&request)?.json(KIND, &request.call)?;
        Ok(app.slug)
    }

    /// The login the token acts as (1 call, the first time), or `None` for an installation
    /// token ferry did not mint (a workflow's `GITHUB_TOKEN`, an app-token step's): GitHub
    /// answers 403 to `GET /user` for those, and nothing else tells an installation token its
    /// App's name. Its comments are then told by their author being a bot (`is_own`).
    pub(super) fn login(&self) -> Result<Option<String>, ForgeError> {
        #[derive(Deserialize)]
        struct Me {
            login: String,
        }
        if let Some(me) = self.me.borrow().as_ref() {
            return Ok(Some(me.clone()));
        }
        let request = self.request(Method::GET, "/user");
        let login = match self.api.call(&request) {
            Ok(response) => response.json::<Me>(KIND, &request.call)?.login,
            Err(ForgeError::Auth { status: 403, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        *self.me.borrow_mut() = Some(login.clone());
        Ok(Some(login))
    }

    /// The App's installation on this repository, then a token for it limited to this
    /// repository.
    fn installation_token(&self) -> Result<SecretString, ForgeError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Token {
            token: String,
        }
        let found = self.api.call(&self.request(
            Method::GET,
            &format!("/repos/{}/installation", self.project),
        ));
        let installation: Installation = match found {
            Ok(response) => response.json(KIND, "GET /repos/{owner}/{repo}/installation")?,
            Err(ForgeError::NotFound { call, .. }) => {
                return Err(ForgeError::Auth {
                    forge: KIND,
                    call,
                    status: 404,
                    message: "the GitHub App is not installed on this repository".to_owned(),
                    hint: format!(
                        "install the App on {} (Settings → GitHub Apps), with `Contents` and `Pull requests` write permissions",
                        self.project
                    ),
                });
            }
            Err(err) => return Err(err),
        };
        let name = self.project.rsplit('/').next().unwrap_or_default();
        let response = self.api.call(
            &self
                .request(
                    Method::POST,
                    &format!("/app/installations/{}/access_tokens", installation.id),
                )
                .json(json!({ "repositories": [name] })),
        )?;
        let token: Token = response.json(KIND, "POST /app/installations/{id}/access_tokens")?;
        crate::report::add_secret(&token.token);
        Ok(SecretString::from(token.token))
    }

    pub(super) fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, &self.api_url, path)
    }

    pub(super) fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.project)
    }

    /// Every page of a list, following `Link: <...>; rel="next"`.
    pub(super) fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, ForgeError> {
        self.pages_of(path, |page: Vec<T>| page)
    }

    /// Every page of a list whose pages are objects holding it (`{"check_runs": [...]}`, the
    /// combined status's `statuses`): `items` takes the list out of one page.
    pub(super) fn pages_of<P: serde::de::DeserializeOwned, T>(
        &self,
        path: &str,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, ForgeError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request = self.request(
            Method::GET,
            &format!("{path}{separator}per_page={PER_PAGE}"),
        );
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.api.call(&request)?;
            let page: P = response.json(KIND, &request.call)?;
            all.extend(items(page));
            match next_link(&response) {
                Some(next) => request.url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(response: &Response) -> Option<String> {
    let link = response.headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_followed() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "link",
            "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\""
                .parse()
                .expect("header"),
        );
        let response = Response {
            status: 200,
            headers,
            body: Vec::new(),
        };
        assert_eq!(
            next_link(&response).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
    }
}
