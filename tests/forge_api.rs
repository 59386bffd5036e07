//! ferry's [`Forge`] trait, called through the library, against the fake GitHub + GitLab server
//! (`support::forge`) backed by the real bare repositories of the git server. Every test runs on
//! both forges and checks what the server saw, not only what ferry answered.

use std::path::PathBuf;
use std::time::Duration;

use ferry::forge::{
    AutoMerge, ChangeRequest, CheckState, CommentAction, CommitStatus, CrState, Forge, ForgeArgs,
    ForgeError, ForgeKind, ListFilter, MergeMethod, NewChangeRequest, StatusState, connect,
    resolve_settings,
};
use ferry::git::RepoUrl;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::forge::client::{self, HttpResponse};
use crate::support::forge::{self as fake, Access, Fault, FaultRule, ForgeServer, Protection};
use crate::support::git_http::GitServer;
use crate::support::remote;

const REPO: &str = "acme/env";
/// ferry's token: it opens, comments, sets statuses and merges.
const BOT_TOKEN: &str = "ferry-bot-token-5d1c9a";
const BOT: &str = "ferry-bot";
/// alice and bob: people with write access, who comment and approve.
const ALICE_TOKEN: &str = "alice-token-0c7e42";
const BOB_TOKEN: &str = "bob-token-9a31f8";

const KINDS: [ForgeKind; 2] = [ForgeKind::GitHub, ForgeKind::GitLab];

/// One environment repository (`acme/env`, branch `main`) served by a git server and a forge.
struct Lab {
    kind: ForgeKind,
    // Fields drop in order: the servers stop before their directory goes.
    forge: ForgeServer,
    git: GitServer,
    repo: PathBuf,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn new(kind: ForgeKind) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("srv");
        std::fs::create_dir_all(root.join("acme")).expect("mkdir");
        let repo = remote::bare_repo(
            &root,
            "acme/env.git",
            "main",
            &[
                ("envs/staging/app.yaml", b"image: web:v1\n"),
                ("envs/production/app.yaml", b"image: web:v1\n"),
            ],
        );
        let git = GitServer::start(&root);
        let forge = ForgeServer::start(&git);
        forge.add_token(BOT_TOKEN, BOT, Access::Write);
        forge.add_token(ALICE_TOKEN, "alice", Access::Write);
        forge.add_token(BOB_TOKEN, "bob", Access::Write);
        Lab {
            kind,
            forge,
            git,
            repo,
            _dir: dir,
        }
    }

    fn api_url(&self) -> String {
        match self.kind {
            ForgeKind::GitHub => self.forge.github_api_url(),
            ForgeKind::GitLab => self.forge.gitlab_api_url(),
        }
    }

    /// ferry's forge for `acme/env`, authenticated with `token` (a GitLab `CI_JOB_TOKEN` when
    /// `job`), resolved as the command line does it.
    fn connect_as(&self, token: &str, job: bool) -> Result<Box<dyn Forge>, ForgeError> {
        let args = ForgeArgs {
            forge: Some(self.kind),
            api_url: Some(self.api_url()),
            api_timeout: 10,
            ..ForgeArgs::default()
        };
        let (url, _) = RepoUrl::parse(&self.git.url("acme/env.git")).expect("repository URL");
        let mut settings = resolve_settings(
            &args,
            &url,
            Some((SecretString::from(token.to_owned()), job)),
            &|_| None,
        )?;
        assert_eq!(settings.kind, self.kind);
        assert_eq!(settings.project, REPO);
        // Retries after a 5xx wait milliseconds, not half a second: the tests stay fast.
        settings.options.backoff = Duration::from_millis(5);
        connect(settings)
    }

    /// ferry's forge with the bot's token.
    fn bot(&self) -> Box<dyn Forge> {
        self.connect_as(BOT_TOKEN, false)
            .unwrap_or_else(|err| panic!("{}: connect: {err}", self.kind))
    }

    /// A branch `name` off `main` with one commit writing `files`; returns its tip.
    fn branch(&self, name: &str, files: &[(&str, &str)]) -> String {
        remote::git(&self.repo, &["branch", name, "main"]);
        self.commit(name, files, &format!("change on {name}"))
    }

    /// One more commit on `branch`; returns it.
    fn commit(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let files: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(path, text)| (*path, Some(text.as_bytes())))
            .collect();
        remote::commit_files(&self.repo, branch, &files, message)
    }

    fn tip(&self, branch: &str) -> String {
        remote::branch_tip(&self.repo, branch).expect("branch exists")
    }

    /// Opens a change request from `head` into `base` through ferry.
    fn open(
        &self,
        forge: &dyn Forge,
        head: &str,
        base: &str,
        title: &str,
        labels: &[&str],
    ) -> ChangeRequest {
        let new = NewChangeRequest {
            head: head.to_owned(),
            base: base.to_owned(),
            title: title.to_owned(),
            body: format!("{title}, by ferry"),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            ..NewChangeRequest::default()
        };
        let cr = forge
            .open(&new)
            .unwrap_or_else(|err| panic!("{}: open {head}: {err}", self.kind));
        assert_eq!(
            (cr.state, cr.head_branch.as_str(), cr.base_branch.as_str()),
            (CrState::Open, head, base),
            "{}",
            self.kind
        );
        cr
    }

    /// ferry connected with an installation token made outside it (the App `deploy-bot`'s),
    /// and a pull request it opened with that token.
    fn as_installation(&self, token: &str) -> (Box<dyn Forge>, ChangeRequest) {
        self.forge.add_installation_token(token, "deploy-bot");
        let forge = self.connect_as(token, false).expect("connect");
        self.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = self.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        (forge, cr)
    }

    /// A request to the forge's REST API as the owner of `token`, outside ferry.
    fn raw(&self, token: &str, method: &str, path: &str, body: &Value) -> HttpResponse {
        let url = format!("{}{path}", self.api_url());
        let auth = format!("Bearer {token}");
        let header = match self.kind {
            ForgeKind::GitHub => ("authorization", auth.as_str()),
            ForgeKind::GitLab => ("private-token", token),
        };
        let response = client::send_json(method, &url, &[header], body).expect("request");
        assert!(
            (200..300).contains(&response.status),
            "{} {method} {path}: {} {}",
            self.kind,
            response.status,
            response.text()
        );
        response
    }

    /// Closes change request `number` without merging it (as a person does).
    fn close(&self, number: u64) {
        match self.kind {
            ForgeKind::GitHub => self.raw(
                BOT_TOKEN,
                "PATCH",
                &format!("/repos/{REPO}/pulls/{number}"),
                &json!({"state": "closed"}),
            ),
            ForgeKind::GitLab => self.raw(
                BOT_TOKEN,
                "PUT",
                &format!("/projects/acme%2Fenv/merge_requests/{number}"),
                &json!({"state_event": "close"}),
            ),
        };
    }

    /// A comment (note) by the owner of `token`; returns its id.
    fn comment_as(&self, token: &str, number: u64, body: &str) -> u64 {
        let path = match self.kind {
            ForgeKind::GitHub => format!("/repos/{REPO}/issues/{number}/comments"),
            ForgeKind::GitLab => format!("/projects/acme%2Fenv/merge_requests/{number}/notes"),
        };
        let response = self.raw(token, "POST", &path, &json!({ "body": body }));
        response.json()["id"].as_u64().expect("comment id")
    }

    /// A draft change request from `head` into `main`, opened as a person would.
    fn open_draft(&self, head: &str) -> u64 {
        let response = match self.kind {
            ForgeKind::GitHub => self.raw(
                BOT_TOKEN,
                "POST",
                &format!("/repos/{REPO}/pulls"),
                &json!({"head": head, "base": "main", "title": "Work in progress", "draft": true}),
            ),
            ForgeKind::GitLab => self.raw(
                BOT_TOKEN,
                "POST",
                "/projects/acme%2Fenv/merge_requests",
                &json!({"source_branch": head, "target_branch": "main", "title": "Draft: work in progress"}),
            ),
        };
        let v = response.json();
        v["number"]
            .as_u64()
            .or_else(|| v["iid"].as_u64())
            .expect("number")
    }

    /// Approves change request `number` as the owner of `token`.
    fn approve(&self, number: u64, token: &str) {
        let status = match self.kind {
            ForgeKind::GitHub => self.forge.approve_github(REPO, number, token),
            ForgeKind::GitLab => self.forge.approve_gitlab(REPO, number, token),
        };
        assert!((200..300).contains(&status), "approval answered {status}");
    }

    /// The server's view of change request `number`.
    fn server_cr(&self, number: u64) -> fake::ChangeRequest {
        self.forge
            .change_requests(REPO)
            .into_iter()
            .find(|cr| cr.number == number)
            .expect("change request on the server")
    }

    /// Requests the server logged as coming from `login`.
    fn requests_by(&self, login: &str) -> Vec<fake::Logged> {
        self.forge
            .requests()
            .into_iter()
            .filter(|r| r.user.as_deref() == Some(login))
            .collect()
    }
}

