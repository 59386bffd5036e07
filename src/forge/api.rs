//! What both forges share: one request at a time, a bounded retry policy, call counting, and
//! errors that name the API call, the cause and the fix.
//!
//! Retries (at most [`ApiOptions::attempts`] tries of one call):
//! - a rate limit (429; 403 with `retry-after`, with `x-ratelimit-remaining: 0`, or GitHub's
//!   "secondary rate limit") waits what the server asks (`retry-after`, else until
//!   `x-ratelimit-reset`/`ratelimit-reset`, else a minute for GitHub's secondary limit), as long
//!   as that is within [`ApiOptions::max_wait`]; the request was not processed, so any
//!   request is retried;
//! - a 5xx answer or a network failure (including a timeout) is retried with jittered
//!   exponential backoff, but only for requests that are safe to repeat. A create whose
//!   answer was lost is not repeated here: the caller looks for what it may have created
//!   first (list-before-create).

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use super::ForgeKind;

/// Longest stretch of a server's error text quoted in a message.
const MAX_MESSAGE: usize = 600;

/// How long GitHub asks clients to wait after a secondary rate limit that names no time.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Tuning of API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiOptions {
    /// Tries of one call, the first included.
    pub attempts: u32,
    /// The longest single wait for a rate limit; a longer one fails at once, saying when the
    /// limit resets.
    pub max_wait: Duration,
    /// How long one request may take.
    pub timeout: Duration,
    /// The first backoff after a 5xx or network failure; doubled on each retry, jittered.
    pub backoff: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            attempts: 4,
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(500),
        }
    }
}

/// One API request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// The call as messages name it: `POST /repos/acme/env/pulls`.
    pub call: String,
    pub body: Option<serde_json::Value>,
    /// Whether sending it twice does no harm (GET, PUT, PATCH, DELETE; a POST when marked).
    pub idempotent: bool,
}

impl Request {
    /// A request to `path` (which starts with `/`) below `base` (no trailing slash).
    #[must_use]
    pub fn new(method: Method, base: &str, path: &str) -> Request {
        let idempotent = method != Method::POST;
        let route = path.split('?').next().unwrap_or(path);
        Request {
            call: format!("{method} {route}"),
            url: format!("{base}{path}"),
            method,
            body: None,
            idempotent,
        }
    }

    #[must_use]
    pub fn json(mut self, body: serde_json::Value) -> Request {
        self.body = Some(body);
        self
    }

    /// Marks a POST as safe to send twice (it sets, rather than creates).
    #[must_use]
    pub fn idempotent(mut self) -> Request {
        self.idempotent = true;
        self
    }
}

/// An answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as `T`; a body that does not fit is an error naming the call.
    pub fn json<T: DeserializeOwned>(&self, kind: ForgeKind, call: &str) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|err| ForgeError::Unexpected {
            forge: kind,
            call: call.to_owned(),
            message: format!("the answer is not what the API reference describes ({err})"),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends requests for one forge's client crate.
pub trait Transport {
    /// Sends `request`; `Err` carries a network failure's description (never a token).
    fn send(&self, request: &Request) -> impl Future<Output = Result<Response, String>>;
}

/// What went wrong talking to a forge. Each message names the call, the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// 401, or 403 that is not a rate limit: the token is wrong or may not do this.
    #[error("{forge} API `{call}` answered {status}: {message}\n  hint: {hint}")]
    Auth {
        forge: ForgeKind,
        call: String,
        status: u16,
        message: String,
        hint: String,
    },
    #[error("{forge} API `{call}` answered 404: {message}\n  hint: {hint}")]
    NotFound {
        forge: ForgeKind,
        call: String,
        message: String,
        hint: String,
    },
    /// The forge declined: validation (422), not mergeable (405), head moved (409); `why`
    /// says which in ferry's terms.
    #[error("{forge} API `{call}` answered {status}: {message}")]
    Refused {
        forge: ForgeKind,
        call: String,
        status: u16,
        message: String,
        why: Refusal,
    },
    #[error(
        "{forge} API `{call}` is rate limited for another {wait_secs} s, longer than the {max_wait_secs} s ferry waits\n  hint: rerun the job later, or use a token with its own quota (a GitHub App installation token, a project access token)"
    )]
    RateLimited {
        forge: ForgeKind,
        call: String,
        wait_secs: u64,
        max_wait_secs: u64,
    },
    #[error(
        "{forge} API `{call}` failed after {attempts} attempt(s): {status} {message}\n  hint: the forge is having trouble; rerun the job"
    )]
    Server {
        forge: ForgeKind,
        call: String,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error(
        "{forge} API `{call}` failed after {attempts} attempt(s): {message}\n  hint: check the network path to the API (and --api-url), then rerun the job"
    )]
    Transport {
        forge: ForgeKind,
        call: String,
        message: String,
        attempts: u32,
    },
    #[error("{forge} API `{call}`: {message}")]
    Unexpected {
        forge: ForgeKind,
        call: String,
        message: String,
    },
    /// Which forge, where its API is, and how to authenticate: fix the flags or variables.
    #[error("{0}")]
    Usage(String),
}

