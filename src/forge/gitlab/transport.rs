//! How ferry talks to GitLab: connecting (the URL and token checked before any call, then the
//! token's user read once), the `gitlab` crate's client interface over a reqwest client that
//! follows no redirect (the token headers never leave the API's host), the token header of each
//! request, and pagination by GitLab's headers.

use gitlab::api::{ApiError, AsyncClient as _};
use http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use http::{HeaderName, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::super::api::{Api, Request, Response, Transport};
use super::super::{ForgeAuth, ForgeError, ForgeSettings};
use super::wire::{JobJson, UserJson};
use super::{GitLab, KIND, encode, refine};
use crate::repo_url::ServerUrl;

/// GitLab's largest page.
pub(super) const PER_PAGE: u32 = 100;

/// A bound on pages followed, against a server whose pagination never ends.
const MAX_PAGES: u32 = 1000;

const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

impl GitLab {
    /// Connects to the GitLab of `settings` and checks the token with one call
    /// (`GET /user`, or `GET /job` for `CI_JOB_TOKEN`), counted in [`Forge::calls`](crate::forge::Forge::calls).
    ///
    /// # Errors
    /// [`ForgeError::Usage`] when the API URL does not end in `/api/v4` or there is no token;
    /// [`ForgeError::Auth`] when GitLab refuses the token; any error of the check call.
    pub fn connect(settings: ForgeSettings) -> Result<GitLab, ForgeError> {
        let ForgeSettings {
            api_url,
            project,
            auth,
            options,
            ..
        } = settings;
        client_host(&api_url)?;
        if project.is_empty() {
            return Err(ForgeError::Usage(
                "the GitLab project path is empty: give --repo as https://HOST/GROUP/PROJECT"
                    .to_owned(),
            ));
        }
        let (credentials, job) = credentials(auth)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| ForgeError::Unexpected {
                forge: KIND,
                call: "start the HTTP runtime".to_owned(),
                message: err.to_string(),
            })?;
        let client = RedirectFree::new(&api_url).map_err(|err| {
            ForgeError::Usage(format!(
                "cannot set up a GitLab client for {api_url}: {err}"
            ))
        })?;
        let mut api = Api::new(
            KIND,
            GitLabTransport {
                client,
                credentials,
            },
            runtime,
            options,
        );
        api.set_job_token(job);
        let project_path = format!("/projects/{}", encode(&project));
        let mut gitlab = GitLab {
            api,
            base: api_url,
            project,
            project_path,
            me: None,
        };
        gitlab.me = gitlab.whoami(job)?;
        Ok(gitlab)
    }

    /// The token's user: `GET /user`, or the job's user from `GET /job` for a job token.
    fn whoami(&self, job: bool) -> Result<Option<UserJson>, ForgeError> {
        let path = if job { "/job" } else { "/user" };
        let request = Request::new(Method::GET, &self.base, path);
        let response = match self.call(&request) {
            Ok(response) => response,
            Err(ForgeError::NotFound { .. }) => {
                return Err(ForgeError::Usage(format!(
                    "GitLab API `GET {path}` answered 404 at {}: --api-url must be GitLab's REST API, https://HOST/api/v4 (or https://HOST/PREFIX/api/v4)",
                    self.base
                )));
            }
            Err(err) => return Err(err),
        };
        if job {
            let job: JobJson = response.json(KIND, &request.call)?;
            Ok(job.user)
        } else {
            response.json(KIND, &request.call).map(Some)
        }
    }

    pub(super) fn request(&self, method: Method, path: &str) -> Request {
        Request::new(method, &self.base, path)
    }

    pub(super) fn mr_path(&self, number: u64) -> String {
        format!("{}/merge_requests/{number}", self.project_path)
    }

    /// One call, its answer as `T`.
    pub(super) fn fetch<T: DeserializeOwned>(&self, request: &Request) -> Result<T, ForgeError> {
        self.call(request)?.json(KIND, &request.call)
    }

    /// `GET` of `path` (whose query sets `per_page`), every page: one call per page.
    pub(super) fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ForgeError> {
        let mut request = self.request(Method::GET, path);
        let mut items = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let response = self.call(&request)?;
            let mut batch: Vec<T> = response.json(KIND, &request.call)?;
            items.append(&mut batch);
            match next_page(&response, &request.url, &self.base, page) {
                Some((next, url)) => {
                    page = next;
                    request.url = url;
                }
                None => return Ok(items),
            }
        }
        Err(ForgeError::Unexpected {
            forge: KIND,
            call: request.call,
            message: format!(
                "more than {MAX_PAGES} pages of {PER_PAGE}: the pagination does not end"
            ),
        })
    }

    /// One call under the retry policy; a non-2xx answer is an error ([`refine`]d).
    pub(super) fn call(&self, request: &Request) -> Result<Response, ForgeError> {
        self.api.call(request).map_err(refine)
    }
}

