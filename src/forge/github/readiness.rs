//! What stands between a pull request and its merge, beyond GitHub's own verdict: the base
//! branch's rules (rulesets and classic protection: required checks and approvals), and the
//! commit statuses and check runs of the head commit, each read only as far as the token may.

use http::Method;
use serde::Deserialize;

use super::super::{Check, CheckState, ForgeError};
use super::wire::{RequiredCheck, Rule};
use super::{GitHub, KIND, encode};

impl GitHub {
    pub(super) fn rules(&self, branch: &str) -> Result<Vec<Rule>, ForgeError> {
        match self.pages(&self.repo_path(&format!("/rules/branches/{}", encode(branch)))) {
            Ok(rules) => Ok(rules),
            // Rules unreadable or absent: the counts are then unknown, not an error.
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => {
                Ok(Vec::new())
            }
            Err(err) => Err(err),
        }
    }

    /// The statuses and check runs of `sha`, `required` marked (and pending when they never
    /// reported). What the token may not read (a fine-grained token without "Commit statuses"
    /// or "Checks" read, which a fine-grained personal access token cannot be given) is skipped
    /// and named in `unchecked`.
    pub(super) fn checks(
        &self,
        sha: &str,
        required: &[String],
        unchecked: &mut Vec<String>,
    ) -> Result<Vec<Check>, ForgeError> {
        let mut checks = readable(
            self.statuses_of(sha),
            "commit statuses (the token may not read them: give it \"Commit statuses: read\")",
            unchecked,
        )?;
        checks.extend(readable(
            self.check_runs_of(sha, None),
            "check runs (the token may not read them: a GitHub App or GITHUB_TOKEN with \"Checks: read\" can; a fine-grained personal access token cannot)",
            unchecked,
        )?);
        for check in &mut checks {
            check.required = required.contains(&check.name);
        }
        // A required check that never reported is expected, so pending.
        for name in required {
            if !checks.iter().any(|c| c.name == *name) {
                checks.push(Check {
                    name: name.clone(),
                    state: CheckState::Pending,
                    required: true,
                    url: None,
                });
            }
        }
        Ok(checks)
    }

    /// Classic branch protection of `branch`: the required contexts from `GET .../branches/
    /// {branch}` (1 call, read access), and, when the branch is protected, the required approval
    /// count from `GET .../protection/required_pull_request_reviews` (1 more call; admins only:
    /// unknown otherwise). `None` when the branch is not protected that way.
    pub(super) fn classic_protection(&self, branch: &str) -> Result<Option<Classic>, ForgeError> {
        #[derive(Deserialize)]
        struct Branch {
            #[serde(default)]
            protected: bool,
            protection: Option<Protection>,
        }
        #[derive(Deserialize)]
        struct Protection {
            #[serde(default)]
            enabled: bool,
            required_status_checks: Option<StatusChecks>,
        }
        #[derive(Deserialize)]
        struct StatusChecks {
            #[serde(default)]
            contexts: Vec<String>,
            #[serde(default)]
            checks: Vec<RequiredCheck>,
        }
        #[derive(Deserialize)]
        struct Reviews {
            required_approving_review_count: Option<u32>,
        }
        let path = self.repo_path(&format!("/branches/{}", encode(branch)));
        let request = self.request(Method::GET, &path);
        let answer: Branch = match self.api.call(&request) {
            Ok(response) => response.json(KIND, &request.call)?,
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let Some(protection) = answer.protection.filter(|p| p.enabled && answer.protected) else {
            return Ok(None);
        };
        let mut contexts = Vec::new();
        if let Some(checks) = protection.required_status_checks {
            for context in checks
                .contexts
                .into_iter()
                .chain(checks.checks.into_iter().map(|c| c.context))
            {
                if !contexts.contains(&context) {
                    contexts.push(context);
                }
            }
        }
        let request = self.request(
            Method::GET,
            &format!("{path}/protection/required_pull_request_reviews"),
        );
        let approvals = match self.api.call(&request) {
            Ok(response) => {
                response
                    .json::<Reviews>(KIND, &request.call)?
                    .required_approving_review_count
            }
            // Not an admin, or no review requirement: unknown, told from GitHub's own verdict.
            Err(ForgeError::NotFound { .. } | ForgeError::Auth { status: 403, .. }) => None,
            Err(err) => return Err(err),
        };
        Ok(Some(Classic {
            contexts,
            approvals,
        }))
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/status`: the latest status of each context.
    pub(super) fn statuses_of(&self, sha: &str) -> Result<Vec<Check>, ForgeError> {
        #[derive(Deserialize)]
        struct Combined {
            statuses: Vec<Status>,
        }
        #[derive(Deserialize)]
        struct Status {
            context: String,
            state: String,
            target_url: Option<String>,
        }
        let statuses = self.pages_of(
            &self.repo_path(&format!("/commits/{sha}/status")),
            |page: Combined| page.statuses,
        )?;
        Ok(statuses
            .into_iter()
            .map(|status| Check {
                state: match status.state.as_str() {
                    "success" => CheckState::Success,
                    "failure" | "error" => CheckState::Failure,
                    _ => CheckState::Pending,
                },
                name: status.context,
                required: false,
                url: status.target_url.filter(|u| !u.is_empty()),
            })
            .collect())
    }

    /// `GET /repos/{o}/{r}/commits/{sha}/check-runs`, only those named `name` when given.
    pub(super) fn check_runs_of(
        &self,
        sha: &str,
        name: Option<&str>,
    ) -> Result<Vec<Check>, ForgeError> {
        #[derive(Deserialize)]
        struct Runs {
            check_runs: Vec<Run>,
        }
        #[derive(Deserialize)]
        struct Run {
            name: String,
            status: String,
            conclusion: Option<String>,
            html_url: Option<String>,
        }
        let filter = name.map_or_else(String::new, |n| format!("?check_name={}", encode(n)));
        let runs = self.pages_of(
            &self.repo_path(&format!("/commits/{sha}/check-runs{filter}")),
            |page: Runs| page.check_runs,
        )?;
        Ok(runs
            .into_iter()
            .map(|run| Check {
                state: if run.status == "completed" {
                    match run.conclusion.as_deref() {
                        Some("success") => CheckState::Success,
                        Some("neutral" | "skipped") => CheckState::Neutral,
                        _ => CheckState::Failure,
                    }
                } else {
                    CheckState::Pending
                },
                name: run.name,
                required: false,
                url: run.html_url,
            })
            .collect())
    }
}

/// Classic branch protection, as far as the token may read it.
pub(super) struct Classic {
    /// Required status contexts and check names.
    pub(super) contexts: Vec<String>,
    /// Required approvals, when readable (admins).
    pub(super) approvals: Option<u32>,
}

/// `result`, or, when GitHub answers 403 (the token may not read this), nothing, with `what`
/// noted in `unchecked`.
fn readable<T>(
    result: Result<Vec<T>, ForgeError>,
    what: &str,
    unchecked: &mut Vec<String>,
) -> Result<Vec<T>, ForgeError> {
    match result {
        Ok(items) => Ok(items),
        Err(ForgeError::Auth { status: 403, .. }) => {
            unchecked.push(what.to_owned());
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}
