//! The CI that runs ferry: who invoked it, and where its results go.
//!
//! ferry runs as a step of an application's pipeline. This module answers two questions:
//!
//! - **Detection** ([`Context::detect`]): which CI is this (GitHub Actions or GitLab CI), and what
//!   does it say about the run — source repository, commit, branch, run URL, pull/merge request.
//!   Every variable is read through a lookup function, so callers (and tests) decide where the
//!   environment comes from; [`Context::from_env`] is the process-environment shorthand.
//! - **Publishing** ([`publish`]): hand ferry's results ([`Outputs`]) to the CI's own output
//!   mechanism — `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` on GitHub, a dotenv report file on
//!   GitLab.
//!
//! [`trailers()`] turns a [`Context`] into single-line audit trailers for commit messages.
//!
//! # Variables read
//!
//! | field | GitHub Actions | GitLab CI |
//! | --- | --- | --- |
//! | detection | `GITHUB_ACTIONS=true` | `GITLAB_CI=true` |
//! | `source_repo` | `GITHUB_SERVER_URL` with the segments of `GITHUB_REPOSITORY` (`owner/name`) appended | `CI_PROJECT_URL` |
//! | `source_commit` | event `pull_request.head.sha`, else `GITHUB_SHA` | `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`, else `CI_COMMIT_SHA` |
//! | `source_ref` | `GITHUB_HEAD_REF`, else event `pull_request.head.ref`, else `GITHUB_REF_NAME`, else `GITHUB_REF` minus `refs/heads/` / `refs/tags/` | `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`, else `CI_COMMIT_REF_NAME`, else `CI_COMMIT_BRANCH`, else `CI_COMMIT_TAG` |
//! | `run_url` | `…/actions/runs/GITHUB_RUN_ID` (+ `/attempts/GITHUB_RUN_ATTEMPT` when above 1) | `CI_PIPELINE_URL`, else `CI_JOB_URL` |
//! | `run_number` | `GITHUB_RUN_NUMBER` | `CI_PIPELINE_IID`, else `CI_PIPELINE_ID` |
//! | `run_attempt` | `GITHUB_RUN_ATTEMPT` | — |
//! | `workflow` | `GITHUB_WORKFLOW_REF`, else `GITHUB_WORKFLOW` | — |
//! | `change_request` | event `pull_request.number`, else `GITHUB_REF` = `refs/pull/<n>/merge` (or `/head`) | `CI_MERGE_REQUEST_IID` |
//! | `server_url` | `GITHUB_SERVER_URL` | `CI_SERVER_URL` |
//! | `api_url` | `GITHUB_API_URL` | `CI_API_V4_URL` |
//! | `actor` | `GITHUB_ACTOR` | `GITLAB_USER_LOGIN` |
//!
//! Rules that hold for every field:
//!
//! - A variable that is unset, empty or only whitespace counts as unset; values are trimmed.
//! - A number that does not parse as a `u64` counts as unset (and the next fallback is tried).
//! - The GitHub event payload (`GITHUB_EVENT_PATH`) is read only for the top-level
//!   `pull_request` object (present on `pull_request`, `pull_request_target`,
//!   `pull_request_review` and `pull_request_review_comment` events). A missing, unreadable,
//!   oversized (> 32 MiB) or malformed file is ignored silently and the plain variables are used.
//! - When both `GITHUB_ACTIONS` and `GITLAB_CI` say `true`, GitHub Actions wins.
//! - On a pull/merge request the *head* commit of the source branch is preferred over the
//!   ephemeral merge commit the CI checked out (`GITHUB_SHA` on `pull_request`, `CI_COMMIT_SHA`
//!   in GitLab merged-results pipelines): that commit is the one a person can find again.
//! - On GitLab `workflow` is always `None`: `CI_PIPELINE_SOURCE` names what *triggered* the
//!   pipeline (`push`, `merge_request_event`, …), not which pipeline definition ran, so it does
//!   not fit the field's meaning.
//! - In tag pipelines `source_ref` holds the tag name.
//!
//! Values in a [`Context`] are kept as the CI gave them (after trimming): branch names come
//! from whoever opened the pull request and are data, never markup. Every sink that needs a
//! single line ([`trailers()`], the GitLab dotenv file) sanitises them itself.
//!
//! # Output formats
//!
//! - **GitHub Actions**: each output is appended to `$GITHUB_OUTPUT` as `key=value`, or, when
//!   the value contains a CR or LF, in the documented multi-line form
//!   `key<<DELIMITER\nvalue\nDELIMITER\n` with a `ghadelimiter_<hex>` delimiter checked not to
//!   occur in the value. The summary is appended to `$GITHUB_STEP_SUMMARY` (a final newline is
//!   added when missing). An unset variable means that part is skipped. GitHub caps a step
//!   summary at 1 MiB; this module does not truncate.
//! - **GitLab CI**: a dotenv file (for `artifacts:reports:dotenv`) at `$FERRY_DOTENV`, or
//!   `ferry.env` in the working directory, is *rewritten* on every publish (even with no values)
//!   so a rerun in the same workspace never leaks stale values. Each output becomes
//!   `FERRY_<KEY>=value` with the key upper-cased and `-` turned into `_`. GitLab's dotenv format
//!   has no multi-line values, no quoting and trims values, so control characters (CR, LF, tab,
//!   …) are replaced by single spaces and the value is trimmed; a key given twice is written
//!   once, with its last value. GitLab expands `$VARIABLE` references in dotenv values when
//!   they are used; values are written verbatim. GitLab also limits the file's size and the
//!   number of variables (5 KiB and 20 by default, instance-configurable); that is not
//!   enforced here.
//!
//! Output keys must be non-empty and made of ASCII letters, digits, `-` and `_` (so they are
//! valid in both formats); [`publish`] refuses anything else before writing a byte.
//!
//! # Modules
//!
//! - `context`: [`Provider`] and [`Context`], read from GitHub's or GitLab's variables;
//! - `outputs`: [`Outputs`] and [`publish`] to `$GITHUB_OUTPUT`, the step summary or a dotenv;
//! - `annotate`: GitHub Actions workflow commands (annotations, masks);
//! - `audit`: [`trailers()`], the audit trailers of a commit message;
//! - `text`: [`one_line`] and [`is_format`], untrusted text made safe to show on one line.

mod annotate;
mod audit;
mod context;
mod outputs;
mod text;

#[cfg(test)]
mod test_env;

pub use annotate::{Annotation, Level, annotation_command, in_github_actions, mask_commands};
pub use audit::trailers;
pub use context::{Context, Provider, process_env};
pub use outputs::{DEFAULT_DOTENV, DOTENV_PREFIX, Outputs, publish, publish_or_warn};
pub use text::{is_format, one_line};
