//! Detection: which CI runs ferry (GitHub Actions or GitLab CI) and what it says about the run,
//! read through a lookup function (see the [module documentation](super) for each variable).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::repo_url::ServerUrl;

/// Largest GitHub event payload read; GitHub's own webhook payload cap is 25 MB.
const MAX_EVENT_BYTES: u64 = 32 << 20;

/// Where ferry is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// GitHub Actions (`GITHUB_ACTIONS=true`).
    GithubActions,
    /// GitLab CI/CD (`GITLAB_CI=true`).
    GitlabCi,
}

impl Provider {
    /// The provider's stable identifier, as serialised: `github-actions` or `gitlab-ci`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::GithubActions => "github-actions",
            Provider::GitlabCi => "gitlab-ci",
        }
    }
}

/// What the CI tells us about the run that invoked ferry. All optional except provider.
///
/// See the [module documentation](crate::ci) for the variables behind each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The CI running ferry.
    pub provider: Provider,
    /// Web URL of the application (source) repository, e.g. `https://github.com/acme/shop`.
    pub source_repo: Option<String>,
    /// The source commit: on a pull/merge request the head of the source branch.
    pub source_commit: Option<String>,
    /// The source branch name (the tag name in tag pipelines).
    pub source_ref: Option<String>,
    /// Web URL of this CI run (GitHub workflow run attempt, GitLab pipeline).
    pub run_url: Option<String>,
    /// A number that increases with each run of the same pipeline.
    pub run_number: Option<u64>,
    /// The attempt of this run (GitHub re-runs); always `None` on GitLab.
    pub run_attempt: Option<u64>,
    /// The workflow that runs (GitHub `owner/repo/path@ref` or workflow name); `None` on GitLab.
    pub workflow: Option<String>,
    /// Pull request (GitHub) or merge request IID (GitLab) number.
    pub change_request: Option<u64>,
    /// Web URL of the CI server, e.g. `https://github.com`.
    pub server_url: Option<String>,
    /// Base URL of the forge's REST API (GitHub `GITHUB_API_URL`, GitLab v4 API).
    pub api_url: Option<String>,
    /// Login of the user who started the run.
    pub actor: Option<String>,
}

impl Context {
    /// Detects GitHub Actions (`GITHUB_ACTIONS == "true"`) or GitLab CI (`GITLAB_CI == "true"`);
    /// `None` elsewhere.
    ///
    /// `env` looks a variable up by name. On GitHub the event payload named by
    /// `GITHUB_EVENT_PATH` is read from the file system when present.
    #[must_use]
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<Context> {
        if is_true(env, "GITHUB_ACTIONS") {
            Some(github(env))
        } else if is_true(env, "GITLAB_CI") {
            Some(gitlab(env))
        } else {
            None
        }
    }

    /// [`detect`](Context::detect) over the process environment (see [`process_env`]).
    #[must_use]
    pub fn from_env() -> Option<Context> {
        Context::detect(&process_env)
    }
}

/// Looks a variable up in the process environment; unset or non-UTF-8 values are `None`.
///
/// This is the lookup to hand to [`Context::detect`] and [`publish`](crate::ci::publish) outside tests.
#[must_use]
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The trimmed value of `key`, or `None` when unset or blank.
pub(super) fn var(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    non_blank(&env(key)?)
}

