//! Repository URLs: the one reading of what `--repo` (and an application repository, and a URL
//! a server asks credentials for) names, built on the `url` crate.
//!
//! A [`RepoUrl`] is an https/http URL, an ssh URL (`ssh://` or scp-like `user@host:path`), a
//! `file://` URL or a local path. From it come the address libgit2 is given, the host and port
//! credentials are bound to, the project path on the forge (`owner/name`, or GitLab's
//! `group/sub/project`), the percent-encoded project id GitLab's API wants
//! (`group%2Fsub%2Fproject`), each forge's API base and the repository's web address.
//!
//! What it refuses or neutralizes (the URL is data from a flag, a trailer or a CI variable):
//! control characters and backslashes anywhere; `.` and `..` path segments, written or
//! percent-encoded (`%2e%2e`); an empty host. A password written into the URL is taken out
//! (returned as a [`UrlSecret`]) and user information never reaches [`Display`](fmt::Display);
//! a project path holds only RFC 3986 unreserved characters (letters, digits, `-`, `.`, `_`,
//! `~`: what GitHub and GitLab allow in names), else the URL has none.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use secrecy::SecretString;
use url::{Host, Url};

/// How ferry reaches the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Smart HTTP(S): token authentication, shallow fetch.
    Http,
    /// SSH: key authentication (agent or key file), shallow fetch.
    Ssh,
    /// The local transport (`file://` or a path): libgit2 cannot fetch shallow here, so the
    /// whole branch history is fetched.
    Local,
}

/// A repository location, without credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// The URL libgit2 is given: no password, and a user name only in an ssh URL.
    url: String,
    transport: Transport,
    /// Lowercase: `https`, `http`, `ssh` (also for the scp-like form), `git+ssh`, `ssh+git`,
    /// `file` (also for a local path).
    scheme: String,
    /// The host, lowercase, an IPv6 address without brackets (empty for local repositories).
    host: String,
    /// The port written in the URL, if any (an http(s) URL's default port is no port).
    port: Option<u16>,
    /// A user name written in the URL (`git@`, `oauth2:…@`).
    user: Option<String>,
    /// The project path on the forge, without `.git` and slashes around it.
    project: Option<String>,
}