/// Why a forge declined a call, as far as ferry acts on it: the forge clients decide it from
/// the forge's answer, commands match on it (never on statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The change request's head is no longer the one ferry checked and pinned the merge to:
    /// GitHub's 409 `Head branch was modified`, GitLab's 409 `SHA does not match HEAD of
    /// source branch`.
    HeadMoved,
    /// The forge will not merge it now: a merge check fails (405), or the merge itself failed
    /// (GitLab's 406 and 422, GitHub's 422).
    NotMergeable,
    /// Any other refusal: validation, a duplicate, a request the forge does not take.
    Other,
}

impl ForgeError {
    /// A refusal of a merge call (merging, or asking the forge to merge by itself) read in
    /// ferry's terms: 409 is the head having moved, 405, 406 and 422 a change request the
    /// forge will not merge now. Other errors are returned as they are.
    #[must_use]
    pub fn of_merge(self) -> ForgeError {
        match self {
            ForgeError::Refused {
                forge,
                call,
                status,
                message,
                why: Refusal::Other,
            } => ForgeError::Refused {
                why: match status {
                    409 => Refusal::HeadMoved,
                    405 | 406 | 422 => Refusal::NotMergeable,
                    _ => Refusal::Other,
                },
                forge,
                call,
                status,
                message,
            },
            other => other,
        }
    }

    /// Whether the forge refused because the change request's head moved.
    #[must_use]
    pub fn head_moved(&self) -> bool {
        matches!(
            self,
            ForgeError::Refused {
                why: Refusal::HeadMoved,
                ..
            }
        )
    }

    /// Whether a create that failed this way may nevertheless have happened (its answer was
    /// lost): then look before trying again.
    #[must_use]
    pub fn maybe_happened(&self) -> bool {
        matches!(
            self,
            ForgeError::Server { .. } | ForgeError::Transport { .. }
        )
    }

    /// The HTTP status, for errors that have one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            ForgeError::Auth { status, .. }
            | ForgeError::Refused { status, .. }
            | ForgeError::Server { status, .. } => Some(*status),
            ForgeError::NotFound { .. } => Some(404),
            _ => None,
        }
    }
}

/// One forge's API: its transport, a runtime to drive it, the retry policy and a call counter.
pub struct Api<T> {
    kind: ForgeKind,
    transport: T,
    runtime: tokio::runtime::Runtime,
    options: ApiOptions,
    calls: Cell<u32>,
    /// Authenticated with GitLab's `CI_JOB_TOKEN`, which most of the API refuses.
    job_token: bool,
}

impl<T: Transport> Api<T> {
    /// # Errors
    /// When the runtime cannot be built (out of resources).
    pub fn new(
        kind: ForgeKind,
        transport: T,
        runtime: tokio::runtime::Runtime,
        options: ApiOptions,
    ) -> Api<T> {
        Api {
            kind,
            transport,
            runtime,
            options,
            calls: Cell::new(0),
            job_token: false,
        }
    }

    /// Whether the token is GitLab's `CI_JOB_TOKEN`.
    #[must_use]
    pub fn job_token(&self) -> bool {
        self.job_token
    }

    /// Says that the token is GitLab's `CI_JOB_TOKEN`, for the hints of refusals.
    pub fn set_job_token(&mut self, job_token: bool) {
        self.job_token = job_token;
    }

