//! What a merge request's merge status and approvals mean for ferry: ready, pending, or
//! blocked and why (GitLab's `detailed_merge_status` is authoritative; the approvals only say
//! how many).

use super::super::{Approvals, Check, CheckState, CrState, Readiness};
use super::wire::{ApprovalsJson, MrJson, cr_state};

/// A pipeline status as a check state.
pub(super) fn pipeline_state(status: &str) -> CheckState {
    match status {
        "success" => CheckState::Success,
        "failed" | "canceled" | "canceling" => CheckState::Failure,
        "skipped" | "manual" => CheckState::Neutral,
        _ => CheckState::Pending,
    }
}

/// The detailed merge status, or (GitLab before 15.6) one derived from `merge_status`.
fn detailed_status(mr: &MrJson) -> &str {
    if let Some(status) = mr
        .detailed_merge_status
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        return status;
    }
    match mr.merge_status.as_deref() {
        Some("cannot_be_merged") => "conflict",
        Some("unchecked" | "checking" | "cannot_be_merged_recheck") => "checking",
        _ => "mergeable",
    }
}

/// What a `detailed_merge_status` value means for ferry. The values are those of
/// <https://docs.gitlab.com/api/merge_requests/#merge-status> (and the older names
/// `blocked_status` and `external_status_checks`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum StatusMeaning {
    /// Nothing blocks the merge.
    Mergeable,
    /// GitLab is still working it out: ask again shortly.
    Computing,
    Conflict,
    Draft,
    NotApproved,
    ChangesRequested,
    /// The project merges by fast-forward (or semi-linear history) and the source branch is
    /// behind the target.
    NeedRebase,
    /// A pipeline must succeed (`ci_must_pass`) or is still running (`ci_still_running`).
    Pipeline,
    NotOpen,
    /// Anything else that blocks, said in words.
    Blocked(String),
}

/// Why the source branch must be rebased, and what to do about it.
const NEED_REBASE: &str = "the source branch is behind the target branch and the project merges only branches rebased onto it (fast-forward or semi-linear merges): `ferry merge` recomputes a ferry merge request on the target's tip; rebase any other (GitLab's Rebase button)";

fn status_meaning(status: &str, mr: &MrJson) -> StatusMeaning {
    let blocked = |text: &str| StatusMeaning::Blocked(text.to_owned());
    match status {
        "mergeable" => StatusMeaning::Mergeable,
        "checking" | "unchecked" | "preparing" | "approvals_syncing" => StatusMeaning::Computing,
        "conflict" => StatusMeaning::Conflict,
        "draft_status" => StatusMeaning::Draft,
        "not_approved" => StatusMeaning::NotApproved,
        "requested_changes" => StatusMeaning::ChangesRequested,
        "need_rebase" => StatusMeaning::NeedRebase,
        "ci_must_pass" | "ci_still_running" => StatusMeaning::Pipeline,
        "not_open" => StatusMeaning::NotOpen,
        "discussions_not_resolved" => {
            blocked("unresolved discussions: the project requires every thread to be resolved")
        }
        "commits_status" => blocked(
            "the source branch is gone or has no commits on top of the target branch (GitLab's `commits_status`)",
        ),
        "merge_request_blocked" | "blocked_status" => {
            blocked("blocked by another merge request, which must merge first")
        }
        "merge_time" => StatusMeaning::Blocked(match mr.merge_after.as_deref() {
            Some(after) if !after.is_empty() => {
                format!("scheduled: the merge request may not merge before {after}")
            }
            _ => "scheduled: the merge request may not merge before the time set on it".to_owned(),
        }),
        "jira_association_missing" => {
            blocked("the title or description must name a Jira issue (a project setting)")
        }
        "status_checks_must_pass" | "external_status_checks" => {
            blocked("external status checks must pass")
        }
        "security_policy_violations" => blocked(
            "the project's security policies are not satisfied (merge request approval policies)",
        ),
        "locked_paths" => blocked(
            "paths this merge request changes are locked by another user: they must be unlocked",
        ),
        "locked_lfs_files" => blocked(
            "LFS files this merge request changes are locked by another user: they must be unlocked",
        ),
        "title_regex" => blocked("the title does not match the pattern the project requires"),
        other => StatusMeaning::Blocked(format!(
            "GitLab reports `{other}`: open the merge request to see which merge check fails"
        )),
    }
}