/// A secret found in `--repo` (`https://user:TOKEN@host/…`), removed from the URL. Its `Debug`
/// shows no token.
#[derive(Clone, Debug)]
pub struct UrlSecret {
    pub user: String,
    pub token: SecretString,
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `text` as one URL component: everything but RFC 3986's unreserved
/// characters, `/` included (`group/sub/env` → `group%2Fsub%2Fenv`). The one encoder of the
/// forge clients' paths and query values.
#[must_use]
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

impl RepoUrl {
    /// Parses `--repo`. A password in an http(s) URL is returned separately and removed.
    ///
    /// # Errors
    /// A message naming what is wrong: empty, control characters or a backslash, an unsupported
    /// scheme, no host, an invalid port, a `.`/`..` path segment.
    pub fn parse(spec: &str) -> Result<(RepoUrl, Option<UrlSecret>), String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("--repo is empty; give the environment repository's URL".to_owned());
        }
        if spec.chars().any(char::is_control) {
            return Err("--repo contains control characters".to_owned());
        }
        if let Some((scheme, rest)) = spec.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            return match scheme.as_str() {
                "https" | "http" => Self::parse_remote(spec, &scheme, rest, Transport::Http),
                "ssh" | "git+ssh" | "ssh+git" => {
                    Self::parse_remote(spec, &scheme, rest, Transport::Ssh)
                }
                "file" => Self::parse_file(spec).map(|url| (url, None)),
                other => Err(format!(
                    "--repo uses the unsupported scheme `{other}://`; use https://, http://, ssh://, file:// or a local path"
                )),
            };
        }
        // scp-like `user@host:path` (a colon before any slash), as git reads it.
        if let Some((before, path)) = spec.split_once(':')
            && !before.contains('/')
            && !before.is_empty()
            && !is_windows_drive(spec)
        {
            return Self::parse_scp(spec, before, path).map(|url| (url, None));
        }
        Self::parse_local(spec).map(|url| (url, None))
    }

    /// `scheme://[user[:password]@]host[:port]/path`.
    fn parse_remote(
        spec: &str,
        scheme: &str,
        rest: &str,
        transport: Transport,
    ) -> Result<(RepoUrl, Option<UrlSecret>), String> {
        if spec.contains('\\') {
            return Err(format!(
                "--repo `{scheme}://…` contains a backslash, which URL readers disagree on; write the URL with `/`"
            ));
        }
        // What is written between `//` and the path decides the host: the `url` crate would
        // read `https:///x` as host `x`.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(end);
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hostport.is_empty() || hostport.starts_with(':') {
            return Err(format!("--repo `{scheme}://…` has no host"));
        }
        let path = after.split(['?', '#']).next().unwrap_or_default();
        refuse_dot_segments(scheme, path)?;
        let mut url = Url::parse(spec).map_err(|err| {
            let why = match err {
                url::ParseError::InvalidPort => format!("an invalid port in `{hostport}`"),
                other => other.to_string(),
            };
            format!("--repo `{scheme}://…` is not a URL: {why}")
        })?;
        let user = Some(decode(url.username())).filter(|u| !u.is_empty());
        let password = url.password().map(decode);
        let secret = match (&password, transport) {
            (Some(password), Transport::Http) => {
                let user = user.clone().unwrap_or_else(|| "x-access-token".to_owned());
                Some(UrlSecret {
                    user,
                    token: SecretString::from(password.clone()),
                })
            }
            _ => None,
        };
        // `https://:TOKEN@host` names the user the token goes with.
        let user = match &secret {
            Some(secret) => Some(secret.user.clone()),
            None => user,
        };
        // Neither ignores a URL it cannot change: this one has a host.
        let _ = url.set_password(None);
        if transport == Transport::Http {
            let _ = url.set_username("");
        }
        let host = host_text(&url).ok_or_else(|| format!("--repo `{scheme}://…` has no host"))?;
        let port = url.port();
        let project = project_of(url.path());
        Ok((
            RepoUrl {
                url: url.to_string(),
                transport,
                scheme: scheme.to_owned(),
                host,
                port,
                user,
                project,
            },
            secret,
        ))
    }

    /// `[user@]host:path`, read as `ssh://[user@]host/path` for its host.
    fn parse_scp(spec: &str, before: &str, path: &str) -> Result<RepoUrl, String> {
        if spec.contains('\\') {
            return Err(
                "--repo contains a backslash, which URL readers disagree on; write the URL with `/`"
                    .to_owned(),
            );
        }
        let (user, host) = match before.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, before),
        };
        if host.is_empty() {
            return Err(format!("--repo `{spec}` has no host before `:`"));
        }
        refuse_dot_segments("ssh", path)?;
        let url = Url::parse(&format!("ssh://{host}/"))
            .map_err(|err| format!("--repo `{spec}`: the host `{host}` is not valid: {err}"))?;
        let host = host_text(&url).ok_or_else(|| format!("--repo `{spec}` has no host"))?;
        Ok(RepoUrl {
            url: spec.to_owned(),
            transport: Transport::Ssh,
            scheme: "ssh".to_owned(),
            host,
            port: None,
            user,
            project: project_of(path.split(['?', '#']).next().unwrap_or_default()),
        })
    }

    fn parse_file(spec: &str) -> Result<RepoUrl, String> {
        let url = Url::parse(spec).map_err(|err| format!("--repo `{spec}` is not a URL: {err}"))?;
        Ok(RepoUrl::local(url.to_string()))
    }

    /// A repository on this machine (`file://` or a path), as `url` names it.
    fn local(url: String) -> RepoUrl {
        RepoUrl {
            url,
            transport: Transport::Local,
            scheme: "file".to_owned(),
            host: String::new(),
            port: None,
            user: None,
            project: None,
        }
    }

    fn parse_local(spec: &str) -> Result<RepoUrl, String> {
        let path = Path::new(spec);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| format!("cannot resolve the local path {spec}: {e}"))?
                .join(path)
        };
        // `./env` and `env/.` name the same repository as `env`: show it without the dots.
        let absolute: PathBuf = absolute
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        Ok(RepoUrl::local(absolute.display().to_string()))
    }

    /// The URL, safe to show.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The host name, lowercase, without port (empty for local repositories).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port written in the URL, if any.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URL's scheme, lowercase (`https`, `ssh`, …; `file` for local repositories).
    #[must_use]
    pub fn scheme(&self) -> String {
        self.scheme.clone()
    }

    /// The repository's directory, for the local transport: a path as given, or a `file://`
    /// URL read as libgit2 reads it (`file:///dir` or `file://localhost/dir`, `%XX` escapes
    /// decoded). `None` for other transports and for a `file://` URL naming another host.
    #[must_use]
    pub fn local_path(&self) -> Option<PathBuf> {
        if self.transport != Transport::Local {
            return None;
        }
        match Url::parse(&self.url) {
            Ok(url) if url.scheme() == "file" => url.to_file_path().ok(),
            _ => Some(self.url.clone().into()),
        }
    }

    /// The port connections go to: the one written, else the scheme's default.
    #[must_use]
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            "ssh" | "git+ssh" | "ssh+git" => Some(22),
            _ => None,
        })
    }

    /// `host`, or `host:port` when the URL names a port other than its scheme's default
    /// (brackets around an IPv6 address): where a forge's API is derived from, the port kept.
    #[must_use]
    pub fn authority(&self) -> String {
        let default = match self.scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        match self.port {
            Some(port) if Some(port) != default => format!("{}:{port}", self.bracketed_host()),
            _ => self.bracketed_host(),
        }
    }

    /// Whether `other` is the same server: scheme, host and port (defaults filled in).
    #[must_use]
    pub fn same_origin(&self, other: &RepoUrl) -> bool {
        self.transport == other.transport
            && self.scheme == other.scheme
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.effective_port() == other.effective_port()
    }

    /// `scheme://host:port`, for messages.
    #[must_use]
    pub fn origin(&self) -> String {
        match self.effective_port() {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.bracketed_host()),
            None => format!("{}://{}", self.scheme, self.bracketed_host()),
        }
    }

    fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The user name written in the URL, if any.
    #[must_use]
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether a depth-1 fetch is possible (libgit2 refuses shallow fetches locally).
    #[must_use]
    pub fn can_fetch_shallow(&self) -> bool {
        self.transport != Transport::Local
    }

    /// The repository's path on its forge, without `.git`: `acme/env` (GitHub's owner and
    /// name), `group/sub/env` (GitLab's full path, nested groups). `None` for local
    /// repositories and for a path that is empty or holds anything but letters, digits, `-`,
    /// `.`, `_` and `~` between its slashes.
    #[must_use]
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The project as GitLab's API addresses it: `group%2Fsub%2Fenv`.
    #[must_use]
    pub fn project_id(&self) -> Option<String> {
        self.project().map(encode_component)
    }

    /// The repository's web address (`https://host[:port]/owner/name`): `None` unless it is an
    /// http(s) URL with a project path.
    #[must_use]
    pub fn web_base(&self) -> Option<String> {
        if self.transport != Transport::Http {
            return None;
        }
        let project = self.project()?;
        Some(format!("{}://{}/{project}", self.scheme, self.authority()))
    }

    /// Where GitHub's REST API for this repository is: `https://api.github.com` for github.com,
    /// else GitHub Enterprise Server's `/api/v3` on the repository's server.
    #[must_use]
    pub fn github_api_base(&self) -> String {
        match self.web_authority().to_ascii_lowercase().as_str() {
            "github.com" | "www.github.com" | "ssh.github.com" => {
                "https://api.github.com".to_owned()
            }
            authority => format!("{}://{authority}/api/v3", self.web_scheme()),
        }
    }

    /// Where GitLab's REST API for this repository is: `/api/v4` on the repository's server
    /// (gitlab.com's for its ssh-over-443 host).
    #[must_use]
    pub fn gitlab_api_base(&self) -> String {
        match self.web_authority().to_ascii_lowercase().as_str() {
            "altssh.gitlab.com" => "https://gitlab.com/api/v4".to_owned(),
            authority => format!("{}://{authority}/api/v4", self.web_scheme()),
        }
    }

    /// `http` for an http URL, else `https`: the web server's scheme.
    fn web_scheme(&self) -> &'static str {
        if self.scheme == "http" {
            "http"
        } else {
            "https"
        }
    }

    /// The web server's `host[:port]`: an ssh port is not the web server's, so only an
    /// http(s) URL's port carries over.
    fn web_authority(&self) -> String {
        match self.transport {
            Transport::Http => self.authority(),
            _ => self.bracketed_host(),
        }
    }

    /// Whether the host's name says GitLab (`gitlab.com`, `gitlab.corp.example`): the guess
    /// made when nothing else tells the forge (credentials' user name, hints, web links).
    #[must_use]
    pub fn host_says_gitlab(&self) -> bool {
        self.host.contains("gitlab")
    }

    /// Whether the host's name says GitHub.
    #[must_use]
    pub fn host_says_github(&self) -> bool {
        self.host.contains("github")
    }

    /// The repository compared as a repository: lowercase, without credentials, `.git` or a
    /// trailing `/`; an ssh URL and its scp-like form give the same key.
    #[must_use]
    pub fn key(&self) -> String {
        let text = match (&self.project, self.transport) {
            (Some(project), Transport::Http | Transport::Ssh) => {
                format!("{}://{}/{project}", self.scheme, self.authority())
            }
            _ => {
                let text = self.url.trim_end_matches('/');
                text.strip_suffix(".git").unwrap_or(text).to_owned()
            }
        };
        text.to_ascii_lowercase()
    }

    /// `text` without credentials, for messages: the URL as [`RepoUrl`] shows it, or, when it
    /// is no repository URL ferry reads, the text with anything before an `@` in its
    /// authority taken out.
    #[must_use]
    pub fn shown(text: &str) -> String {
        if let Ok((url, _)) = RepoUrl::parse(text) {
            return url.to_string();
        }
        match text.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, after) = rest.split_at(end);
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                format!("{scheme}://{host}{after}")
            }
            None => text.to_owned(),
        }
    }
}