    #[must_use]
    pub fn kind(&self) -> ForgeKind {
        self.kind
    }

    /// Waits as the retry policy would before attempt `attempt + 1`: for a forge that is
    /// still computing something it will answer shortly (GitHub's mergeability).
    pub fn pause(&self, attempt: u32) {
        std::thread::sleep(backoff(
            self.options.backoff,
            attempt,
            self.options.max_wait,
        ));
    }

    #[must_use]
    pub fn calls(&self) -> u32 {
        self.calls.get()
    }

    /// Enters this API's runtime (clients that spawn tasks must be built inside it).
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.runtime.enter()
    }

    /// Replaces the transport (a client with other credentials), keeping the call count.
    pub fn set_transport(&mut self, transport: T) {
        self.transport = transport;
    }

    #[must_use]
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Runs a future of the forge's client on this API's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Sends `request` under the retry policy; any non-2xx answer left is an error.
    pub fn call(&self, request: &Request) -> Result<Response, ForgeError> {
        let response = self.send(request)?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(self.error(request, &response, 1))
        }
    }

    /// Sends `request` under the retry policy and returns the last answer, 2xx or not, once
    /// retrying is over (statuses the caller handles itself, like a 404 that means "none").
    pub fn send(&self, request: &Request) -> Result<Response, ForgeError> {
        let options = self.options;
        let attempts = options.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.calls.set(self.calls.get() + 1);
            let result = self.runtime.block_on(async {
                match tokio::time::timeout(options.timeout, self.transport.send(request)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "no answer within {} s",
                        options.timeout.as_secs_f32()
                    )),
                }
            });
            let last = attempt >= attempts;
            match result {
                Err(message) => {
                    tracing::debug!(call = request.call, attempt, error = message, "api");
                    if last || !request.idempotent {
                        return Err(ForgeError::Transport {
                            forge: self.kind,
                            call: request.call.clone(),
                            message,
                            attempts: attempt,
                        });
                    }
                    let wait = backoff(options.backoff, attempt, options.max_wait);
                    tracing::warn!(
                        call = request.call,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "{message}; retrying"
                    );
                    std::thread::sleep(wait);
                }
                Ok(response) => {
                    tracing::debug!(
                        call = request.call,
                        attempt,
                        status = response.status,
                        "api"
                    );
                    if let Some(wait) = rate_limit_wait(&response, SystemTime::now()) {
                        if wait > options.max_wait {
                            return Err(ForgeError::RateLimited {
                                forge: self.kind,
                                call: request.call.clone(),
                                wait_secs: wait.as_secs(),
                                max_wait_secs: options.max_wait.as_secs(),
                            });
                        }
                        if last {
                            return Ok(response);
                        }
                        tracing::warn!(
                            call = request.call,
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "rate limited; waiting as the server asks"
                        );
                        std::thread::sleep(wait);
                        continue;
                    }
                    let retryable = matches!(response.status, 500 | 502 | 503 | 504);
                    if !retryable || last || !request.idempotent {
                        if retryable {
                            return Err(self.error(request, &response, attempt));
                        }
                        return Ok(response);
                    }
                    let wait = backoff(options.backoff, attempt, options.max_wait);
                    tracing::warn!(
                        call = request.call,
                        attempt,
                        status = response.status,
                        wait_ms = wait.as_millis() as u64,
                        "server error; retrying"
                    );
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// The error for a non-2xx answer.
    pub fn error(&self, request: &Request, response: &Response, attempts: u32) -> ForgeError {
        let forge = self.kind;
        let call = request.call.clone();
        let message = server_message(&response.body);
        let status = response.status;
        match status {
            401 | 403 => ForgeError::Auth {
                hint: if self.job_token {
                    JOB_TOKEN_HINT.to_owned()
                } else {
                    auth_hint(forge, status)
                },
                forge,
                call,
                status,
                message,
            },
            404 => ForgeError::NotFound {
                hint: not_found_hint(forge),
                forge,
                call,
                message,
            },
            429 => ForgeError::RateLimited {
                forge,
                call,
                wait_secs: rate_limit_wait(response, SystemTime::now()).map_or(0, |w| w.as_secs()),
                max_wait_secs: self.options.max_wait.as_secs(),
            },
            500..=599 => ForgeError::Server {
                forge,
                call,
                status,
                message,
                attempts,
            },
            _ => ForgeError::Refused {
                forge,
                call,
                status,
                message,
                why: Refusal::Other,
            },
        }
    }
}

/// How long a rate-limited answer asks to wait; `None` when it is not a rate limit.
fn rate_limit_wait(response: &Response, now: SystemTime) -> Option<Duration> {
    if !matches!(response.status, 403 | 429) {
        return None;
    }
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let exhausted = response
        .header("x-ratelimit-remaining")
        .or_else(|| response.header("ratelimit-remaining"))
        .is_some_and(|v| v.trim() == "0");
    let secondary = response.status == 403
        && String::from_utf8_lossy(&response.body)
            .to_ascii_lowercase()
            .contains("secondary rate limit");
    if response.status == 403 && retry_after.is_none() && !exhausted && !secondary {
        return None; // a permission problem
    }
    if let Some(wait) = retry_after {
        return Some(wait);
    }
    let reset = response
        .header("x-ratelimit-reset")
        .or_else(|| response.header("ratelimit-reset"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(reset) = reset {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    Some(if secondary {
        SECONDARY_LIMIT_WAIT
    } else {
        Duration::from_secs(1)
    })
}

/// Jittered exponential backoff: a random wait between half and all of `first × 2^(attempt-1)`.
fn backoff(first: Duration, attempt: u32, max: Duration) -> Duration {
    let window = crate::backoff::window(first, attempt.saturating_sub(1), max);
    crate::backoff::between(window / 2, window)
}

/// The server's explanation from an error body: GitHub's `message` (and `errors[].message`),
/// GitLab's `message` (a string, a list or a map of field → problems) or `error`.
#[must_use]
pub fn server_message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => {
            let mut parts = Vec::new();
            for key in ["message", "error", "error_description"] {
                match json.get(key) {
                    Some(serde_json::Value::String(s)) => parts.push(s.clone()),
                    Some(serde_json::Value::Null) | None => {}
                    Some(other) => parts.push(other.to_string()),
                }
            }
            if let Some(errors) = json.get("errors").and_then(serde_json::Value::as_array) {
                for error in errors {
                    match error.get("message").and_then(serde_json::Value::as_str) {
                        Some(message) => parts.push(message.to_owned()),
                        None => parts.push(error.to_string()),
                    }
                }
            }
            if parts.is_empty() {
                json.to_string()
            } else {
                parts.join("; ")
            }
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let text = if text.is_empty() {
        "(no message)".to_owned()
    } else {
        text
    };
    if text.chars().count() > MAX_MESSAGE {
        let cut: String = text.chars().take(MAX_MESSAGE).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Why GitLab refuses a job token, and what to use instead.
const JOB_TOKEN_HINT: &str = "the token is CI_JOB_TOKEN, which GitLab lets call only a few API endpoints: it cannot open, edit or merge merge requests. Give a project or group access token with the `api` scope (and the Developer role) in FERRY_TOKEN or GITLAB_TOKEN";

fn auth_hint(forge: ForgeKind, status: u16) -> String {
    match (forge, status) {
        (ForgeKind::GitHub, 401) => "the token is invalid or expired: use a fine-grained token or a GitHub App installation token with `Contents: write` and `Pull requests: write` on the environment repository (a classic token needs the `repo` scope)".to_owned(),
        (ForgeKind::GitHub, _) => "the token may not do this: opening and merging pull requests needs `Pull requests: write` and `Contents: write`, commit statuses need `Commit statuses: write`; a workflow's own GITHUB_TOKEN reaches only its own repository (use a GitHub App or a fine-grained token for the environment repository)".to_owned(),
        (ForgeKind::GitLab, 401) => "the token is invalid, expired or revoked: use a project or group access token (or a personal access token) with the `api` scope".to_owned(),
        (ForgeKind::GitLab, _) => "the token's role may not do this: merge requests need at least the Developer role, merging into a protected branch needs a role allowed to merge there, and CI_JOB_TOKEN cannot use the merge request API (use a project or group access token with the `api` scope)".to_owned(),
    }
}

fn not_found_hint(forge: ForgeKind) -> String {
    match forge {
        ForgeKind::GitHub => "GitHub answers 404 when the repository or pull request does not exist, or the token cannot see it: check --repo, and that the token (or the App's installation) has access to this repository".to_owned(),
        ForgeKind::GitLab => "GitLab answers 404 when the project or merge request does not exist, or the token cannot see it: check --repo, and that the token's user or bot is a member of the project".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_refusals_are_typed_by_the_forge_layer() {
        let refused = |status| ForgeError::Refused {
            forge: ForgeKind::GitHub,
            call: "PUT /repos/a/b/pulls/1/merge".to_owned(),
            status,
            message: "m".to_owned(),
            why: Refusal::Other,
        };
        let why = |err: ForgeError| match err {
            ForgeError::Refused { why, .. } => Some(why),
            _ => None,
        };
        assert!(refused(409).of_merge().head_moved());
        assert!(
            !refused(409).head_moved(),
            "only a merge call's 409 is the head moving"
        );
        for status in [405, 406, 422] {
            assert_eq!(why(refused(status).of_merge()), Some(Refusal::NotMergeable));
        }
        assert_eq!(why(refused(400).of_merge()), Some(Refusal::Other));
        // What the forge said is kept, and the message reads as before.
        assert_eq!(
            refused(409).of_merge().to_string(),
            "GitHub API `PUT /repos/a/b/pulls/1/merge` answered 409: m"
        );
        let other = ForgeError::Usage("x".to_owned()).of_merge();
        assert!(matches!(other, ForgeError::Usage(_)));
    }

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header"));
        }
        Response {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rate_limits_are_told_from_permission_problems() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let wait = |r: &Response| rate_limit_wait(r, now);
        assert_eq!(
            wait(&response(429, &[("retry-after", "3")], "")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            wait(&response(
                403,
                &[("retry-after", "2")],
                "{\"message\":\"You have exceeded a secondary rate limit\"}"
            )),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait(&response(
                403,
                &[],
                "{\"message\":\"You have exceeded a secondary rate limit\"}"
            )),
            Some(SECONDARY_LIMIT_WAIT)
        );
        assert_eq!(
            wait(&response(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1030")
                ],
                ""
            )),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait(&response(429, &[("ratelimit-reset", "1005")], "")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait(&response(
                403,
                &[],
                "{\"message\":\"Resource not accessible by integration\"}"
            )),
            None
        );
        assert_eq!(wait(&response(502, &[("retry-after", "3")], "")), None);
    }

    #[test]
    fn server_messages_are_read_from_both_forges_bodies() {
        assert_eq!(
            server_message(br#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for acme:ferry/x."}]}"#),
            "Validation Failed; A pull request already exists for acme:ferry/x."
        );
        assert_eq!(server_message(br#"{"message":["Another open merge request already exists for this source branch: !3"]}"#),
            r#"["Another open merge request already exists for this source branch: !3"]"#);
        assert_eq!(
            server_message(br#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(server_message(b"Bad gateway\n"), "Bad gateway");
        assert_eq!(server_message(b""), "(no message)");
        assert!(server_message(&vec![b'x'; 2000]).ends_with('…'));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let first = Duration::from_millis(100);
        for attempt in 1..6 {
            let wait = backoff(first, attempt, Duration::from_secs(1));
            let window = (first * (1 << (attempt - 1))).min(Duration::from_secs(1));
            assert!(wait >= window / 2 && wait <= window, "{attempt}: {wait:?}");
        }
    }

    #[test]
    fn requests_name_their_call_without_the_query() {
        let r = Request::new(
            Method::GET,
            "https://api.github.com",
            "/repos/a/b/pulls?head=a:x",
        );
        assert_eq!(r.call, "GET /repos/a/b/pulls");
        assert_eq!(r.url, "https://api.github.com/repos/a/b/pulls?head=a:x");
        assert!(r.idempotent);
        assert!(!Request::new(Method::POST, "", "/x").idempotent);
        assert!(Request::new(Method::POST, "", "/x").idempotent().idempotent);
    }
}