fn numbers(crs: &[ChangeRequest]) -> Vec<u64> {
    crs.iter().map(|cr| cr.number).collect()
}

const MARKER: &str = "<!-- ferry:plan -->";

#[test]
fn upsert_comment_creates_once_then_edits_in_place_and_leaves_others_alone() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let people = lab.comment_as(ALICE_TOKEN, cr.number, "Looks fine, merging after lunch");

        let first = format!("{MARKER}\nPlan: web v1 → v2");
        let (created, action) = forge
            .upsert_comment(cr.number, MARKER, &first)
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        assert_eq!(action, CommentAction::Created, "{kind}");
        assert_eq!(created.body, first, "{kind}");

        // The same body again: read, nothing written.
        lab.forge.clear_requests();
        let (same, action) = forge
            .upsert_comment(cr.number, MARKER, &first)
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        assert_eq!(action, CommentAction::Unchanged, "{kind}");
        assert_eq!(same.id, created.id, "{kind}");
        let methods: Vec<String> = lab.forge.requests().into_iter().map(|r| r.method).collect();
        assert!(!methods.is_empty(), "{kind}: the comments were not read");
        assert!(
            methods.iter().all(|m| m == "GET"),
            "{kind}: an unchanged comment was written: {methods:?}"
        );

        // A new body edits the same comment.
        let second = format!("{MARKER}\nPlan: web v1 → v3");
        let (updated, action) = forge
            .upsert_comment(cr.number, MARKER, &second)
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        assert_eq!(action, CommentAction::Updated, "{kind}");
        assert_eq!(updated.id, created.id, "{kind}");
        assert_eq!(updated.body, second, "{kind}");

        let comments = lab.forge.comments(REPO, cr.number);
        let marked: Vec<&fake::Comment> = comments
            .iter()
            .filter(|c| c.body.contains(MARKER))
            .collect();
        assert_eq!(marked.len(), 1, "{kind}: {comments:?}");
        assert_eq!(
            (
                marked[0].id,
                marked[0].author.as_str(),
                marked[0].body.as_str()
            ),
            (created.id, BOT, second.as_str()),
            "{kind}"
        );
        let alices: Vec<&fake::Comment> = comments.iter().filter(|c| c.id == people).collect();
        assert_eq!(alices.len(), 1, "{kind}");
        assert_eq!(
            (alices[0].author.as_str(), alices[0].body.as_str()),
            ("alice", "Looks fine, merging after lunch"),
            "{kind}"
        );
        assert_eq!(comments.len(), 2, "{kind}: {comments:?}");
    }
}

/// A person who pastes ferry's comment (marker included) into their own keeps it: ferry's
/// comment is the one ferry wrote. GitLab only counts notes by the token's user; GitHub takes
/// the first comment carrying the marker, whoever wrote it, and rewrites it.
#[test]
fn upsert_comment_never_takes_over_a_persons_comment_that_carries_the_marker() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let quoted = format!("> {MARKER}\n> Plan: web v1 → v2\n\nWhy v2?");
        let alices = lab.comment_as(ALICE_TOKEN, cr.number, &quoted);

        let body = format!("{MARKER}\nPlan: web v1 → v2");
        let (comment, action) = forge
            .upsert_comment(cr.number, MARKER, &body)
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        assert_eq!(action, CommentAction::Created, "{kind}");
        assert_ne!(comment.id, alices, "{kind}");
        let comments = lab.forge.comments(REPO, cr.number);
        let alice = comments.iter().find(|c| c.id == alices).expect("alice's");
        assert_eq!(
            alice.body, quoted,
            "{kind}: ferry rewrote a person's comment"
        );
    }
}