/// The host of a parsed URL: lowercase, an IPv6 address without brackets.
fn host_text(url: &Url) -> Option<String> {
    let host = match url.host()? {
        Host::Domain(domain) => domain.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    (!host.is_empty()).then_some(host)
}

/// Refuses `.` and `..` segments, written or percent-encoded: a parser that resolves them
/// would read another repository than the one shown.
fn refuse_dot_segments(scheme: &str, path: &str) -> Result<(), String> {
    let dots = path
        .split('/')
        .map(decode)
        .any(|segment| segment == "." || segment == "..");
    if dots {
        return Err(format!(
            "--repo `{scheme}://…` has a `.` or `..` segment in its path; give the repository's own path"
        ));
    }
    Ok(())
}

/// The project path of a URL path: slashes around it and one `.git` dropped; `None` when it is
/// empty or a segment is empty or holds a character outside RFC 3986's unreserved set.
fn project_of(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let ok = !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        });
    ok.then(|| path.to_owned())
}

/// `%XX` escapes decoded (invalid UTF-8 replaced).
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn is_windows_drive(spec: &str) -> bool {
    let b = spec.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// An http(s) URL of a server or an API (`--api-url`, `CI_SERVER_URL`): checked, without
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
}

impl ServerUrl {
    /// Reads an http(s) URL with a host. `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<ServerUrl> {
        let text = text.trim();
        if text.contains(char::is_whitespace) || text.contains('\\') {
            return None;
        }
        let (scheme, rest) = text.split_once("://")?;
        if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http") {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hostport.is_empty() || hostport.starts_with(':') {
            return None;
        }
        let url = Url::parse(text).ok()?;
        host_text(&url)?;
        Some(ServerUrl { url })
    }

    /// The host, lowercase, without port.
    #[must_use]
    pub fn host(&self) -> String {
        host_text(&self.url).unwrap_or_default()
    }

    /// Whether the URL carries a user name or password.
    #[must_use]
    pub fn has_credentials(&self) -> bool {
        !self.url.username().is_empty() || self.url.password().is_some()
    }

    /// `scheme://host[:port]`: the server, without path.
    #[must_use]
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// `host[:port]`, the port only when it is not the scheme's default.
    #[must_use]
    pub fn authority(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The parsed URL.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    fn parse(spec: &str) -> RepoUrl {
        RepoUrl::parse(spec).unwrap().0
    }

    #[test]
    fn https_urls_are_http_transport() {
        let url = parse("https://github.com/acme/env.git");
        assert_eq!(url.transport(), Transport::Http);
        assert_eq!(url.host(), "github.com");
        assert_eq!(url.as_str(), "https://github.com/acme/env.git");
        assert!(url.can_fetch_shallow());
    }

    #[test]
    fn local_paths_are_read_from_paths_and_file_urls() {
        let path = |spec: &str| parse(spec).local_path();
        assert_eq!(path("/srv/env.git"), Some("/srv/env.git".into()));
        assert_eq!(path("file:///srv/env.git"), Some("/srv/env.git".into()));
        assert_eq!(
            path("FILE://localhost/srv/env.git"),
            Some("/srv/env.git".into())
        );
        assert_eq!(
            path("file:///srv/my%20env.git"),
            Some("/srv/my env.git".into())
        );
        assert_eq!(path("file:///srv/100%.git"), Some("/srv/100%.git".into()));
        assert_eq!(path("file://otherhost/srv/env.git"), None);
        assert_eq!(path("https://github.com/acme/env.git"), None);
    }

    #[test]
    fn a_password_in_the_url_is_taken_out() {
        let (url, secret) =
            RepoUrl::parse("https://oauth2:glpat-SECRET@gitlab.example.com:8443/g/env.git")
                .unwrap();
        assert_eq!(url.as_str(), "https://gitlab.example.com:8443/g/env.git");
        assert_eq!(url.host(), "gitlab.example.com");
        let secret = secret.unwrap();
        assert_eq!(secret.user, "oauth2");
        assert_eq!(secret.token.expose_secret(), "glpat-SECRET");
        assert!(!format!("{url:?} {url}").contains("SECRET"));
    }

    #[test]
    fn ports_are_kept_and_defaults_filled_in() {
        let url = parse("https://git.corp:8443/acme/env");
        assert_eq!(
            (url.port(), url.authority()),
            (Some(8443), "git.corp:8443".to_owned())
        );
        assert_eq!(url.origin(), "https://git.corp:8443");
        let plain = parse("https://GIT.corp/acme/env");
        assert_eq!((plain.port(), plain.effective_port()), (None, Some(443)));
        assert!(parse("https://git.corp:443/x").same_origin(&plain));
        assert_eq!(parse("https://git.corp:443/x").authority(), "git.corp");
        assert!(!url.same_origin(&plain));
        assert!(!parse("http://git.corp/x").same_origin(&plain));
        let v6 = parse("http://[::1]:8080/env");
        assert_eq!(
            (v6.host(), v6.authority()),
            ("::1", "[::1]:8080".to_owned())
        );
        assert!(RepoUrl::parse("https://h:99999/x").is_err());
    }

    #[test]
    fn ssh_forms() {
        let url = parse("git@github.com:acme/env.git");
        assert_eq!(url.transport(), Transport::Ssh);
        assert_eq!(url.host(), "github.com");
        assert_eq!(url.user(), Some("git"));
        assert_eq!(url.as_str(), "git@github.com:acme/env.git");
        assert_eq!(url.project(), Some("acme/env"));
        let url = parse("ssh://git@gitlab.com:2222/acme/env.git");
        assert_eq!(url.transport(), Transport::Ssh);
        assert_eq!(url.host(), "gitlab.com");
        assert_eq!(url.as_str(), "ssh://git@gitlab.com:2222/acme/env.git");
        assert_eq!(url.effective_port(), Some(2222));
        // A password in an ssh URL is not a token: dropped, the user kept.
        let (url, secret) = RepoUrl::parse("ssh://git:pw@host/a/b").unwrap();
        assert!(secret.is_none());
        assert_eq!(url.as_str(), "ssh://git@host/a/b");
        assert_eq!(url.user(), Some("git"));
    }

    #[test]
    fn local_forms_cannot_fetch_shallow() {
        let url = parse("file:///srv/env.git");
        assert_eq!(url.transport(), Transport::Local);
        assert!(!url.can_fetch_shallow());
        assert_eq!(url.project(), None);
        let url = parse("/srv/env.git");
        assert_eq!(url.transport(), Transport::Local);
        let url = parse("./env/.");
        assert!(url.as_str().ends_with("/env"), "{url}");
        assert!(Path::new(url.as_str()).is_absolute());
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(RepoUrl::parse("").is_err());
        assert!(RepoUrl::parse("ftp://x/y").is_err());
        assert!(RepoUrl::parse("https:///path").is_err());
        assert!(RepoUrl::parse("https://h/x\ny").is_err());
        assert!(RepoUrl::parse("https://:443/x").is_err());
        assert!(RepoUrl::parse("@:x/y").is_err());
    }

    /// Was `forge::project_path`'s table.
    #[test]
    fn project_paths_come_from_every_url_form() {
        for (url, path) in [
            ("https://github.com/acme/env.git", Some("acme/env")),
            ("https://github.com/acme/env", Some("acme/env")),
            (
                "https://gitlab.com/group/sub/env.git/",
                Some("group/sub/env"),
            ),
            ("http://127.0.0.1:8080/acme/env.git", Some("acme/env")),
            ("ssh://git@github.com/acme/env.git", Some("acme/env")),
            ("git@gitlab.example.com:group/env.git", Some("group/env")),
            ("git@gitlab.example.com:/group/env.git", Some("group/env")),
            ("https://github.com/acme/env?x=1#top", Some("acme/env")),
            ("https://github.com/", None),
            ("https://github.com/acme//env", None),
            ("/srv/acme/env", None),
        ] {
            assert_eq!(parse(url).project(), path, "{url}");
        }
        // `..` was no project; now the URL is refused whole.
        assert!(RepoUrl::parse("https://github.com/acme/../env").is_err());
    }

    #[test]
    fn gitlab_project_ids_are_encoded_nested_groups_and_all() {
        let url = parse("https://gitlab.com/group/sub/proj.git");
        assert_eq!(url.project_id().as_deref(), Some("group%2Fsub%2Fproj"));
        assert_eq!(
            encode_component("ferry/bump api~1.2"),
            "ferry%2Fbump%20api~1.2"
        );
        assert_eq!(encode_component("env:prod"), "env%3Aprod");
    }

    #[test]
    fn api_and_web_bases_for_each_forge() {
        let gh = parse("https://github.com/acme/env.git");
        assert_eq!(gh.github_api_base(), "https://api.github.com");
        assert_eq!(
            gh.web_base().as_deref(),
            Some("https://github.com/acme/env")
        );
        let ghe = parse("http://git.corp:8080/acme/env");
        assert_eq!(ghe.github_api_base(), "http://git.corp:8080/api/v3");
        assert_eq!(ghe.gitlab_api_base(), "http://git.corp:8080/api/v4");
        // An ssh port is not the web server's.
        let ssh = parse("ssh://git@git.corp:2222/g/env.git");
        assert_eq!(ssh.gitlab_api_base(), "https://git.corp/api/v4");
        assert_eq!(ssh.web_base(), None);
        assert_eq!(
            parse("git@altssh.gitlab.com:g/env").gitlab_api_base(),
            "https://gitlab.com/api/v4"
        );
        assert_eq!(
            parse("git@ssh.github.com:a/b").github_api_base(),
            "https://api.github.com"
        );
    }

    #[test]
    fn keys_compare_repositories_not_spellings() {
        let key = |spec: &str| parse(spec).key();
        assert_eq!(
            key("https://GitHub.com/Acme/Shop.git/"),
            key("https://github.com/acme/shop")
        );
        assert_eq!(
            key("https://user:pw@gitlab.com/g/p"),
            "https://gitlab.com/g/p"
        );
        // The ssh URL and its scp-like form name one repository (the old key told them apart).
        assert_eq!(key("ssh://git@host/g/p.git"), key("git@host:g/p"));
        assert_ne!(key("https://host/g/p"), key("http://host/g/p"));
        assert_ne!(key("https://host:8443/g/p"), key("https://host/g/p"));
    }

    // Hostile input: data, never instructions.

    #[test]
    fn dot_segments_are_refused_written_or_encoded() {
        for spec in [
            "https://github.com/acme/../env",
            "https://github.com/acme/%2e%2e/env",
            "https://github.com/acme/%2E%2e/env",
            "https://github.com/./acme/env",
            "ssh://git@host/acme/../../etc",
            "git@host:acme/../env",
            "git@host:../env",
        ] {
            let err = RepoUrl::parse(spec).err();
            assert!(err.is_some_and(|e| e.contains("..")), "{spec}");
        }
    }

    #[test]
    fn an_at_sign_in_the_path_is_no_host_and_no_project() {
        let url = parse("https://github.com/acme/env@evil.example/x");
        assert_eq!(url.host(), "github.com");
        assert_eq!(url.project(), None);
        let url = parse("https://evil.example@github.com/acme/env");
        assert_eq!(url.host(), "github.com");
        assert_eq!(url.as_str(), "https://github.com/acme/env");
        let url = parse("git@host:acme/e@v");
        assert_eq!((url.host(), url.project()), ("host", None));
    }

    /// The old `select::url_host` and `web_page` read the host after the last `@` of
    /// `evil.example\@github.com`; the `url` crate (as browsers) reads a backslash as `/`, so
    /// the URL is refused instead of read two ways.
    #[test]
    fn backslashes_are_refused() {
        assert!(RepoUrl::parse("https://evil.example\\@github.com/acme/env").is_err());
        assert!(RepoUrl::parse("git@host:acme\\env").is_err());
        assert!(ServerUrl::parse("https://evil.example\\@github.com").is_none());
    }

    #[test]
    fn control_characters_and_encoded_oddities_are_refused_or_leave_no_project() {
        assert!(RepoUrl::parse("https://github.com/acme/env\n").is_ok()); // trimmed
        assert!(RepoUrl::parse("https://github.com/acme\n/env").is_err());
        assert!(RepoUrl::parse("https://github.com/acme/env\u{7f}").is_err());
        assert_eq!(parse("https://github.com/acme%2Fenv/x").project(), None);
        assert_eq!(parse("https://github.com/acme/my%20env").project(), None);
        assert_eq!(parse("https://github.com/acme/%0aenv").project(), None);
    }

    #[test]
    fn a_token_in_the_userinfo_never_reaches_display() {
        for spec in [
            "https://x-access-token:ghs_TOKEN@github.com/acme/env.git",
            "https://:ghs_TOKEN@github.com/acme/env.git",
            "https://ghs_TOKEN@github.com/acme/env.git",
            "https://oauth2:gl%40TOKEN@gitlab.com/g/env",
        ] {
            let (url, _) = RepoUrl::parse(spec).unwrap();
            let shown = format!("{url} {url:?} {} {}", url.key(), url.origin());
            assert!(!shown.contains("TOKEN"), "{spec}: {shown}");
            assert!(!shown.contains('@'), "{spec}: {shown}");
        }
        let (_, secret) = RepoUrl::parse("https://:ghs_TOKEN@github.com/a/b").unwrap();
        assert_eq!(secret.unwrap().user, "x-access-token");
        let (_, secret) = RepoUrl::parse("https://oauth2:gl%40TOKEN@gitlab.com/g/env").unwrap();
        assert_eq!(secret.unwrap().token.expose_secret(), "gl@TOKEN");
    }

    #[test]
    fn urls_ferry_refuses_are_still_shown_without_credentials() {
        assert_eq!(
            RepoUrl::shown("https://u:SECRET@host/a/../b"),
            "https://host/a/../b"
        );
        assert_eq!(RepoUrl::shown("ftp://u:SECRET@host/x"), "ftp://host/x");
        assert_eq!(
            RepoUrl::shown("https://u:SECRET@host/a/b.git"),
            "https://host/a/b.git"
        );
    }

    #[test]
    fn server_urls_are_checked() {
        let url = ServerUrl::parse("https://GHE.example.com:8443/api/v3/").expect("url");
        assert_eq!(url.host(), "ghe.example.com");
        assert_eq!(url.origin(), "https://ghe.example.com:8443");
        assert!(!url.has_credentials());
        assert!(
            ServerUrl::parse("https://u:p@api.example.com")
                .expect("url")
                .has_credentials()
        );
        for bad in ["ftp://x", "https://", "https:///x", "https://a b", "x"] {
            assert_eq!(ServerUrl::parse(bad), None, "{bad}");
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_][A-Za-z0-9._~-]{0,12}".prop_filter("not a dot segment or .git", |s| {
            s != "." && s != ".." && !s.ends_with(".git")
        })
    }

    proptest! {
        #[test]
        fn parse_of_display_is_the_same_url(
            form in 0..4u8,
            host in "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,5}){0,2}",
            port in proptest::option::of(1u16..),
            groups in proptest::collection::vec(segment(), 1..4),
            name in segment(),
            git in any::<bool>(),
            token in proptest::option::of("[A-Za-z0-9_]{4,20}"),
        ) {
            let token = token.filter(|_| form == 0);
            let project = format!("{}/{name}", groups.join("/"));
            let suffix = if git { ".git" } else { "" };
            let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
            let userinfo = token.as_ref().map(|t| format!("oauth2:{t}@")).unwrap_or_default();
            let spec = match form {
                0 => format!("https://{userinfo}{host}{port_text}/{project}{suffix}"),
                1 => format!("http://{host}{port_text}/{project}{suffix}"),
                2 => format!("ssh://git@{host}{port_text}/{project}{suffix}"),
                _ => format!("git@{host}:{project}{suffix}"),
            };
            let (url, secret) = RepoUrl::parse(&spec).expect("parses");
            prop_assert_eq!(url.project(), Some(project.as_str()));
            prop_assert_eq!(url.host(), host.as_str());
            let (again, none) = RepoUrl::parse(&url.to_string()).expect("parses again");
            prop_assert!(none.is_none());
            if let Some(token) = &token {
                prop_assert!(secret.is_some());
                prop_assert!(!url.to_string().contains(token.as_str()));
                // The user name went with the token; the rest is the same URL.
                prop_assert_eq!(again.user(), None);
                prop_assert_eq!(again.as_str(), url.as_str());
                prop_assert_eq!(again.project(), url.project());
            } else {
                prop_assert_eq!(again, url);
            }
        }
    }
}
