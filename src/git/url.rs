//! What `--repo` names: an https/http URL, an ssh URL (`ssh://` or `user@host:path`), a
//! `file://` URL or a local path. Credentials written into a URL are taken out of it, so the
//! URL can be shown anywhere.

use std::fmt;
use std::path::Path;

use secrecy::SecretString;

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
    /// The URL libgit2 is given, without user information.
    url: String,
    transport: Transport,
    /// The host (empty for local repositories).
    host: String,
    /// The port written in the URL, if any.
    port: Option<u16>,
    /// A user name written in the URL (`git@`, `oauth2:…@`).
    user: Option<String>,
}

/// A secret found in `--repo` (`https://user:TOKEN@host/…`), removed from the URL.
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

impl RepoUrl {
    /// Parses `--repo`. A password in an http(s) URL is returned separately and removed.
    pub fn parse(spec: &str) -> Result<(RepoUrl, Option<UrlSecret>), String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("--repo is empty; give the environment repository's URL".to_owned());
        }
        if spec.chars().any(char::is_control) {
            return Err("--repo contains control characters".to_owned());
        }
        if let Some((scheme, rest)) = spec.split_once("://") {
            let transport = match scheme.to_ascii_lowercase().as_str() {
                "https" | "http" => Transport::Http,
                "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                "file" => {
                    return Ok((
                        RepoUrl {
                            url: spec.to_owned(),
                            transport: Transport::Local,
                            host: String::new(),
                            port: None,
                            user: None,
                        },
                        None,
                    ));
                }
                other => {
                    return Err(format!(
                        "--repo uses the unsupported scheme `{other}://`; use https://, http://, ssh://, file:// or a local path"
                    ));
                }
            };
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (userinfo, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if hostport.is_empty() {
                return Err(format!("--repo `{scheme}://…` has no host"));
            }
            let host = host_of(hostport).to_ascii_lowercase();
            let port = port_of(hostport)
                .map(|p| {
                    p.parse::<u16>()
                        .map_err(|_| format!("--repo `{scheme}://…` has an invalid port `{p}`"))
                })
                .transpose()?;
            let (user, secret) = match userinfo {
                None => (None, None),
                Some(info) => match info.split_once(':') {
                    Some((user, password)) if transport == Transport::Http => {
                        let user = if user.is_empty() {
                            "x-access-token"
                        } else {
                            user
                        };
                        (
                            Some(user.to_owned()),
                            Some(UrlSecret {
                                user: user.to_owned(),
                                token: SecretString::from(password.to_owned()),
                            }),
                        )
                    }
                    Some((user, _)) => (Some(user.to_owned()), None),
                    None => (Some(info.to_owned()), None),
                },
            };
            let url = match (&user, transport) {
                (Some(user), Transport::Ssh) => format!("{scheme}://{user}@{hostport}/{path}"),
                _ => format!("{scheme}://{hostport}/{path}"),
            };
            return Ok((
                RepoUrl {
                    url,
                    transport,
                    host,
                    port,
                    user,
                },
                secret,
            ));
        }
        // scp-like `user@host:path` (a colon before any slash), as git reads it.
        if let Some(colon) = spec.find(':') {
            let before = &spec[..colon];
            if !before.contains('/') && !before.is_empty() && !is_windows_drive(spec) {
                let (user, host) = match before.rsplit_once('@') {
                    Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
                    None => (None, before.to_owned()),
                };
                return Ok((
                    RepoUrl {
                        url: spec.to_owned(),
                        transport: Transport::Ssh,
                        host: host.to_ascii_lowercase(),
                        port: None,
                        user,
                    },
                    None,
                ));
            }
        }
        let path = Path::new(spec);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| format!("cannot resolve the local path {spec}: {e}"))?
                .join(path)
        };
        // `./env` and `env/.` name the same repository as `env`: show it without the dots.
        let absolute: std::path::PathBuf = absolute
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        Ok((
            RepoUrl {
                url: absolute.display().to_string(),
                transport: Transport::Local,
                host: String::new(),
                port: None,
                user: None,
            },
            None,
        ))
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
        match self.url.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None if self.transport == Transport::Ssh => "ssh".to_owned(),
            None => "file".to_owned(),
        }
    }

    /// The repository's directory, for the local transport: a path as given, or a `file://`
    /// URL read as libgit2 reads it (`file:///dir` or `file://localhost/dir`, `%XX` escapes
    /// decoded). `None` for other transports and for a `file://` URL naming another host.
    #[must_use]
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        use std::os::unix::ffi::OsStringExt as _;
        if self.transport != Transport::Local {
            return None;
        }
        let Some(rest) = self
            .url
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("file://"))
            .map(|_| &self.url[7..])
        else {
            return Some(self.url.clone().into());
        };
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        if !rest.starts_with('/') {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut path = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(byte)) => {
                    path.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    path.push(byte);
                    i += 1;
                }
            }
        }
        Some(std::ffi::OsString::from_vec(path).into())
    }

    /// The port connections go to: the one written, else the scheme's default.
    #[must_use]
    pub fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.scheme().as_str() {
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
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = match self.scheme().as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        match self.port {
            Some(port) if Some(port) != default => format!("{host}:{port}"),
            _ => host,
        }
    }

    /// Whether `other` is the same server: scheme, host and port (defaults filled in).
    #[must_use]
    pub fn same_origin(&self, other: &RepoUrl) -> bool {
        self.transport == other.transport
            && self.scheme() == other.scheme()
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.effective_port() == other.effective_port()
    }

    /// `scheme://host:port`, for messages.
    #[must_use]
    pub fn origin(&self) -> String {
        match self.effective_port() {
            Some(port) => format!("{}://{}:{port}", self.scheme(), self.authority_host()),
            None => format!("{}://{}", self.scheme(), self.authority_host()),
        }
    }

    fn authority_host(&self) -> String {
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
}