#[test]
fn set_status_posts_each_state_with_its_name_description_and_link() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let sha = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let status = |state, description: &str| CommitStatus {
            sha: sha.clone(),
            state,
            context: "ferry/staging".to_owned(),
            description: description.to_owned(),
            target_url: Some("https://ci.example.com/jobs/42".to_owned()),
        };

        forge
            .set_status(&status(StatusState::Pending, "rendering"))
            .unwrap_or_else(|err| panic!("{kind}: pending: {err}"));
        // The same state twice is fine (GitLab refuses it with a 400 that ferry accepts).
        forge
            .set_status(&status(StatusState::Pending, "rendering"))
            .unwrap_or_else(|err| panic!("{kind}: pending again: {err}"));
        forge
            .set_status(&status(StatusState::Success, "rendered 2 files"))
            .unwrap_or_else(|err| panic!("{kind}: success: {err}"));
        forge
            .set_status(&status(StatusState::Success, "rendered 2 files"))
            .unwrap_or_else(|err| panic!("{kind}: success again: {err}"));

        let statuses = lab.forge.statuses(REPO, &sha);
        let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(states, ["pending", "pending", "success", "success"]);
            }
            // GitLab keeps one pending status: the second was refused as no transition.
            ForgeKind::GitLab => assert_eq!(states, ["pending", "success", "success"]),
        }
        for s in &statuses {
            assert_eq!(s.context, "ferry/staging", "{kind}");
            assert_eq!(
                s.target_url.as_deref(),
                Some("https://ci.example.com/jobs/42"),
                "{kind}"
            );
            assert_eq!(s.creator, BOT, "{kind}");
        }
        assert_eq!(statuses[0].description.as_deref(), Some("rendering"));
        assert_eq!(
            statuses.last().and_then(|s| s.description.as_deref()),
            Some("rendered 2 files"),
            "{kind}"
        );

        // A failure is posted in the forge's word for it.
        forge
            .set_status(&status(StatusState::Failure, "render failed"))
            .unwrap_or_else(|err| panic!("{kind}: failure: {err}"));
        let last = lab.forge.statuses(REPO, &sha).pop().expect("a status");
        let failed = match kind {
            ForgeKind::GitHub => "failure",
            ForgeKind::GitLab => "failed",
        };
        assert_eq!(
            (last.state.as_str(), last.description.as_deref()),
            (failed, Some("render failed")),
            "{kind}"
        );
    }
}

#[test]
fn list_filters_by_state_head_base_and_labels() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        remote::git(&lab.repo, &["branch", "release", "main"]);
        lab.branch("f1", &[("envs/f1.yaml", "a: 1\n")]);
        lab.branch("f2", &[("envs/f2.yaml", "a: 2\n")]);
        lab.branch("f3", &[("envs/f3.yaml", "a: 3\n")]);
        lab.branch("f4", &[("envs/f4.yaml", "a: 4\n")]);
        let one = lab.open(&*forge, "f1", "main", "one", &["ferry", "env:prod"]);
        let two = lab.open(&*forge, "f2", "main", "two", &["ferry"]);
        let three = lab.open(&*forge, "f3", "main", "three", &[]);
        let four = lab.open(&*forge, "f4", "release", "four", &["env:prod"]);
        assert_eq!(
            numbers(&[one.clone(), two.clone(), three.clone(), four.clone()]),
            [1, 2, 3, 4]
        );
        forge
            .merge(two.number, &two.head_sha, MergeMethod::Merge)
            .unwrap_or_else(|err| panic!("{kind}: merge: {err}"));
        lab.close(three.number);

        let list = |filter: ListFilter| {
            forge
                .list(&filter)
                .unwrap_or_else(|err| panic!("{kind}: list {filter:?}: {err}"))
        };
        let all = list(ListFilter::default());
        assert_eq!(numbers(&all), [4, 3, 2, 1], "{kind}: newest first");
        let states: Vec<CrState> = all.iter().map(|cr| cr.state).collect();
        assert_eq!(
            states,
            [
                CrState::Open,
                CrState::Closed,
                CrState::Merged,
                CrState::Open
            ],
            "{kind}"
        );
        assert_eq!(all[3].labels, ["ferry", "env:prod"], "{kind}");
        assert_eq!(all[3].head_sha, lab.tip("f1"), "{kind}");
        assert_eq!(all[3].body, "one, by ferry", "{kind}");
        assert_eq!(all[0].base_branch, "release", "{kind}");

        let by_state = |state| {
            numbers(&list(ListFilter {
                state: Some(state),
                ..ListFilter::default()
            }))
        };
        assert_eq!(by_state(CrState::Open), [4, 1], "{kind}");
        assert_eq!(by_state(CrState::Merged), [2], "{kind}");
        assert_eq!(by_state(CrState::Closed), [3], "{kind}");

        let head = |head: &str, state| {
            numbers(&list(ListFilter {
                state,
                head: Some(head.to_owned()),
                ..ListFilter::default()
            }))
        };
        assert_eq!(head("f2", None), [2], "{kind}");
        assert_eq!(head("f2", Some(CrState::Open)), Vec::<u64>::new(), "{kind}");
        assert_eq!(head("f1", Some(CrState::Open)), [1], "{kind}");
        assert_eq!(head("nope", None), Vec::<u64>::new(), "{kind}");

        let base = |base: &str| {
            numbers(&list(ListFilter {
                base: Some(base.to_owned()),
                ..ListFilter::default()
            }))
        };
        assert_eq!(base("release"), [4], "{kind}");
        assert_eq!(base("main"), [3, 2, 1], "{kind}");

        let labels = |labels: &[&str], state| {
            numbers(&list(ListFilter {
                state,
                labels: labels.iter().map(|l| (*l).to_owned()).collect(),
                ..ListFilter::default()
            }))
        };
        assert_eq!(labels(&["ferry"], None), [2, 1], "{kind}");
        assert_eq!(labels(&["env:prod"], None), [4, 1], "{kind}");
        assert_eq!(labels(&["ferry", "env:prod"], None), [1], "{kind}");
        assert_eq!(labels(&["ferry"], Some(CrState::Open)), [1], "{kind}");
        assert_eq!(labels(&["absent"], None), Vec::<u64>::new(), "{kind}");

        // find_open: the one open change request of a head into a base.
        let found = forge.find_open("f1", "main").expect("find_open");
        assert_eq!(found.map(|cr| cr.number), Some(1), "{kind}");
        assert_eq!(forge.find_open("f1", "release").expect("find_open"), None);
        assert_eq!(forge.find_open("f3", "main").expect("find_open"), None);
    }
}

/// ferry asks for pages of 100 (both forges' maximum): 101 change requests take two pages.
const MANY: usize = 101;

#[test]
fn list_reads_every_page_beyond_the_first_hundred() {
    // Opening 101 change requests costs the server ~1.5 s of git per forge: both forges run at
    // once, each on its own servers.
    std::thread::scope(|scope| {
        for kind in KINDS {
            scope.spawn(move || list_every_page(kind));
        }
    });
}