/// Readiness from the merge request and its approvals (`Err` when they could not be read:
/// why). GitLab's `detailed_merge_status` is authoritative; the approvals only say how many.
///
/// Both answers of `GET .../approvals` fit: GitLab Free without approval rules (the FOSS
/// entity: `approved` is whether anyone approved, no `approvals_required`/`approvals_left`) and
/// Premium/Ultimate (or GitLab.com, whose Free projects run the same code): `approvals_left` 0
/// when nothing is required.
pub(super) fn readiness_of(mr: &MrJson, approvals: Result<&ApprovalsJson, &str>) -> Readiness {
    let status = detailed_status(mr);
    let state = cr_state(&mr.state);
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let approvals_state = match approvals {
        Ok(approvals) => {
            let left = approvals.approvals_left.map(count);
            Approvals {
                given: u32::try_from(approvals.approved_by.len()).unwrap_or(u32::MAX),
                required: approvals.approvals_required.map(count),
                // Without approval rules (GitLab Free) there is no `approvals_left`: nothing
                // is required, and `approved` only says whether someone approved.
                // `not_approved` below overrides either way.
                satisfied: left.unwrap_or(0) == 0 || approvals.approved.unwrap_or(false),
                changes_requested: false,
            }
        }
        // Unknown: GitLab's status alone says whether approvals are missing (below).
        Err(_) => Approvals {
            given: 0,
            required: None,
            satisfied: true,
            changes_requested: false,
        },
    };
    let mut readiness = Readiness {
        number: mr.iid,
        url: mr.web_url.clone(),
        state,
        head_branch: mr.source_branch.clone(),
        head_sha: mr.sha.clone(),
        approvals: approvals_state,
        checks: Vec::new(),
        conflicts: mr.has_conflicts,
        behind: false,
        computing: false,
        draft: mr.draft || mr.work_in_progress,
        other_blockers: Vec::new(),
        unchecked: Vec::new(),
    };
    let pipeline_required = matches!(status, "ci_must_pass" | "ci_still_running");
    if let Some(pipeline) = &mr.head_pipeline {
        readiness.checks.push(Check {
            name: "pipeline".to_owned(),
            state: pipeline_state(&pipeline.status),
            required: pipeline_required,
            url: pipeline.web_url.clone(),
        });
    }
    match status_meaning(status, mr) {
        StatusMeaning::Mergeable => {}
        StatusMeaning::Computing => readiness.computing = true,
        StatusMeaning::Conflict => readiness.conflicts = true,
        StatusMeaning::Draft => readiness.draft = true,
        StatusMeaning::NotApproved => match approvals {
            Ok(_) => readiness.approvals.satisfied = false,
            Err(why) => readiness.other_blockers.push(format!(
                "approvals: GitLab requires more (`not_approved`), and who approved could not be read ({why})"
            )),
        },
        StatusMeaning::ChangesRequested => {
            // GitLab blocks until that reviewer approves.
            readiness.approvals.changes_requested = true;
        }
        StatusMeaning::NeedRebase => {
            readiness.behind = true;
            readiness.other_blockers.push(NEED_REBASE.to_owned());
        }
        StatusMeaning::Pipeline => {
            let blocked = readiness.checks.iter().any(|c| {
                c.required && matches!(c.state, CheckState::Pending | CheckState::Failure)
            });
            if !blocked {
                if mr.head_pipeline.is_none() && status == "ci_still_running" {
                    readiness.checks.push(Check {
                        name: "pipeline".to_owned(),
                        state: CheckState::Pending,
                        required: true,
                        url: None,
                    });
                } else if mr.head_pipeline.is_none() {
                    readiness
                        .other_blockers
                        .push("a pipeline must succeed, and the head commit has none".to_owned());
                } else {
                    // The head pipeline passed or was skipped, yet GitLab still wants one to
                    // succeed (skipped pipelines may not count): GitLab decides.
                    readiness.other_blockers.push(format!(
                        "GitLab requires a successful pipeline (`{status}`)"
                    ));
                }
            }
        }
        StatusMeaning::NotOpen => {
            if state == CrState::Open {
                readiness
                    .other_blockers
                    .push("GitLab reports `not_open`".to_owned());
            }
        }
        StatusMeaning::Blocked(why) => readiness.other_blockers.push(why),
    }
    readiness
}
#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::KIND;
    use super::super::fixture::{all_approved, approvals, mr, open_mr};
    use super::*;

    #[test]
    fn a_mergeable_merge_request_is_ready() {
        let mut json = open_mr("mergeable");
        json["head_pipeline"] = json!({
            "id": 5, "sha": "a".repeat(40), "status": "success",
            "web_url": "https://gitlab.example.com/g/env/-/pipelines/5",
        });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(readiness.approvals.given, 1);
        assert_eq!(readiness.approvals.required, Some(1));
        assert_eq!(
            readiness.checks,
            [Check {
                name: "pipeline".to_owned(),
                state: CheckState::Success,
                required: false,
                url: Some("https://gitlab.example.com/g/env/-/pipelines/5".to_owned()),
            }]
        );

        // GitLab Free: no approval rules, no `approvals_left`, nobody approved.
        let free = approvals(json!({ "approved": false, "approved_by": [] }));
        assert!(readiness_of(&mr(open_mr("mergeable")), Ok(&free)).is_ready());
    }

    #[test]
    fn missing_approvals_are_reported() {
        let waiting = approvals(json!({
            "approved": false, "approvals_required": 2, "approvals_left": 1,
            "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
        }));
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&waiting));
        assert!(!readiness.is_ready());
        assert_eq!(readiness.missing(KIND.words()), ["approvals 1 of 2"]);

        // GitLab's status wins over counts that look satisfied.
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&all_approved()));
        assert!(!readiness.approvals.satisfied);

        let readiness = readiness_of(&mr(open_mr("requested_changes")), Ok(&all_approved()));
        assert!(readiness.approvals.changes_requested && !readiness.is_ready());
    }

    #[test]
    fn a_running_pipeline_is_a_pending_required_check() {
        let mut json = open_mr("ci_still_running");
        json["head_pipeline"] = json!({ "id": 5, "status": "running", "web_url": null });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.missing(KIND.words()),
            ["required check `pipeline` is pending"]
        );

        // A failed pipeline the project requires.
        let mut json = open_mr("ci_must_pass");
        json["head_pipeline"] = json!({ "id": 5, "status": "failed" });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert_eq!(readiness.checks[0].state, CheckState::Failure);
        assert!(readiness.checks[0].required && !readiness.is_ready());

        // Required, but there is no pipeline at all.
        let readiness = readiness_of(&mr(open_mr("ci_must_pass")), Ok(&all_approved()));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.other_blockers,
            ["a pipeline must succeed, and the head commit has none"]
        );

        // Skipped, and GitLab does not count skipped pipelines as successful.
        let mut json = open_mr("ci_must_pass");
        json["head_pipeline"] = json!({ "id": 5, "status": "skipped" });
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert_eq!(readiness.checks[0].state, CheckState::Neutral);
        assert!(!readiness.is_ready());

        for (status, state) in [
            ("success", CheckState::Success),
            ("failed", CheckState::Failure),
            ("canceled", CheckState::Failure),
            ("skipped", CheckState::Neutral),
            ("manual", CheckState::Neutral),
            ("created", CheckState::Pending),
            ("waiting_for_resource", CheckState::Pending),
            ("pending", CheckState::Pending),
        ] {
            assert_eq!(pipeline_state(status), state, "{status}");
        }
    }

    #[test]
    fn conflicts_computing_and_drafts_block_the_merge() {
        let readiness = readiness_of(&mr(open_mr("conflict")), Ok(&all_approved()));
        assert!(readiness.conflicts && !readiness.is_ready());

        let mut json = open_mr("mergeable");
        json["has_conflicts"] = json!(true);
        assert!(readiness_of(&mr(json), Ok(&all_approved())).conflicts);

        for status in ["checking", "unchecked", "preparing", "approvals_syncing"] {
            let readiness = readiness_of(&mr(open_mr(status)), Ok(&all_approved()));
            assert!(readiness.computing && !readiness.is_ready(), "{status}");
        }

        let readiness = readiness_of(&mr(open_mr("draft_status")), Ok(&all_approved()));
        assert!(readiness.draft && !readiness.is_ready());
        let mut json = open_mr("mergeable");
        json["draft"] = json!(true);
        assert!(readiness_of(&mr(json), Ok(&all_approved())).draft);

        // Before GitLab 15.6 there is only `merge_status`.
        let mut json = open_mr("mergeable");
        json["detailed_merge_status"] = Value::Null;
        json["merge_status"] = json!("cannot_be_merged");
        assert!(readiness_of(&mr(json), Ok(&all_approved())).conflicts);
    }

    #[test]
    fn other_statuses_are_named_as_blockers() {
        // A merged merge request is not open; that is enough said.
        let mut json = open_mr("not_open");
        json["state"] = json!("merged");
        let readiness = readiness_of(&mr(json), Ok(&all_approved()));
        assert!(readiness.other_blockers.is_empty() && readiness.state == CrState::Merged);
        // A value GitLab adds later still blocks, and says where to look.
        let readiness = readiness_of(&mr(open_mr("some_new_check")), Ok(&all_approved()));
        assert_eq!(
            readiness.missing(KIND.words()),
            [
                "GitLab reports `some_new_check`: open the merge request to see which merge check fails"
            ]
        );
        assert!(!readiness.is_ready());
    }

    /// Every `detailed_merge_status` of <https://docs.gitlab.com/api/merge_requests/#merge-status>
    /// (and the older names `blocked_status`, `external_status_checks`): what ferry says is
    /// missing, in words, or that GitLab is still computing (ask again).
    #[test]
    fn every_documented_merge_status_says_what_is_missing() {
        const COMPUTING: &str = "GitLab is still computing mergeability";
        let table: &[(&str, &[&str])] = &[
            ("mergeable", &[]),
            ("checking", &[COMPUTING]),
            ("unchecked", &[COMPUTING]),
            ("preparing", &[COMPUTING]),
            ("approvals_syncing", &[COMPUTING]),
            ("conflict", &["conflicts with the target branch"]),
            ("draft_status", &["the merge request is a draft"]),
            ("not_approved", &["approvals 0 of 1"]),
            ("requested_changes", &["a reviewer requested changes"]),
            ("need_rebase", &[NEED_REBASE]),
            (
                "ci_must_pass",
                &["a pipeline must succeed, and the head commit has none"],
            ),
            (
                "ci_still_running",
                &["required check `pipeline` is pending"],
            ),
            ("not_open", &["GitLab reports `not_open`"]),
            (
                "discussions_not_resolved",
                &["unresolved discussions: the project requires every thread to be resolved"],
            ),
            (
                "commits_status",
                &[
                    "the source branch is gone or has no commits on top of the target branch (GitLab's `commits_status`)",
                ],
            ),
            (
                "merge_request_blocked",
                &["blocked by another merge request, which must merge first"],
            ),
            (
                "blocked_status",
                &["blocked by another merge request, which must merge first"],
            ),
            (
                "merge_time",
                &["scheduled: the merge request may not merge before the time set on it"],
            ),
            (
                "jira_association_missing",
                &["the title or description must name a Jira issue (a project setting)"],
            ),
            (
                "status_checks_must_pass",
                &["external status checks must pass"],
            ),
            (
                "external_status_checks",
                &["external status checks must pass"],
            ),
            (
                "security_policy_violations",
                &[
                    "the project's security policies are not satisfied (merge request approval policies)",
                ],
            ),
            (
                "locked_paths",
                &[
                    "paths this merge request changes are locked by another user: they must be unlocked",
                ],
            ),
            (
                "locked_lfs_files",
                &[
                    "LFS files this merge request changes are locked by another user: they must be unlocked",
                ],
            ),
            (
                "title_regex",
                &["the title does not match the pattern the project requires"],
            ),
        ];
        let waiting = approvals(json!({
            "approved": false, "approvals_required": 1, "approvals_left": 1, "approved_by": [],
        }));
        for (status, missing) in table {
            // `not_approved` comes with counts that say so; every other status with none left.
            let counts = if *status == "not_approved" {
                &waiting
            } else {
                &all_approved()
            };
            let readiness = readiness_of(&mr(open_mr(status)), Ok(counts));
            assert_eq!(readiness.missing(KIND.words()), *missing, "{status}");
            assert_eq!(readiness.is_ready(), missing.is_empty(), "{status}");
            let computing = missing.first() == Some(&COMPUTING);
            assert_eq!(readiness.computing, computing, "{status}");
        }
        // `need_rebase` is the branch being behind: `ferry merge` recomputes ferry's own.
        let readiness = readiness_of(&mr(open_mr("need_rebase")), Ok(&all_approved()));
        assert!(readiness.behind);
        assert!(
            NEED_REBASE.contains("`ferry merge` recomputes"),
            "{NEED_REBASE}"
        );
        assert!(NEED_REBASE.contains("Rebase"), "{NEED_REBASE}");
        // `merge_time` names the time when GitLab gives it.
        let mut json = open_mr("merge_time");
        json["merge_after"] = json!("2026-12-01T08:00:00.000Z");
        assert_eq!(
            readiness_of(&mr(json), Ok(&all_approved())).other_blockers,
            ["scheduled: the merge request may not merge before 2026-12-01T08:00:00.000Z"]
        );
    }

    #[test]
    fn approvals_read_on_every_tier() {
        // GitLab Free (the FOSS entity): no rules, so no counts; `approved` is whether anyone
        // approved. Nobody did, and nothing is required.
        let free_none = approvals(json!({
            "user_has_approved": false, "user_can_approve": true,
            "approved": false, "approved_by": [],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&free_none));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(
            readiness.approvals,
            Approvals {
                given: 0,
                required: None,
                satisfied: true,
                changes_requested: false
            }
        );
        // Free, someone approved.
        let free_one = approvals(json!({
            "user_has_approved": false, "user_can_approve": true, "approved": true,
            "approved_by": [{ "user": { "id": 9, "username": "alice" }, "approved_at": "2026-01-01T00:00:00Z" }],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&free_one));
        assert_eq!((readiness.approvals.given, readiness.is_ready()), (1, true));

        // GitLab.com Free or Premium without rules (the EE entity): zero required, zero left.
        let ee_none = approvals(json!({
            "id": 1, "iid": 7, "project_id": 3, "title": "t", "state": "opened",
            "merge_status": "can_be_merged", "approved": true, "approvals_required": 0,
            "approvals_left": 0, "require_password_to_approve": false, "approved_by": [],
            "suggested_approvers": [], "approvers": [], "approver_groups": [],
            "user_has_approved": false, "user_can_approve": true, "approval_rules_left": [],
            "has_approval_rules": false, "merge_request_approvers_available": false,
            "multiple_approval_rules_available": false, "invalid_approvers_rules": [],
        }));
        let readiness = readiness_of(&mr(open_mr("mergeable")), Ok(&ee_none));
        assert!(readiness.is_ready());
        assert_eq!(readiness.approvals.required, Some(0));

        // Premium with a rule of two, one given: GitLab says `not_approved`.
        let premium = approvals(json!({
            "approved": false, "approvals_required": 2, "approvals_left": 1,
            "approved_by": [{ "user": { "id": 9, "username": "alice" } }],
            "approval_rules_left": [{ "id": 1, "name": "Maintainers", "rule_type": "regular" }],
        }));
        let readiness = readiness_of(&mr(open_mr("not_approved")), Ok(&premium));
        assert_eq!(readiness.missing(KIND.words()), ["approvals 1 of 2"]);

        // Null where a list or count is expected.
        let nulls =
            approvals(json!({ "approved": null, "approvals_left": null, "approved_by": null }));
        assert!(readiness_of(&mr(open_mr("mergeable")), Ok(&nulls)).is_ready());
    }

    #[test]
    fn unreadable_approvals_leave_the_merge_status_in_charge() {
        let why = "`GET /projects/g%2Fenv/merge_requests/7/approvals` answered 403: 403 Forbidden";
        // Mergeable: nothing is missing, the approvals simply are not counted.
        let readiness = readiness_of(&mr(open_mr("mergeable")), Err(why));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(readiness.approvals.required, None);
        // Not approved: said so, with why the counts are unknown, and not ready.
        let readiness = readiness_of(&mr(open_mr("not_approved")), Err(why));
        assert!(!readiness.is_ready());
        assert_eq!(
            readiness.missing(KIND.words()),
            [format!(
                "approvals: GitLab requires more (`not_approved`), and who approved could not be read ({why})"
            )]
        );
        // Everything else still reads from the status.
        let readiness = readiness_of(&mr(open_mr("ci_still_running")), Err(why));
        assert_eq!(
            readiness.missing(KIND.words()),
            ["required check `pipeline` is pending"]
        );
    }
}