/// `value` trimmed, or `None` when blank.
fn non_blank(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The value of `key` as a number, or `None` when unset, blank or not a `u64`.
fn num(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<u64> {
    var(env, key)?.parse().ok()
}

/// Whether `key` is set to `true` (any ASCII case, surrounding blanks ignored).
pub(super) fn is_true(env: &dyn Fn(&str) -> Option<String>, key: &str) -> bool {
    var(env, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn github(env: &dyn Fn(&str) -> Option<String>) -> Context {
    let server_url = var(env, "GITHUB_SERVER_URL").and_then(|s| non_blank(s.trim_end_matches('/')));
    let repo_page = match (&server_url, var(env, "GITHUB_REPOSITORY")) {
        (Some(server), Some(repo)) => repository_page(server, &repo),
        _ => None,
    };
    let source_repo = repo_page.as_ref().map(Url::to_string);

    let event = var(env, "GITHUB_EVENT_PATH").and_then(|path| read_event(Path::new(&path)));
    let pull_request = event
        .as_ref()
        .and_then(|e| e.get("pull_request"))
        .filter(|pr| pr.is_object());
    let pr_str = |pointer: &str| {
        pull_request
            .and_then(|pr| pr.pointer(pointer))
            .and_then(Value::as_str)
            .and_then(non_blank)
    };

    let source_commit = pr_str("/head/sha").or_else(|| var(env, "GITHUB_SHA"));
    let git_ref = var(env, "GITHUB_REF");
    let source_ref = var(env, "GITHUB_HEAD_REF")
        .or_else(|| pr_str("/head/ref"))
        .or_else(|| var(env, "GITHUB_REF_NAME"))
        .or_else(|| {
            let r = git_ref.as_deref()?;
            let name = r
                .strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))?;
            non_blank(name)
        });

    let run_attempt = num(env, "GITHUB_RUN_ATTEMPT");
    let run_url = match (&repo_page, num(env, "GITHUB_RUN_ID")) {
        (Some(page), Some(run_id)) => {
            let (run_id, attempt) = (run_id.to_string(), run_attempt.map(|a| a.to_string()));
            let mut segments = vec!["actions", "runs", run_id.as_str()];
            if run_attempt.is_some_and(|a| a > 1)
                && let Some(attempt) = &attempt
            {
                segments.extend(["attempts", attempt.as_str()]);
            }
            below(page, &segments).map(|url| url.to_string())
        }
        _ => None,
    };

    let change_request = pull_request
        .and_then(|pr| pr.get("number"))
        .and_then(Value::as_u64)
        .or_else(|| git_ref.as_deref().and_then(pull_number_from_ref));

    Context {
        provider: Provider::GithubActions,
        source_repo,
        source_commit,
        source_ref,
        run_url,
        run_number: num(env, "GITHUB_RUN_NUMBER"),
        run_attempt,
        workflow: var(env, "GITHUB_WORKFLOW_REF").or_else(|| var(env, "GITHUB_WORKFLOW")),
        change_request,
        server_url,
        api_url: var(env, "GITHUB_API_URL"),
        actor: var(env, "GITHUB_ACTOR"),
    }
}

fn gitlab(env: &dyn Fn(&str) -> Option<String>) -> Context {
    Context {
        provider: Provider::GitlabCi,
        source_repo: var(env, "CI_PROJECT_URL"),
        source_commit: var(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
            .or_else(|| var(env, "CI_COMMIT_SHA")),
        source_ref: var(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
            .or_else(|| var(env, "CI_COMMIT_REF_NAME"))
            .or_else(|| var(env, "CI_COMMIT_BRANCH"))
            .or_else(|| var(env, "CI_COMMIT_TAG")),
        run_url: var(env, "CI_PIPELINE_URL").or_else(|| var(env, "CI_JOB_URL")),
        run_number: num(env, "CI_PIPELINE_IID").or_else(|| num(env, "CI_PIPELINE_ID")),
        run_attempt: None,
        workflow: None,
        change_request: num(env, "CI_MERGE_REQUEST_IID"),
        server_url: var(env, "CI_SERVER_URL"),
        api_url: var(env, "CI_API_V4_URL"),
        actor: var(env, "GITLAB_USER_LOGIN"),
    }
}

/// The repository's page on the GitHub server: `server` (an http(s) URL, its path kept for a
/// server below a prefix) with the owner and name of `repository` appended as path segments by
/// the `url` crate, each percent-encoded. `None` unless `repository` is `owner/name` (two
/// segments, neither empty, `.` or `..`): a hostile value cannot add or climb path segments,
/// nor start a query or fragment.
fn repository_page(server: &str, repository: &str) -> Option<Url> {
    let server = ServerUrl::parse(server)?;
    let (owner, name) = repository.trim_matches('/').split_once('/')?;
    let segment = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/');
    if !(segment(owner) && segment(name)) {
        return None;
    }
    let mut base = server.as_url().clone();
    base.set_query(None);
    base.set_fragment(None);
    let _ = base.set_username("");
    let _ = base.set_password(None);
    below(&base, &[owner, name])
}

/// `base` with `segments` appended to its path, each percent-encoded (`/`, `?`, `#`, `%`
/// included).
fn below(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

/// The GitHub event payload at `path`, or `None` when it cannot be read or parsed.
fn read_event(path: &Path) -> Option<Value> {
    let file = File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if u64::try_from(bytes.len()).ok()? > MAX_EVENT_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The pull request number in `refs/pull/<n>/merge` or `refs/pull/<n>/head`.
fn pull_number_from_ref(git_ref: &str) -> Option<u64> {
    let (number, kind) = git_ref.strip_prefix("refs/pull/")?.split_once('/')?;
    if kind != "merge" && kind != "head" {
        return None;
    }
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_env::{env_of, github_env, s};
    use super::*;
    use std::fs;

    #[test]
    fn github_push_event() {
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_HEAD_REF", ""),
        ]);
        let ctx = Context::detect(&env).expect("GitHub Actions detected");
        assert_eq!(
            ctx,
            Context {
                provider: Provider::GithubActions,
                source_repo: s("https://github.com/acme/shop"),
                source_commit: s("0123456789abcdef0123456789abcdef01234567"),
                source_ref: s("main"),
                run_url: s("https://github.com/acme/shop/actions/runs/9876543210"),
                run_number: Some(57),
                run_attempt: Some(1),
                workflow: s("acme/shop/.github/workflows/build.yml@refs/heads/main"),
                change_request: None,
                server_url: s("https://github.com"),
                api_url: s("https://api.github.com"),
                actor: s("octocat"),
            }
        );
    }

    #[test]
    fn github_pull_request_event_prefers_payload_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        fs::write(
            &event,
            r#"{"action":"synchronize","number":42,
               "pull_request":{"number":42,
                 "head":{"sha":"feedfacefeedfacefeedfacefeedfacefeedface","ref":"feature/login"},
                 "base":{"sha":"baseba5ebaseba5ebaseba5ebaseba5ebaseba5e","ref":"main"}}}"#,
        )
        .expect("write event");
        let event_path = event.to_str().expect("utf-8 path");
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event_path),
            ("GITHUB_SHA", "mergemergemergemergemergemergemergemerge"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_HEAD_REF", "feature/login"),
            ("GITHUB_BASE_REF", "main"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            ctx.source_commit,
            s("feedfacefeedfacefeedfacefeedfacefeedface")
        );
        assert_eq!(ctx.source_ref, s("feature/login"));
        assert_eq!(ctx.change_request, Some(42));
    }

    #[test]
    fn github_pull_request_payload_number_wins_over_ref() {
        // pull_request_target runs on the base ref: only the payload knows the PR.
        let dir = tempfile::tempdir().expect("tempdir");
        let event = dir.path().join("event.json");
        fs::write(
            &event,
            r#"{"pull_request":{"number":7,"head":{"sha":"abc1234","ref":"fix"}}}"#,
        )
        .expect("write event");
        let env = github_env(&[
            ("GITHUB_EVENT_NAME", "pull_request_target"),
            ("GITHUB_EVENT_PATH", event.to_str().expect("utf-8 path")),
            ("GITHUB_SHA", "basebasebase"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_HEAD_REF", "fix"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.change_request, Some(7));
        assert_eq!(ctx.source_commit, s("abc1234"));
        assert_eq!(ctx.source_ref, s("fix"));
    }

    #[test]
    fn github_pull_request_without_readable_event_falls_back_to_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let malformed = dir.path().join("malformed.json");
        fs::write(&malformed, "{not json").expect("write");
        let missing = dir.path().join("missing.json");
        let wrong_shape = dir.path().join("wrong.json");
        fs::write(&wrong_shape, r#"{"pull_request":"nope"}"#).expect("write");
        for path in [&malformed, &missing, &wrong_shape] {
            let env = github_env(&[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", path.to_str().expect("utf-8 path")),
                ("GITHUB_SHA", "mergesha"),
                ("GITHUB_REF", "refs/pull/13/merge"),
                ("GITHUB_REF_NAME", "13/merge"),
                ("GITHUB_HEAD_REF", "topic"),
            ]);
            let ctx = Context::detect(&env).expect("detected");
            assert_eq!(ctx.source_commit, s("mergesha"), "{}", path.display());
            assert_eq!(ctx.change_request, Some(13), "{}", path.display());
            assert_eq!(ctx.source_ref, s("topic"), "{}", path.display());
        }
    }

    #[test]
    fn github_run_attempt_two_url() {
        let env = github_env(&[("GITHUB_RUN_ATTEMPT", "2"), ("GITHUB_SHA", "abc")]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.run_attempt, Some(2));
        assert_eq!(
            ctx.run_url,
            s("https://github.com/acme/shop/actions/runs/9876543210/attempts/2")
        );
    }

    #[test]
    fn github_enterprise_server_url_and_ref_fallback() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
            ("GITHUB_REPOSITORY", "team/app"),
            ("GITHUB_RUN_ID", "5"),
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_WORKFLOW", "release"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.source_repo, s("https://ghe.example.com/team/app"));
        assert_eq!(ctx.server_url, s("https://ghe.example.com"));
        assert_eq!(
            ctx.run_url,
            s("https://ghe.example.com/team/app/actions/runs/5")
        );
        assert_eq!(ctx.source_ref, s("v1.2.3"));
        assert_eq!(ctx.workflow, s("release"));
        assert_eq!(ctx.run_attempt, None);
    }

    #[test]
    fn pull_numbers_from_refs() {
        assert_eq!(pull_number_from_ref("refs/pull/42/merge"), Some(42));
        assert_eq!(pull_number_from_ref("refs/pull/42/head"), Some(42));
        assert_eq!(pull_number_from_ref("refs/pull/x/merge"), None);
        assert_eq!(pull_number_from_ref("refs/pull/42/other"), None);
        assert_eq!(pull_number_from_ref("refs/heads/pull/42/merge"), None);
    }

    #[test]
    fn gitlab_merge_request_pipeline() {
        let env = env_of(&[
            ("CI", "true"),
            ("GITLAB_CI", "true"),
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/shop"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "mergedresultsha"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "sourceheadsha"),
            ("CI_COMMIT_REF_NAME", "feature/cart"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/cart"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_IID", "31"),
            ("CI_PIPELINE_ID", "1200345"),
            ("CI_PIPELINE_IID", "812"),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.example.com/acme/shop/-/pipelines/1200345",
            ),
            (
                "CI_JOB_URL",
                "https://gitlab.example.com/acme/shop/-/jobs/99",
            ),
            ("GITLAB_USER_LOGIN", "alice"),
        ]);
        assert_eq!(
            Context::detect(&env),
            Some(Context {
                provider: Provider::GitlabCi,
                source_repo: s("https://gitlab.example.com/acme/shop"),
                source_commit: s("sourceheadsha"),
                source_ref: s("feature/cart"),
                run_url: s("https://gitlab.example.com/acme/shop/-/pipelines/1200345"),
                run_number: Some(812),
                run_attempt: None,
                workflow: None,
                change_request: Some(31),
                server_url: s("https://gitlab.example.com"),
                api_url: s("https://gitlab.example.com/api/v4"),
                actor: s("alice"),
            })
        );
    }

    #[test]
    fn gitlab_branch_pipeline() {
        let env = env_of(&[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_URL", "https://gitlab.com/acme/shop"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", "c0ffee"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
            ("CI_PIPELINE_ID", "1200346"),
            ("CI_JOB_URL", "https://gitlab.com/acme/shop/-/jobs/100"),
        ]);
        let ctx = Context::detect(&env).expect("GitLab detected");
        assert_eq!(ctx.provider, Provider::GitlabCi);
        assert_eq!(ctx.source_commit, s("c0ffee"));
        assert_eq!(ctx.source_ref, s("main"));
        assert_eq!(ctx.change_request, None);
        assert_eq!(
            ctx.run_number,
            Some(1_200_346),
            "falls back to CI_PIPELINE_ID"
        );
        assert_eq!(
            ctx.run_url,
            s("https://gitlab.com/acme/shop/-/jobs/100"),
            "falls back to CI_JOB_URL"
        );
        assert_eq!(ctx.workflow, None);
    }

    #[test]
    fn gitlab_tag_pipeline_uses_tag_name() {
        let env = env_of(&[("GITLAB_CI", "true"), ("CI_COMMIT_TAG", "v2.0.0")]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.source_ref, s("v2.0.0"));
    }

    #[test]
    fn not_in_ci() {
        assert_eq!(Context::detect(&env_of(&[])), None);
        assert_eq!(
            Context::detect(&env_of(&[("CI", "true"), ("GITHUB_ACTIONS", "false")])),
            None
        );
        assert_eq!(Context::detect(&env_of(&[("GITLAB_CI", "")])), None);
    }

    #[test]
    fn github_wins_when_both_claim() {
        let env = env_of(&[("GITHUB_ACTIONS", "true"), ("GITLAB_CI", "true")]);
        assert_eq!(
            Context::detect(&env).map(|c| c.provider),
            Some(Provider::GithubActions)
        );
    }

    #[test]
    fn empty_values_and_bad_numbers_are_none() {
        let env = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", ""),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_SHA", "   "),
            ("GITHUB_HEAD_REF", ""),
            ("GITHUB_REF_NAME", ""),
            ("GITHUB_REF", ""),
            ("GITHUB_RUN_ID", "12"),
            ("GITHUB_RUN_NUMBER", "twelve"),
            ("GITHUB_RUN_ATTEMPT", "-1"),
            ("GITHUB_WORKFLOW_REF", ""),
            ("GITHUB_WORKFLOW", ""),
            ("GITHUB_EVENT_PATH", ""),
            ("GITHUB_API_URL", ""),
            ("GITHUB_ACTOR", ""),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            ctx,
            Context {
                provider: Provider::GithubActions,
                source_repo: None,
                source_commit: None,
                source_ref: None,
                run_url: None,
                run_number: None,
                run_attempt: None,
                workflow: None,
                change_request: None,
                server_url: None,
                api_url: None,
                actor: None,
            }
        );

        let env = env_of(&[
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_IID", "x"),
            ("CI_PIPELINE_ID", "77"),
            ("CI_MERGE_REQUEST_IID", ""),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", ""),
            ("CI_COMMIT_REF_NAME", "dev"),
            ("CI_PIPELINE_URL", ""),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(ctx.run_number, Some(77));
        assert_eq!(ctx.change_request, None);
        assert_eq!(ctx.source_ref, s("dev"));
        assert_eq!(ctx.run_url, None);
    }

    #[test]
    fn hostile_server_or_repository_cannot_inject_path_segments() {
        let detect = |server: &str, repository: &str| {
            let env = env_of(&[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_SERVER_URL", server),
                ("GITHUB_REPOSITORY", repository),
                ("GITHUB_RUN_ID", "5"),
                ("GITHUB_RUN_ATTEMPT", "2"),
            ]);
            Context::detect(&env).expect("detected")
        };
        // Climbing out of the repository, or naming more than owner/name: no URL at all.
        for repository in [
            "acme/../../evil",
            "acme/shop/../../evil",
            "../shop",
            "acme",
            "acme/",
        ] {
            let ctx = detect("https://github.com", repository);
            assert_eq!(ctx.source_repo, None, "{repository}");
            assert_eq!(ctx.run_url, None, "{repository}");
        }
        // A query or fragment in a name is a character of the name, encoded.
        let ctx = detect("https://github.com", "acme/shop?x=1#top");
        assert_eq!(
            ctx.run_url,
            s("https://github.com/acme/shop%3Fx=1%23top/actions/runs/5/attempts/2")
        );
        // The server's query, fragment and credentials are dropped; its path prefix is kept.
        let ctx = detect(
            "https://user:pw@ghe.example.com/prefix?evil=1#x",
            "team/app",
        );
        assert_eq!(
            ctx.source_repo,
            s("https://ghe.example.com/prefix/team/app")
        );
        assert_eq!(
            ctx.run_url,
            s("https://ghe.example.com/prefix/team/app/actions/runs/5/attempts/2")
        );
        // Not an http(s) server: nothing to link to.
        assert_eq!(detect("javascript:alert(1)", "acme/shop").run_url, None);
    }

    #[test]
    fn provider_serialises_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Provider::GithubActions).expect("json"),
            r#""github-actions""#
        );
        assert_eq!(
            serde_json::to_string(&Provider::GitlabCi).expect("json"),
            r#""gitlab-ci""#
        );
        assert_eq!(Provider::GitlabCi.as_str(), "gitlab-ci");
    }
}