fn list_every_page(kind: ForgeKind) {
    let lab = Lab::new(kind);
    let forge = lab.bot();
    // 101 head branches on one commit: the server computes one merge for all of them.
    let tip = lab.branch("p000", &[("envs/p.yaml", "p: 1\n")]);
    let refs: String = (1..MANY)
        .map(|i| format!("create refs/heads/p{i:03} {tip}\n"))
        .collect();
    remote::git_with_input(&lab.repo, &["update-ref", "--stdin"], refs.as_bytes());
    for i in 0..MANY {
        let new = NewChangeRequest {
            head: format!("p{i:03}"),
            base: "main".to_owned(),
            title: format!("change {i}"),
            ..NewChangeRequest::default()
        };
        forge
            .open(&new)
            .unwrap_or_else(|err| panic!("{kind}: open {i}: {err}"));
    }

    lab.forge.clear_requests();
    let all = forge.list(&ListFilter::default()).expect("list");
    let expected: Vec<u64> = (1..=MANY as u64).rev().collect();
    assert_eq!(numbers(&all), expected, "{kind}: every one, newest first");
    let pages: Vec<fake::Logged> = lab.forge.requests();
    assert_eq!(pages.len(), 2, "{kind}: {pages:?}");
    assert!(
        pages.iter().all(|p| p.query.contains("per_page=100")),
        "{kind}: {pages:?}"
    );
    assert!(pages[1].query.contains("page=2"), "{kind}: {pages:?}");

    // Filtered lists page too.
    let open = forge
        .list(&ListFilter {
            state: Some(CrState::Open),
            base: Some("main".to_owned()),
            ..ListFilter::default()
        })
        .expect("list open");
    assert_eq!(open.len(), MANY, "{kind}");
    assert!(open.iter().all(|cr| cr.head_sha == tip), "{kind}");
}

#[test]
fn readiness_counts_approvals_against_the_branch_rules() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        lab.forge.protect(
            REPO,
            "main",
            Protection {
                required_approvals: 2,
                ..Protection::default()
            },
        );
        let head = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        lab.approve(cr.number, ALICE_TOKEN);

        let readiness = forge.readiness(cr.number).expect("readiness");
        assert_eq!(readiness.number, cr.number, "{kind}");
        assert_eq!(readiness.head_sha, head, "{kind}");
        assert_eq!(readiness.state, CrState::Open, "{kind}");
        assert_eq!(readiness.approvals.given, 1, "{kind}");
        assert_eq!(readiness.approvals.required, Some(2), "{kind}");
        assert!(!readiness.approvals.satisfied, "{kind}");
        assert!(!readiness.approvals.changes_requested, "{kind}");
        assert!(!readiness.is_ready(), "{kind}");
        assert_eq!(
            readiness.missing(kind.words()),
            ["approvals 1 of 2"],
            "{kind}: {readiness:?}"
        );

        lab.approve(cr.number, BOB_TOKEN);
        let readiness = forge.readiness(cr.number).expect("readiness");
        assert_eq!(readiness.approvals.given, 2, "{kind}");
        assert!(readiness.approvals.satisfied, "{kind}");
        assert!(readiness.is_ready(), "{kind}: {readiness:?}");
    }
}

#[test]
fn readiness_shows_required_checks_and_pipelines_with_their_state() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let protection = match kind {
            ForgeKind::GitHub => Protection {
                required_checks: vec!["ci/test".to_owned()],
                ..Protection::default()
            },
            ForgeKind::GitLab => Protection {
                pipeline_must_succeed: true,
                ..Protection::default()
            },
        };
        lab.forge.protect(REPO, "main", protection);
        let head = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let words = kind.words();

        // Nothing reported yet.
        let readiness = forge.readiness(cr.number).expect("readiness");
        assert!(!readiness.is_ready(), "{kind}");
        match kind {
            ForgeKind::GitHub => assert_eq!(
                readiness.missing(words),
                ["required check `ci/test` is pending"],
                "{kind}: {readiness:?}"
            ),
            ForgeKind::GitLab => assert_eq!(
                readiness.missing(words),
                ["a pipeline must succeed, and the head commit has none"],
                "{kind}: {readiness:?}"
            ),
        }

        // Running, then failing.
        let url = "https://ci.example.com/jobs/7";
        let name = match kind {
            ForgeKind::GitHub => {
                set_check(&*forge, &head, "ci/test", StatusState::Pending, url);
                "ci/test"
            }
            ForgeKind::GitLab => {
                lab.forge.set_pipeline(REPO, &head, "running");
                "pipeline"
            }
        };
        let readiness = forge.readiness(cr.number).expect("readiness");
        let check = readiness
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{kind}: no check {name}: {readiness:?}"));
        assert_eq!(
            (check.state, check.required),
            (CheckState::Pending, true),
            "{kind}"
        );
        if kind == ForgeKind::GitHub {
            assert_eq!(check.url.as_deref(), Some(url), "{kind}");
        }
        assert!(!readiness.is_ready(), "{kind}");
        assert_eq!(
            readiness.missing(words),
            [format!("required check `{name}` is pending")],
            "{kind}: {readiness:?}"
        );

        match kind {
            ForgeKind::GitHub => set_check(&*forge, &head, "ci/test", StatusState::Failure, url),
            ForgeKind::GitLab => {
                lab.forge.set_pipeline(REPO, &head, "failed");
            }
        }
        let readiness = forge.readiness(cr.number).expect("readiness");
        let check = readiness
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{kind}: no check {name}: {readiness:?}"));
        assert_eq!(
            (check.state, check.required),
            (CheckState::Failure, true),
            "{kind}"
        );
        assert!(!readiness.is_ready(), "{kind}");
        assert_eq!(
            readiness.missing(words),
            [format!("required check `{name}` is failing")],
            "{kind}: {readiness:?}"
        );

        // Green: nothing blocks any more.
        match kind {
            ForgeKind::GitHub => set_check(&*forge, &head, "ci/test", StatusState::Success, url),
            ForgeKind::GitLab => {
                lab.forge.set_pipeline(REPO, &head, "success");
            }
        }
        let readiness = forge.readiness(cr.number).expect("readiness");
        assert!(readiness.is_ready(), "{kind}: {readiness:?}");
    }
}

/// Sets the commit status `context` of `sha` through ferry.
fn set_check(forge: &dyn Forge, sha: &str, context: &str, state: StatusState, url: &str) {
    forge
        .set_status(&CommitStatus {
            sha: sha.to_owned(),
            state,
            context: context.to_owned(),
            description: "tests".to_owned(),
            target_url: Some(url.to_owned()),
        })
        .unwrap_or_else(|err| panic!("set_status {context}: {err}"));
}

