//! A lab for running the real `ferry` binary against a forge: a temporary directory of bare
//! repositories served by the git smart-HTTP server, the forge test server in front of them
//! (as GitHub or as GitLab) with a bot's and a reviewer's tokens, and helpers to read what
//! ferry did.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::json;

use crate::support::forge::{Access, ChangeRequest, CrState, ForgeServer, client};
use crate::support::git_http::GitServer;
use crate::support::remote;

/// The environment repository every lab has, as the forge names it.
pub const REPO: &str = "acme/env";
/// The token ferry runs with (user `ferry-bot`, write access).
pub const BOT_TOKEN: &str = "ferry-bot-token-3c9d1e";
/// A reviewer's token (user `alice`, write access): approves and opens change requests.
pub const ALICE_TOKEN: &str = "alice-token-8e2f7a";

/// The forge the lab's server plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

/// Both forges, for tests that run on each.
pub const KINDS: [Kind; 2] = [Kind::GitHub, Kind::GitLab];

impl Kind {
    /// The value of `FERRY_FORGE`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::GitHub => "github",
            Kind::GitLab => "gitlab",
        }
    }
}

/// The environment repository [`REPO`] (branch `main`) below `dir`, served by both servers.
pub struct Lab {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    /// The git server's root: `<name>.git` below it is served as `<name>`.
    pub root: PathBuf,
    /// The bare environment repository.
    pub repo: PathBuf,
    pub git: GitServer,
    pub forge: ForgeServer,
}

impl Lab {
    /// A lab whose environment repository holds `files` in one commit on `main`, with
    /// [`BOT_TOKEN`] and [`ALICE_TOKEN`] registered.
    pub fn new(kind: Kind, files: &[(&str, &[u8])]) -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("srv");
        std::fs::create_dir_all(root.join("acme")).expect("mkdir");
        let repo = remote::bare_repo(&root, &format!("{REPO}.git"), "main", files);
        let git = GitServer::start(&root);
        let forge = ForgeServer::start(&git);
        forge.add_token(BOT_TOKEN, "ferry-bot", Access::Write);
        forge.add_token(ALICE_TOKEN, "alice", Access::Write);
        Lab {
            kind,
            dir,
            root,
            repo,
            git,
            forge,
        }
    }

    /// Protects `main` of [`REPO`]: merging needs `n` approvals.
    pub fn require_approvals(&self, n: u32) {
        self.forge.protect(
            REPO,
            "main",
            crate::support::forge::Protection {
                required_approvals: n,
                ..Default::default()
            },
        );
    }

    /// Adds the repository `name` (`owner/name`) holding `files` on `main`; returns its path.
    pub fn add_repo(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        remote::bare_repo(&self.root, &format!("{name}.git"), "main", files)
    }

    /// The clone URL of the repository `name` (`owner/name`).
    pub fn url(&self, name: &str) -> String {
        self.git.url(&format!("{name}.git"))
    }

    pub fn api_url(&self) -> String {
        match self.kind {
            Kind::GitHub => self.forge.github_api_url(),
            Kind::GitLab => self.forge.gitlab_api_url(),
        }
    }

    /// The ferry binary, isolated from the caller's CI, pointed at this forge and the
    /// environment repository, with `token` (none: no `FERRY_TOKEN`).
    pub fn command_as(&self, token: Option<&str>) -> Command {
        let mut cmd = crate::support::ferry();
        for (key, _) in std::env::vars() {
            if key.starts_with("FERRY_")
                || key.starts_with("GITHUB_")
                || key.starts_with("GITLAB_")
                || key.starts_with("CI_")
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("FERRY_FORGE", self.kind.name())
            .env("FERRY_API_URL", self.api_url())
            .env("FERRY_REPO", self.url(REPO));
        if let Some(token) = token {
            cmd.env("FERRY_TOKEN", token);
        }
        cmd
    }

    /// [`Lab::command_as`] the bot.
    pub fn command(&self) -> Command {
        self.command_as(Some(BOT_TOKEN))
    }

    /// The text of `path` on `branch` of the environment repository ("" when absent).
    pub fn file(&self, branch: &str, path: &str) -> String {
        let files = remote::read_branch(&self.repo, branch);
        String::from_utf8(files.get(path).cloned().unwrap_or_default()).expect("utf-8")
    }

    /// The open change requests of the environment repository.
    pub fn open(&self) -> Vec<ChangeRequest> {
        self.forge
            .change_requests(REPO)
            .into_iter()
            .filter(|cr| cr.state == CrState::Open)
            .collect()
    }

    /// Approves change request `number` of the environment repository as alice.
    pub fn approve(&self, number: u64) {
        let status = match self.kind {
            Kind::GitHub => self.forge.approve_github(REPO, number, ALICE_TOKEN),
            Kind::GitLab => self.forge.approve_gitlab(REPO, number, ALICE_TOKEN),
        };
        assert!((200..300).contains(&status), "approval answered {status}");
    }

    /// Posts a commit status on `sha` as an agent would (Flux, Argo CD notifications).
    pub fn agent_status(&self, sha: &str, context: &str, state: &str) {
        let url = "https://argocd.example.invalid/applications/cart";
        let status = match self.kind {
            Kind::GitHub => client::send_json(
                "POST",
                &format!(
                    "{}/repos/{REPO}/statuses/{sha}",
                    self.forge.github_api_url()
                ),
                &[("authorization", &format!("Bearer {BOT_TOKEN}"))],
                &json!({"state": state, "context": context, "target_url": url}),
            ),
            Kind::GitLab => client::send_json(
                "POST",
                &format!(
                    "{}/projects/{}/statuses/{sha}",
                    self.forge.gitlab_api_url(),
                    REPO.replace('/', "%2F")
                ),
                &[("private-token", BOT_TOKEN)],
                &json!({
                    "state": if state == "failure" { "failed" } else { state },
                    "name": context,
                    "target_url": url
                }),
            ),
        }
        .map_or(0, |r| r.status);
        assert!((200..300).contains(&status), "status answered {status}");
    }
}

/// The exit code of a finished run.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// Both streams of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A run's stdout as JSON.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}