/// The token header, added to each request (never logged: the value is marked sensitive).
struct Credentials {
    header: HeaderName,
    token: SecretString,
}

/// ferry's [`Transport`] for GitLab: the crate's client interface over [`RedirectFree`].
pub(super) struct GitLabTransport {
    client: RedirectFree,
    credentials: Credentials,
}

impl Transport for GitLabTransport {
    async fn send(&self, request: &Request) -> Result<Response, String> {
        let (builder, body) = http_request(request, &self.credentials)?;
        let answer = self
            .client
            .rest_async(builder, body)
            .await
            .map_err(|err| describe(&err))?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let mut body = answer.body().to_vec();
        if status / 100 == 3 {
            let to = headers
                .get(LOCATION)
                .map(|l| crate::ci::one_line(&String::from_utf8_lossy(l.as_bytes())))
                .unwrap_or_default();
            body = serde_json::to_vec(&json!({
                "message": format!(
                    "a redirect to `{to}`, which ferry does not follow (the token would go along); give --api-url the final address"
                )
            }))
            .unwrap_or_default();
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// A client for the `gitlab` crate's [`gitlab::api::AsyncClient`] interface whose reqwest
/// client follows no redirect, so that the token headers never leave the API's host.
struct RedirectFree {
    http: reqwest::Client,
    /// `--api-url` with a trailing `/`: where the crate's endpoints are joined.
    base: url::Url,
}

/// A failure of [`RedirectFree`]: the request could not be built, or sending it failed.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error(transparent)]
    Send(#[from] reqwest::Error),
}

impl RedirectFree {
    fn new(api_url: &str) -> Result<RedirectFree, String> {
        let base = url::Url::parse(&format!("{}/", api_url.trim_end_matches('/')))
            .map_err(|err| err.to_string())?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| describe(&err))?;
        Ok(RedirectFree { http, base })
    }
}

impl gitlab::api::RestClient for RedirectFree {
    type Error = ClientError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<url::Url, ApiError<ClientError>> {
        Ok(self.base.join(endpoint)?)
    }
}

#[async_trait::async_trait]
impl gitlab::api::AsyncClient for RedirectFree {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<bytes::Bytes>, ApiError<ClientError>> {
        let client = |err: ClientError| ApiError::client(err);
        let request = request.body(body).map_err(|e| client(e.into()))?;
        let request = reqwest::Request::try_from(request).map_err(|e| client(e.into()))?;
        let answer = self
            .http
            .execute(request)
            .await
            .map_err(|e| client(e.into()))?;
        let mut response = http::Response::builder()
            .status(answer.status())
            .version(answer.version());
        if let Some(headers) = response.headers_mut() {
            headers.extend(answer.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let body = answer.bytes().await.map_err(|e| client(e.into()))?;
        response.body(body).map_err(|e| client(e.into()))
    }
}

/// The `http` request for `request`. Everything is validated here: the crate unwraps the
/// builder's headers, which would panic on a builder holding an error.
fn http_request(
    request: &Request,
    credentials: &Credentials,
) -> Result<(http::request::Builder, Vec<u8>), String> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|err| format!("cannot send to an invalid URL: {err}"))?;
    let mut token = HeaderValue::from_str(credentials.token.expose_secret())
        .map_err(|_| "the token cannot be sent in an HTTP header".to_owned())?;
    token.set_sensitive(true);
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(uri)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .header(credentials.header.clone(), token);
    let body = match &request.body {
        Some(json) => {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            serde_json::to_vec(json).map_err(|err| format!("cannot encode the request: {err}"))?
        }
        None => Vec::new(),
    };
    Ok((builder, body))
}

/// A transport failure with its causes ("connection refused", "dns error"), each once.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The token header for `auth`, and whether it is a job token (checked with `GET /job`).
fn credentials(auth: ForgeAuth) -> Result<(Credentials, bool), ForgeError> {
    let (header, token, job) = match auth {
        ForgeAuth::Token(token) => (HeaderName::from_static("private-token"), token, false),
        ForgeAuth::JobToken(token) => (HeaderName::from_static("job-token"), token, true),
        ForgeAuth::GitHubApp { .. } => {
            return Err(ForgeError::Usage(
                "a GitHub App authenticates to GitHub only: GitLab takes a project or group access token with the `api` scope (FERRY_TOKEN)".to_owned(),
            ));
        }
        ForgeAuth::None => {
            return Err(ForgeError::Usage(
                "GitLab's API needs a token: set FERRY_TOKEN (or GITLAB_TOKEN) to a project or group access token with the `api` scope".to_owned(),
            ));
        }
    };
    // A token read from a file often ends in a newline, which no header may carry.
    let token = SecretString::from(token.expose_secret().trim().to_owned());
    if token.expose_secret().is_empty() || HeaderValue::from_str(token.expose_secret()).is_err() {
        return Err(ForgeError::Usage(
            "the GitLab token is empty or holds characters an HTTP header cannot carry: check FERRY_TOKEN".to_owned(),
        ));
    }
    Ok((Credentials { header, token }, job))
}

/// The crate's `host[/prefix]` and whether to use plain http, from an API URL that must end
/// in `/api/v4` (the crate appends it itself).
fn client_host(api_url: &str) -> Result<(String, bool), ForgeError> {
    let usage = || {
        ForgeError::Usage(format!(
            "--api-url `{api_url}` is not a GitLab REST API URL: it must be https://HOST/api/v4, or https://HOST/PREFIX/api/v4 for a GitLab served under a path"
        ))
    };
    let server = ServerUrl::parse(api_url).ok_or_else(usage)?;
    let url = server.as_url();
    if url.query().is_some() || url.fragment().is_some() || server.has_credentials() {
        return Err(usage());
    }
    let prefix = url
        .path()
        .trim_end_matches('/')
        .strip_suffix("/api/v4")
        .ok_or_else(usage)?;
    Ok((
        format!("{}{prefix}", server.authority()),
        url.scheme() == "http",
    ))
}

/// The next page's number and URL after `page`: GitLab's `x-next-page` (empty on the last
/// page), else a `Link: <...>; rel="next"` below the API base (a link elsewhere would take
/// the token with it, so it is not followed).
fn next_page(response: &Response, url: &str, base: &str, page: u32) -> Option<(u32, String)> {
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(next) = header("x-next-page") {
        let next = next.trim();
        if next.is_empty() {
            return None;
        }
        let number = next.parse::<u32>().ok().filter(|n| *n > page)?;
        return Some((number, with_page(url, number)));
    }
    // Scanned rather than split on commas: a URL's query may hold some (`labels=a,b`).
    let mut rest = header("link")?;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let tail = &after[end + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        let is_next = tail[..params_end]
            .split([';', ','])
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        if is_next {
            return target
                .starts_with(&format!("{base}/"))
                .then(|| (page + 1, target.to_owned()));
        }
        rest = &tail[params_end..];
    }
    None
}

/// `url` with its `page` parameter set to `page`.
fn with_page(url: &str, page: u32) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let page = format!("page={page}");
    params.push(&page);
    format!("{path}?{}", params.join("&"))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ApiOptions;

    #[test]
    fn api_urls_give_the_clients_host_and_prefix() {
        let ok = |url: &str| client_host(url).expect(url);
        assert_eq!(
            ok("https://gitlab.com/api/v4"),
            ("gitlab.com".to_owned(), false)
        );
        assert_eq!(
            ok("https://example.com/gitlab/api/v4/"),
            ("example.com/gitlab".to_owned(), false)
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/api/v4"),
            ("127.0.0.1:8080".to_owned(), true)
        );
        for bad in [
            "https://gitlab.com",
            "https://gitlab.com/api/v3",
            "https://gitlab.com/api/v4?private_token=x",
            "https:///api/v4",
            "ftp://gitlab.com/api/v4",
        ] {
            let err = client_host(bad).expect_err(bad);
            assert!(
                matches!(&err, ForgeError::Usage(m) if m.contains("/api/v4")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn connecting_checks_the_url_and_token_before_any_call() {
        let settings = |api_url: &str, auth| ForgeSettings {
            kind: KIND,
            api_url: api_url.to_owned(),
            graphql_url: None,
            project: "g/env".to_owned(),
            auth,
            options: ApiOptions::default(),
        };
        let secret = || SecretString::from("glpat-s3cr3t".to_owned());
        let Err(err) = GitLab::connect(settings("https://gitlab.com", ForgeAuth::Token(secret())))
        else {
            panic!("connected without /api/v4");
        };
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let Err(err) = GitLab::connect(settings("https://gitlab.com/api/v4", ForgeAuth::None))
        else {
            panic!("connected without a token");
        };
        assert!(err.to_string().contains("FERRY_TOKEN"), "{err}");
        let bad = ForgeAuth::Token(SecretString::from("bad\u{7f}token".to_owned()));
        let Err(err) = GitLab::connect(settings("https://gitlab.com/api/v4", bad)) else {
            panic!("connected with an unsendable token");
        };
        assert!(!err.to_string().contains("bad"), "{err}");
    }

    #[test]
    fn requests_carry_a_sensitive_token_and_json() {
        let credentials = Credentials {
            header: HeaderName::from_static("private-token"),
            token: SecretString::from("glpat-s3cr3t".to_owned()),
        };
        let request = Request::new(
            Method::POST,
            "https://gitlab.example.com/api/v4",
            "/projects/g%2Fenv/merge_requests",
        )
        .json(json!({ "title": "t" }));
        let (builder, body) = http_request(&request, &credentials).expect("request");
        let headers = builder.headers_ref().expect("headers");
        let token = headers.get("private-token").expect("token header");
        assert!(token.is_sensitive());
        assert!(!format!("{headers:?}").contains("s3cr3t"));
        assert_eq!(
            headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(&b"application/json"[..])
        );
        assert_eq!(
            builder.uri_ref().map(ToString::to_string).as_deref(),
            Some("https://gitlab.example.com/api/v4/projects/g%2Fenv/merge_requests")
        );
        assert_eq!(body, br#"{"title":"t"}"#);
        assert_eq!(request.call, "POST /projects/g%2Fenv/merge_requests");
    }

    #[test]
    fn pagination_follows_gitlab_headers() {
        let response = |headers: &[(&'static str, &str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().expect("header"));
            }
            Response {
                status: 200,
                headers: map,
                body: Vec::new(),
            }
        };
        let base = "https://gl.example.com/api/v4";
        let url = format!("{base}/projects/g%2Fenv/merge_requests?state=all&per_page=100");
        assert_eq!(
            next_page(&response(&[("x-next-page", "2")]), &url, base, 1),
            Some((2, format!("{url}&page=2")))
        );
        let second = format!("{url}&page=2");
        assert_eq!(
            next_page(&response(&[("x-next-page", "3")]), &second, base, 2),
            Some((3, format!("{url}&page=3")))
        );
        assert_eq!(
            next_page(&response(&[("x-next-page", "")]), &url, base, 1),
            None
        );
        // A page that does not advance would loop.
        assert_eq!(
            next_page(&response(&[("x-next-page", "1")]), &url, base, 1),
            None
        );
        let link = format!(
            "<{base}/x?labels=a,b&page=1>; rel=\"prev\", <{base}/x?labels=a,b&page=2>; rel=\"next\", <{base}/x?page=9>; rel=\"last\""
        );
        assert_eq!(
            next_page(&response(&[("link", &link)]), &url, base, 1),
            Some((2, format!("{base}/x?labels=a,b&page=2")))
        );
        // A link off the API would take the token elsewhere.
        let elsewhere = "<https://evil.example.com/api/v4/x?page=2>; rel=\"next\"";
        assert_eq!(
            next_page(&response(&[("link", elsewhere)]), &url, base, 1),
            None
        );
        assert_eq!(next_page(&response(&[]), &url, base, 1), None);
    }
}