#[test]
fn readiness_sees_drafts_and_conflicts() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let words = kind.words();

        lab.branch("wip", &[("envs/wip.yaml", "wip: true\n")]);
        let draft = lab.open_draft("wip");
        assert!(forge.get(draft).expect("get").draft, "{kind}");
        let readiness = forge.readiness(draft).expect("readiness");
        assert!(
            readiness.draft && !readiness.is_ready(),
            "{kind}: {readiness:?}"
        );
        assert_eq!(
            readiness.missing(words),
            [format!("the {} is a draft", words.change_request)],
            "{kind}: {readiness:?}"
        );

        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let readiness = forge.readiness(cr.number).expect("readiness");
        assert!(readiness.is_ready(), "{kind}: {readiness:?}");
        assert!(!readiness.conflicts && !readiness.behind, "{kind}");
        lab.branch(
            "ferry/production",
            &[("envs/production/app.yaml", "image: web:v2\n")],
        );
        let other = lab.open(
            &*forge,
            "ferry/production",
            "main",
            "production: web v2",
            &[],
        );

        // Someone changes the same line on main, which must be contained by every head.
        lab.forge.protect(
            REPO,
            "main",
            Protection {
                strict: true,
                ..Protection::default()
            },
        );
        lab.commit(
            "main",
            &[("envs/staging/app.yaml", "image: web:v9\n")],
            "hotfix on main",
        );
        let readiness = forge.readiness(other.number).expect("readiness");
        assert!(!readiness.conflicts, "{kind}: {readiness:?}");
        match kind {
            ForgeKind::GitHub => {
                assert!(readiness.behind && !readiness.is_ready(), "{readiness:?}");
                assert_eq!(
                    readiness.missing(words),
                    ["the branch must be up to date with its base branch"],
                    "{readiness:?}"
                );
            }
            // The fake GitLab does not model "need_rebase" (fast-forward merges): nothing is
            // invented either.
            ForgeKind::GitLab => {
                assert!(!readiness.behind && readiness.is_ready(), "{readiness:?}");
            }
        }
        let readiness = forge.readiness(cr.number).expect("readiness");
        assert!(readiness.conflicts, "{kind}: {readiness:?}");
        assert!(!readiness.computing && !readiness.draft, "{kind}");
        assert!(!readiness.is_ready(), "{kind}");
        assert_eq!(
            readiness.missing(words),
            ["conflicts with the target branch"],
            "{kind}: {readiness:?}"
        );
    }
}

#[test]
fn merge_is_pinned_to_the_expected_head() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let stale = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        assert_eq!(cr.head_sha, stale, "{kind}");
        // The head moves after ferry read it.
        let head = lab.commit(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v3\n")],
            "staging: web v3",
        );
        let main_before = lab.tip("main");

        let err = forge
            .merge(cr.number, &stale, MergeMethod::Merge)
            .expect_err("a merge pinned to a stale head");
        assert!(
            matches!(err, ForgeError::Refused { status: 409, .. }),
            "{kind}: {err:?}"
        );
        // GitHub's "Head branch was modified" and GitLab's SHA mismatch: one typed refusal.
        assert!(err.head_moved(), "{kind}: {err:?}");
        assert_eq!(lab.tip("main"), main_before, "{kind}: main moved");
        assert_eq!(
            lab.server_cr(cr.number).state,
            fake::CrState::Open,
            "{kind}"
        );

        let merged = forge
            .merge(cr.number, &head, MergeMethod::Merge)
            .unwrap_or_else(|err| panic!("{kind}: merge: {err}"));
        let tip = lab.tip("main");
        assert_eq!(merged.sha.as_deref(), Some(tip.as_str()), "{kind}");
        let commit = remote::log(&lab.repo, "main").remove(0);
        assert_eq!(commit.oid, tip, "{kind}");
        assert_eq!(
            commit.parents,
            [main_before, head],
            "{kind}: a merge commit"
        );
        assert_eq!(
            remote::read_branch(&lab.repo, "main").get("envs/staging/app.yaml"),
            Some(&b"image: web:v3\n".to_vec()),
            "{kind}"
        );
        let server = lab.server_cr(cr.number);
        assert_eq!(server.state, fake::CrState::Merged, "{kind}");
        assert_eq!(server.merge_commit_sha.as_deref(), Some(tip.as_str()));
        assert_eq!(forge.get(cr.number).expect("get").state, CrState::Merged);
    }
}

#[test]
fn enable_auto_merge_is_taken_when_something_is_pending() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let head = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let main_before = lab.tip("main");
        match kind {
            ForgeKind::GitHub => {
                // The repository does not allow auto-merge: say where to turn it on.
                let err = forge
                    .enable_auto_merge(cr.number, &head, MergeMethod::Merge)
                    .expect_err("auto-merge is not allowed");
                assert!(matches!(err, ForgeError::Refused { .. }), "{err:?}");
                assert!(err.to_string().contains("Allow auto-merge"), "{err}");

                // Allowed, and nothing pending: GitHub refuses, ferry merges directly.
                lab.forge.set_allow_auto_merge(REPO, true);
                let auto = forge
                    .enable_auto_merge(cr.number, &head, MergeMethod::Merge)
                    .expect("auto-merge");
                assert_eq!(auto, AutoMerge::NothingPending);

                // Allowed, an approval pending: GitHub takes it, and merges once approved.
                lab.forge.protect(
                    REPO,
                    "main",
                    Protection {
                        required_approvals: 1,
                        ..Protection::default()
                    },
                );
                let auto = forge
                    .enable_auto_merge(cr.number, &head, MergeMethod::Squash)
                    .expect("auto-merge");
                assert_eq!(auto, AutoMerge::Enabled);
                assert_eq!(
                    lab.server_cr(cr.number).auto_merge.as_deref(),
                    Some("SQUASH")
                );
                assert_eq!(lab.tip("main"), main_before, "merged too early");
                lab.approve(cr.number, ALICE_TOKEN);
            }
            ForgeKind::GitLab => {
                // No pipeline: GitLab will not wait for one (documented: NothingPending, the
                // caller merges directly; GitLab 17+ may merge at once, which is `Merged`).
                let auto = forge
                    .enable_auto_merge(cr.number, &head, MergeMethod::Merge)
                    .expect("auto-merge");
                assert_eq!(auto, AutoMerge::NothingPending);
                assert_eq!(lab.server_cr(cr.number).auto_merge, None);
                assert_eq!(lab.tip("main"), main_before, "merged without being asked");

                // A running pipeline: merge when it succeeds.
                lab.forge.set_pipeline(REPO, &head, "running");
                let auto = forge
                    .enable_auto_merge(cr.number, &head, MergeMethod::Merge)
                    .expect("auto-merge");
                assert_eq!(auto, AutoMerge::Enabled);
                assert_eq!(
                    lab.server_cr(cr.number).auto_merge.as_deref(),
                    Some("merge_when_pipeline_succeeds")
                );
                assert_eq!(lab.tip("main"), main_before, "merged too early");
                lab.forge.set_pipeline(REPO, &head, "success");
            }
        }
        // What was pending arrived: the forge merged by itself, as the bot.
        let server = lab.server_cr(cr.number);
        assert_eq!(server.state, fake::CrState::Merged, "{kind}");
        assert_eq!(server.merged_by.as_deref(), Some(BOT), "{kind}");
        assert_ne!(lab.tip("main"), main_before, "{kind}");
    }
}