fn host_of(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    hostport.split(':').next().unwrap_or(hostport)
}

/// The port part of `host:port` (`[v6]:port`), if any.
fn port_of(hostport: &str) -> Option<&str> {
    let rest = match hostport.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(_, after)| after),
        None => hostport,
    };
    rest.rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|p| !p.is_empty())
}

fn is_windows_drive(spec: &str) -> bool {
    let b = spec.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// A page of a repository's web interface: `page` (`commit/<sha>`, `compare/<a>...<b>`) below
/// the repository's web address, in GitLab's form (`/-/commit/...`) on a host whose name
/// contains `gitlab`. `None` unless `repo` is an http(s) URL; user information and a `.git`
/// suffix are dropped.
#[must_use]
pub fn web_page(repo: &str, page: &str) -> Option<String> {
    let (scheme, rest) = repo.trim().split_once("://")?;
    if !matches!(scheme.to_ascii_lowercase().as_str(), "https" | "http") {
        return None;
    }
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let (authority, path) = rest.split_once('/')?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let dash = if host.to_ascii_lowercase().contains("gitlab") {
        "-/"
    } else {
        ""
    };
    Some(format!("{scheme}://{host}/{path}/{dash}{page}"))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let url = parse("ssh://git@gitlab.com:2222/acme/env.git");
        assert_eq!(url.transport(), Transport::Ssh);
        assert_eq!(url.host(), "gitlab.com");
        assert_eq!(url.as_str(), "ssh://git@gitlab.com:2222/acme/env.git");
    }

    #[test]
    fn local_forms_cannot_fetch_shallow() {
        let url = parse("file:///srv/env.git");
        assert_eq!(url.transport(), Transport::Local);
        assert!(!url.can_fetch_shallow());
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
    }

    #[test]
    fn web_pages_follow_the_forge_form_and_drop_credentials() {
        assert_eq!(
            web_page("https://github.com/acme/env.git", "commit/abc").as_deref(),
            Some("https://github.com/acme/env/commit/abc")
        );
        assert_eq!(
            web_page("https://oauth2@gitlab.example.com/g/env/", "compare/a...b").as_deref(),
            Some("https://gitlab.example.com/g/env/-/compare/a...b")
        );
        assert_eq!(web_page("git@github.com:acme/env.git", "commit/abc"), None);
        assert_eq!(web_page("file:///srv/env", "commit/abc"), None);
        assert_eq!(web_page("https://github.com", "commit/abc"), None);
    }
}
