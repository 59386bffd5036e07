//! What the signing tests share: git and gpg run isolated from the machine's configuration,
//! keys made with `ssh-keygen`, a repository whose commits are signed and verified with
//! `git verify-commit`, and a GnuPG home with one key.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use git2::{Oid, Repository};
use tempfile::TempDir;

use super::Signer;
use super::openpgp::{GPGCONF, parse_secret_keys};

/// Runs a program with git isolated from the machine's configuration.
pub(super) fn command(program: &str, envs: &[(&str, &OsStr)]) -> Command {
    let mut command = Command::new(program);
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

pub(super) fn run_ok(mut command: Command) -> Output {
    let output = command.output().expect("spawn");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `ssh-keygen` writes `<dir>/<name>` and `.pub`; returns the private key path.
pub(super) fn ssh_keygen(dir: &Path, name: &str, args: &[&str], passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut command = command("ssh-keygen", &[]);
    command
        .args(args)
        .args(["-q", "-N", passphrase, "-C", "ferry-test", "-f"])
        .arg(&path);
    run_ok(command);
    path
}

pub(super) fn public_key(private: &Path) -> String {
    let mut public = private.as_os_str().to_owned();
    public.push(".pub");
    fs::read_to_string(public)
        .expect("public key")
        .trim()
        .to_owned()
}

pub(super) struct Fixture {
    pub(super) dir: TempDir,
    pub(super) repo: Repository,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let dir = TempDir::new().expect("tempdir");
        let repo = Repository::init(dir.path().join("repo")).expect("init");
        Self { dir, repo }
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The unsigned commit buffer: one file, fixed author and dates.
    pub(super) fn buffer(&self, message: &str) -> String {
        let blob = self.repo.blob(b"image: cart:1.2\n").expect("blob");
        let mut builder = self.repo.treebuilder(None).expect("treebuilder");
        builder
            .insert("values.yaml", blob, 0o100_644)
            .expect("insert");
        let tree = self
            .repo
            .find_tree(builder.write().expect("tree"))
            .expect("find tree");
        let time = git2::Time::new(1_700_000_000, 0);
        let who = git2::Signature::new("Ferry", "ferry@example.com", &time).expect("signature");
        let buffer = self
            .repo
            .commit_create_buffer(&who, &who, message, &tree, &[])
            .expect("buffer");
        buffer.as_str().expect("utf-8").to_owned()
    }

    /// Signs a fresh commit and points `main` at it.
    pub(super) fn commit(&self, signer: &Signer) -> Oid {
        let buffer = self.buffer("Bump cart to 1.2\n");
        let signature = signer.sign(buffer.as_bytes()).expect("sign");
        let oid = self
            .repo
            .commit_signed(&buffer, &signature, None)
            .expect("commit_signed");
        self.repo
            .reference("refs/heads/main", oid, true, "test")
            .expect("branch");
        oid
    }

    pub(super) fn allowed_signers(&self, public_keys: &[&str]) -> PathBuf {
        let path = self.path("allowed_signers");
        let lines: String = public_keys
            .iter()
            .map(|key| format!("ferry@example.com namespaces=\"git\" {key}\n"))
            .collect();
        fs::write(&path, lines).expect("allowed signers");
        path
    }

    /// `git verify-commit` with SSH signatures allowed for `allowed`.
    pub(super) fn verify_ssh(&self, oid: Oid, allowed: &Path) -> Output {
        let mut command = command("git", &[]);
        command
            .arg("-C")
            .arg(self.repo.path())
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
            .args(["verify-commit", &oid.to_string()]);
        command.output().expect("git verify-commit")
    }

    /// `git verify-commit` against the OpenPGP keyring in `gnupg_home`.
    pub(super) fn verify_gpg(&self, oid: Oid, gnupg_home: &Path) -> Output {
        let mut command = command("git", &[("GNUPGHOME", gnupg_home.as_os_str())]);
        command
            .arg("-C")
            .arg(self.repo.path())
            .args(["verify-commit", &oid.to_string()]);
        command.output().expect("git verify-commit")
    }

    /// The same commit made by git itself, signed with `key`.
    pub(super) fn git_signed_commit(&self, key: &Path) -> Oid {
        let buffer = self.buffer("Bump cart to 1.2\n");
        let tree = buffer
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("tree "))
            .expect("tree line");
        let date = OsStr::new("1700000000 +0000");
        let ferry = OsStr::new("Ferry");
        let email = OsStr::new("ferry@example.com");
        let mut command = command(
            "git",
            &[
                ("GIT_AUTHOR_NAME", ferry),
                ("GIT_AUTHOR_EMAIL", email),
                ("GIT_AUTHOR_DATE", date),
                ("GIT_COMMITTER_NAME", ferry),
                ("GIT_COMMITTER_EMAIL", email),
                ("GIT_COMMITTER_DATE", date),
            ],
        );
        command
            .arg("-C")
            .arg(self.repo.path())
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("user.signingKey={}", key.display()))
            .args(["commit-tree", "-S", "-m", "Bump cart to 1.2", tree]);
        let output = run_ok(command);
        Oid::from_str(String::from_utf8_lossy(&output.stdout).trim()).expect("oid")
    }
}

pub(super) fn assert_verified(output: &Output) {
    assert!(
        output.status.success(),
        "verify-commit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(super) fn assert_rejected(output: &Output) {
    assert!(
        !output.status.success(),
        "verify-commit accepted: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A GnuPG home with one key, its agent stopped on drop.
pub(super) struct GnupgHome {
    pub(super) dir: TempDir,
}

impl GnupgHome {
    pub(super) fn with_key(passphrase: &str) -> Self {
        let dir = TempDir::new().expect("gnupg home");
        let home = Self { dir };
        run_ok(home.gpg(&[
            "--passphrase",
            passphrase,
            "--pinentry-mode",
            "loopback",
            "--quick-gen-key",
            "Ferry Test <ferry@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
        home
    }

    pub(super) fn gpg(&self, args: &[&str]) -> Command {
        let mut command = command("gpg", &[("GNUPGHOME", self.dir.path().as_os_str())]);
        command.args(["--batch", "--no-tty"]).args(args);
        command
    }

    pub(super) fn export_secret(&self, passphrase: &str) -> String {
        let output = run_ok(self.gpg(&[
            "--passphrase",
            passphrase,
            "--pinentry-mode",
            "loopback",
            "--export-secret-keys",
            "--armor",
        ]));
        String::from_utf8(output.stdout).expect("armor")
    }

    pub(super) fn export_public(&self) -> String {
        String::from_utf8(run_ok(self.gpg(&["--export", "--armor"])).stdout).expect("armor")
    }

    pub(super) fn fingerprint(&self) -> String {
        let output = run_ok(self.gpg(&["--with-colons", "--list-secret-keys"]));
        let keys = parse_secret_keys(&String::from_utf8_lossy(&output.stdout));
        keys[0].fingerprint.clone()
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = command(GPGCONF, &[])
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