#[test]
fn enable_auto_merge_is_pinned_to_the_expected_head() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        let forge = lab.bot();
        let stale = lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let head = lab.commit(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v3\n")],
            "staging: web v3",
        );
        match kind {
            ForgeKind::GitHub => {
                lab.forge.set_allow_auto_merge(REPO, true);
                lab.forge.protect(
                    REPO,
                    "main",
                    Protection {
                        required_approvals: 1,
                        ..Protection::default()
                    },
                );
            }
            ForgeKind::GitLab => {
                lab.forge.set_pipeline(REPO, &head, "running");
            }
        }
        let err = forge
            .enable_auto_merge(cr.number, &stale, MergeMethod::Merge)
            .expect_err("auto-merge pinned to a stale head");
        assert!(matches!(err, ForgeError::Refused { .. }), "{kind}: {err:?}");
        assert_eq!(lab.server_cr(cr.number).auto_merge, None, "{kind}");
    }
}

const JOB_TOKEN: &str = "glcbt-64_job-token-7f3e1a";

#[test]
fn a_job_token_cannot_open_and_the_error_says_which_token_to_use() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        lab.forge.add_job_token(JOB_TOKEN, "alice", REPO);
        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let forge = lab
            .connect_as(JOB_TOKEN, true)
            .unwrap_or_else(|err| panic!("{kind}: a job token connects: {err}"));
        let err = forge
            .open(&NewChangeRequest {
                head: "ferry/staging".to_owned(),
                base: "main".to_owned(),
                title: "staging: web v2".to_owned(),
                ..NewChangeRequest::default()
            })
            .expect_err("a job token cannot open a change request");
        assert_job_token_refusal(kind, &err);
        assert!(lab.forge.change_requests(REPO).is_empty(), "{kind}");

        if kind == ForgeKind::GitLab {
            // Every other write names the job token too: statuses, notes, merges.
            let cr = lab.open(&*lab.bot(), "ferry/staging", "main", "staging: web v2", &[]);
            let err = forge
                .set_status(&CommitStatus {
                    sha: cr.head_sha.clone(),
                    state: StatusState::Pending,
                    context: "ferry".to_owned(),
                    description: String::new(),
                    target_url: None,
                })
                .expect_err("a job token cannot set a status");
            assert_job_token_refusal(kind, &err);
            let err = forge
                .upsert_comment(cr.number, MARKER, MARKER)
                .expect_err("a job token cannot write a note");
            assert_job_token_refusal(kind, &err);
            assert!(lab.forge.comments(REPO, cr.number).is_empty());
            assert!(lab.forge.statuses(REPO, &cr.head_sha).is_empty());
        }
    }
}

/// A merge (or auto-merge) with a job token is refused with a 401 like any other write, but
/// ferry's merge-specific 401 hint ("the token's user may not merge ... needs a role") wins
/// over the job-token hint, so the message never says the token is CI_JOB_TOKEN.
#[test]
fn a_gitlab_job_token_merge_refusal_names_the_job_token() {
    let lab = Lab::new(ForgeKind::GitLab);
    lab.forge.add_job_token(JOB_TOKEN, "alice", REPO);
    lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    let cr = lab.open(&*lab.bot(), "ferry/staging", "main", "staging: web v2", &[]);
    let forge = lab.connect_as(JOB_TOKEN, true).expect("connect");
    let err = forge
        .merge(cr.number, &cr.head_sha, MergeMethod::Merge)
        .expect_err("a job token cannot merge");
    assert_job_token_refusal(ForgeKind::GitLab, &err);
    lab.forge.set_pipeline(REPO, &cr.head_sha, "running");
    let err = forge
        .enable_auto_merge(cr.number, &cr.head_sha, MergeMethod::Merge)
        .expect_err("a job token cannot set auto-merge");
    assert_job_token_refusal(ForgeKind::GitLab, &err);
    let server = lab.server_cr(cr.number);
    assert_eq!(
        (server.state, server.auto_merge),
        (fake::CrState::Open, None)
    );
}

/// A refusal of a job token: an auth error naming what to use instead, without the token.
fn assert_job_token_refusal(kind: ForgeKind, err: &ForgeError) {
    let ForgeError::Auth { status, hint, .. } = err else {
        panic!("{kind}: {err:?}");
    };
    assert_eq!(*status, 401, "{kind}");
    let text = err.to_string();
    assert!(text.contains(&format!("hint: {hint}")), "{kind}: {text}");
    match kind {
        // GitHub knows no job tokens: it is a bad token there.
        ForgeKind::GitHub => assert!(text.contains("invalid or expired"), "{text}"),
        ForgeKind::GitLab => {
            assert!(text.contains("CI_JOB_TOKEN"), "{text}");
            assert!(text.contains("project or group access token"), "{text}");
            assert!(!text.contains("expired"), "{text}");
        }
    }
    assert!(
        !text.contains(JOB_TOKEN),
        "{kind}: the token leaked: {text}"
    );
    assert!(!format!("{err:?}").contains(JOB_TOKEN), "{kind}");
}

#[test]
fn calls_count_every_request_the_server_saw_retries_included() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let forge = lab.bot();
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        let (list_path, comments_path) = match kind {
            ForgeKind::GitHub => ("/repos/acme/env/pulls", "/issues/1/comments"),
            ForgeKind::GitLab => ("/projects/acme%2Fenv/merge_requests", "/notes"),
        };

        // Two 502s on the list, then an answer: three requests for one call.
        lab.forge
            .inject(FaultRule::new("GET", list_path, Fault::Status(502)).times(2));
        let before = forge.calls();
        let all = forge.list(&ListFilter::default()).expect("list after 502s");
        assert_eq!(numbers(&all), [cr.number], "{kind}");
        assert_eq!(forge.calls() - before, 3, "{kind}");

        // A rate limit that asks for no wait is retried too.
        lab.forge.inject(FaultRule::new(
            "GET",
            list_path,
            Fault::RateLimit {
                retry_after_secs: 0,
                secondary: false,
            },
        ));
        forge.get(cr.number).expect("get after a rate limit");

        // A 502 on a create is not blindly repeated: GitHub gives up, GitLab looks first.
        lab.forge
            .inject(FaultRule::new("POST", comments_path, Fault::Status(502)));
        let body = format!("{MARKER}\nplan");
        let upsert = forge.upsert_comment(cr.number, MARKER, &body);
        match kind {
            ForgeKind::GitHub => {
                let err = upsert.expect_err("a lost create is not repeated blindly");
                assert!(
                    matches!(
                        err,
                        ForgeError::Server {
                            status: 502,
                            attempts: 1,
                            ..
                        }
                    ),
                    "{err:?}"
                );
            }
            ForgeKind::GitLab => {
                let (_, action) = upsert.expect("GitLab looks, then creates once more");
                assert_eq!(action, CommentAction::Created);
            }
        }
        forge.readiness(cr.number).expect("readiness");
        set_check(
            &*forge,
            &cr.head_sha,
            "ferry",
            StatusState::Success,
            "https://ci",
        );
        assert!(lab.forge.pending_faults().is_empty(), "{kind}");

        let seen = lab.requests_by(BOT);
        let faults = seen.iter().filter(|r| r.fault.is_some()).count();
        assert_eq!(faults, 4, "{kind}: {seen:?}");
        assert_eq!(
            forge.calls() as usize,
            seen.len(),
            "{kind}: ferry counted {} calls, the server saw {seen:#?}",
            forge.calls()
        );
        assert_eq!(
            seen.iter().filter(|r| r.status == 502).count(),
            3,
            "{kind}: {seen:?}"
        );
    }
}

#[test]
fn an_expired_token_is_an_auth_error_with_a_hint_and_no_secret() {
    for kind in KINDS {
        let lab = Lab::new(kind);
        lab.branch(
            "ferry/staging",
            &[("envs/staging/app.yaml", "image: web:v2\n")],
        );
        let forge = lab.bot();
        let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
        lab.forge.expire_token(BOT_TOKEN);

        let check = |err: &ForgeError| {
            let ForgeError::Auth { status, hint, .. } = err else {
                panic!("{kind}: {err:?}");
            };
            assert_eq!(*status, 401, "{kind}");
            assert!(hint.contains("expired"), "{kind}: {hint}");
            let text = err.to_string();
            assert!(
                text.contains("401") && text.contains("hint:"),
                "{kind}: {text}"
            );
            assert!(
                !text.contains(BOT_TOKEN),
                "{kind}: the token leaked: {text}"
            );
            assert!(!format!("{err:?}").contains(BOT_TOKEN), "{kind}");
        };
        // A forge connected before the token expired.
        let before = lab.forge.requests().len();
        let err = forge.get(cr.number).expect_err("an expired token");
        check(&err);
        assert_eq!(
            lab.forge.requests().len() - before,
            1,
            "{kind}: a 401 is not retried"
        );
        // Connecting anew: GitLab checks the token at once, GitHub on the first call.
        match lab.connect_as(BOT_TOKEN, false) {
            Ok(again) => {
                assert_eq!(
                    kind,
                    ForgeKind::GitHub,
                    "GitLab connected with an expired token"
                );
                check(&again.list(&ListFilter::default()).expect_err("expired"));
            }
            Err(err) => {
                assert_eq!(kind, ForgeKind::GitLab, "{err}");
                check(&err);
            }
        }
    }
}

// GitHub as it really answers (issue 20): what the forge test server simulates of it, and
// what ferry makes of it.

/// Every REST request names the media type and the API version, in one place.
#[test]
fn github_requests_name_the_media_type_and_the_api_version() {
    let lab = Lab::new(ForgeKind::GitHub);
    let forge = lab.bot();
    lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
    forge.readiness(cr.number).expect("readiness");
    let headers = lab.forge.github_request_headers();
    assert!(headers.len() >= 3, "{headers:?}");
    for (accept, version) in headers {
        assert_eq!(accept.as_deref(), Some("application/vnd.github+json"));
        assert_eq!(version.as_deref(), Some(ferry::forge::github::API_VERSION));
    }
}

/// An installation token ferry did not mint (a workflow's app-token step) gets 403 from
/// `GET /user`; ferry still finds its own comment (a bot's, carrying the marker), edits it in
/// place, and leaves a person's quote alone.
#[test]
fn an_installation_token_made_elsewhere_keeps_one_comment() {
    let lab = Lab::new(ForgeKind::GitHub);
    let token = "ghs_installationtokenmadebyanotherstep0";
    let (forge, cr) = lab.as_installation(token);
    let quoted = format!("> {MARKER}\n> Plan: web v1 → v2\n\nWhy v2?");
    let alices = lab.comment_as(ALICE_TOKEN, cr.number, &quoted);

    let first = format!("{MARKER}\nPlan: web v1 → v2");
    let (created, action) = forge
        .upsert_comment(cr.number, MARKER, &first)
        .expect("create");
    assert_eq!(action, CommentAction::Created);
    // A new run (a new client: nothing remembered) finds it.
    let forge = lab.connect_as(token, false).expect("connect");
    let (same, action) = forge
        .upsert_comment(cr.number, MARKER, &first)
        .expect("again");
    assert_eq!((same.id, action), (created.id, CommentAction::Unchanged));
    let second = format!("{MARKER}\nPlan: web v1 → v3");
    let (updated, action) = forge
        .upsert_comment(cr.number, MARKER, &second)
        .expect("update");
    assert_eq!((updated.id, action), (created.id, CommentAction::Updated));

    let comments = lab.forge.comments(REPO, cr.number);
    let mine: Vec<&fake::Comment> = comments
        .iter()
        .filter(|c| c.author == "deploy-bot[bot]")
        .collect();
    assert_eq!(mine.len(), 1, "{comments:?}");
    assert_eq!(mine[0].body, second);
    let alice = comments.iter().find(|c| c.id == alices).expect("alice's");
    assert_eq!(alice.body, quoted, "a person's quote was rewritten");
    // GitHub said 403 to `GET /user`, as it does for installation tokens.
    assert!(
        lab.forge
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/user") && r.status == 403),
        "{:?}",
        lab.forge.requests()
    );
}

/// Classic branch protection (no ruleset): the required check that has not reported is what
/// is missing, not approvals; once it is green, the approvals are (counted when the token may
/// read the protection, an admin's).
#[test]
fn readiness_on_classic_branch_protection_names_the_true_missing_item() {
    let lab = Lab::new(ForgeKind::GitHub);
    lab.forge.protect(
        REPO,
        "main",
        Protection {
            required_approvals: 1,
            required_checks: vec!["ci/test".to_owned()],
            classic: true,
            ..Protection::default()
        },
    );
    let forge = lab.bot();
    let head = lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
    let words = ForgeKind::GitHub.words();
    let readiness = forge.readiness(cr.number).expect("readiness");
    assert_eq!(
        readiness.missing(words),
        ["required check `ci/test` is pending"],
        "{readiness:?}"
    );
    set_check(
        &*forge,
        &head,
        "ci/test",
        StatusState::Success,
        "https://ci.example.com/1",
    );
    let readiness = forge.readiness(cr.number).expect("readiness");
    assert_eq!(
        readiness.missing(words),
        ["approvals: 0 given, more required"],
        "{readiness:?}"
    );
    // An admin's token reads the required count.
    lab.forge.add_token("admin-token-77", "root", Access::Admin);
    let admin = lab.connect_as("admin-token-77", false).expect("connect");
    let readiness = admin.readiness(cr.number).expect("readiness");
    assert_eq!(
        readiness.missing(words),
        ["approvals 0 of 1"],
        "{readiness:?}"
    );
    lab.approve(cr.number, ALICE_TOKEN);
    assert!(forge.readiness(cr.number).expect("readiness").is_ready());
}

/// The documented fine-grained token (Contents, Pull requests, Commit statuses: read) cannot
/// read check runs: readiness still says what is missing, and what it could not check.
#[test]
fn a_fine_grained_token_without_checks_still_reports_what_is_missing() {
    let lab = Lab::new(ForgeKind::GitHub);
    lab.forge.protect(
        REPO,
        "main",
        Protection {
            required_approvals: 1,
            ..Protection::default()
        },
    );
    lab.forge
        .add_fine_grained_token("github_pat_finegrained01", BOT, Access::Write, true);
    let forge = lab
        .connect_as("github_pat_finegrained01", false)
        .expect("connect");
    lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    let cr = lab.open(&*forge, "ferry/staging", "main", "staging: web v2", &[]);
    let readiness = forge
        .readiness(cr.number)
        .expect("a 403 on check runs is not an error");
    let missing = readiness.missing(ForgeKind::GitHub.words());
    assert_eq!(missing[0], "approvals 0 of 1", "{missing:?}");
    assert!(
        missing[1].starts_with("could not check check runs"),
        "{missing:?}"
    );
    assert!(!readiness.is_ready());
}

/// GitHub refuses a reviewer request naming anyone it cannot take (not a collaborator, a team
/// it does not know) and then adds no one: the valid ones are requested alone, the refused
/// ones left out with a warning, and a later run completes what is missing.
#[test]
fn a_refused_reviewer_does_not_drop_the_others() {
    let lab = Lab::new(ForgeKind::GitHub);
    lab.forge.add_team("acme/platform");
    let forge = lab.bot();
    lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    let new = NewChangeRequest {
        head: "ferry/staging".to_owned(),
        base: "main".to_owned(),
        title: "staging: web v2".to_owned(),
        body: "by ferry".to_owned(),
        reviewers: vec![
            "alice".to_owned(),
            "mallory".to_owned(),
            "acme/platform".to_owned(),
            "acme/ghosts".to_owned(),
        ],
        ..NewChangeRequest::default()
    };
    let cr = forge
        .open(&new)
        .expect("a refused reviewer is not an error");
    assert_eq!(
        lab.server_cr(cr.number).reviewers,
        ["alice", "acme/platform"]
    );
    assert_eq!(cr.reviewers, ["alice", "acme/platform"]);

    // A change request an earlier run opened without its reviewers: the next run adds them.
    lab.branch(
        "ferry/production",
        &[("envs/production/app.yaml", "image: web:v2\n")],
    );
    let bare = lab.open(
        &*forge,
        "ferry/production",
        "main",
        "production: web v2",
        &[],
    );
    let proposal = ferry::commands::change_request::Proposal {
        head: "ferry/production".to_owned(),
        base: "main".to_owned(),
        title: "production: web v2".to_owned(),
        body: "production: web v2, by ferry".to_owned(),
        reviewers: vec!["alice".to_owned(), "mallory".to_owned()],
        ..Default::default()
    };
    let (updated, action) =
        ferry::commands::change_request::open_or_update(&*forge, &proposal).expect("rerun");
    assert_eq!(updated.number, bare.number);
    assert_eq!(action, ferry::commands::change_request::Action::Updated);
    assert_eq!(lab.server_cr(bare.number).reviewers, ["alice"]);
    // Again: only the refused one is missing, so nothing changes.
    let (_, action) =
        ferry::commands::change_request::open_or_update(&*forge, &proposal).expect("rerun");
    assert_eq!(action, ferry::commands::change_request::Action::Unchanged);
    // alice reviews (GitHub drops her from the requested reviewers): not asked again.
    lab.approve(bare.number, ALICE_TOKEN);
    assert!(lab.server_cr(bare.number).reviewers.is_empty());
    let (_, action) =
        ferry::commands::change_request::open_or_update(&*forge, &proposal).expect("rerun");
    assert_eq!(action, ferry::commands::change_request::Action::Unchanged);
    assert!(
        lab.server_cr(bare.number).reviewers.is_empty(),
        "a reviewer who reviewed was asked again"
    );
}

/// Combined statuses, check runs and rules are read to the last page.
#[test]
fn github_status_lists_are_read_whole() {
    let lab = Lab::new(ForgeKind::GitHub);
    let forge = lab.bot();
    let head = lab.branch(
        "ferry/staging",
        &[("envs/staging/app.yaml", "image: web:v2\n")],
    );
    // 105 contexts: two pages of 100; the one wanted is on the second (newest first).
    set_check(
        &*forge,
        &head,
        "continuous-delivery/wanted",
        StatusState::Success,
        "https://a.example/w",
    );
    for i in 0..104 {
        set_check(
            &*forge,
            &head,
            &format!("ci/job-{i:03}"),
            StatusState::Success,
            "https://ci.example.com/1",
        );
    }
    lab.forge.clear_requests();
    let checks = forge
        .commit_statuses(&head, "continuous-delivery/wanted")
        .expect("statuses");
    assert_eq!(checks.len(), 1, "{checks:?}");
    let pages = lab
        .forge
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .count();
    assert_eq!(pages, 2);
}

/// Two runs race: both find no comment, both create one. The run that created the newer one
/// sees the older on reading again, deletes its own and edits the older: one comment stays.
#[test]
fn racing_runs_keep_one_github_comment() {
    let lab = Lab::new(ForgeKind::GitHub);
    let (forge, cr) = lab.as_installation("ghs_installationtokenmadebyanotherstep1");
    // The other run's comment lands right after this run listed the comments.
    lab.forge.gitlab_later(fake::GitLabLater {
        method: "GET".to_owned(),
        path_contains: format!("/issues/{}/comments", cr.number),
        after: 1,
        event: fake::GitLabEvent::Note {
            repo: REPO.to_owned(),
            number: cr.number,
            author: "deploy-bot[bot]".to_owned(),
            body: format!("{MARKER}\nPlan: web v1 → v2 (the other run)"),
        },
    });
    let body = format!("{MARKER}\nPlan: web v1 → v2");
    let (kept, action) = forge
        .upsert_comment(cr.number, MARKER, &body)
        .expect("upsert");
    assert_eq!(action, CommentAction::Updated);
    let comments = lab.forge.comments(REPO, cr.number);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        (comments[0].id, comments[0].body.as_str()),
        (kept.id, body.as_str())
    );
}
