//! Commit signing: SSH (in-process, with the `ssh-key` crate) or OpenPGP (by
//! running `gpg`, exactly as git does).
//!
//! A [`Signer`] turns the bytes of an unsigned commit object into the armored
//! signature that git stores in the commit's `gpgsig` header, so that
//! `git verify-commit` and forges that require signed commits accept it:
//!
//! ```ignore
//! let signer = Signer::new(Format::Ssh, KeySource::File(path))?;
//! let buffer = repo.commit_create_buffer(&author, &committer, message, &tree, &parents)?;
//! let signature = signer.sign(&buffer)?;
//! let content = std::str::from_utf8(&buffer)?;
//! let oid = repo.commit_signed(content, &signature, None)?;
//! ```
//!
//! * SSH signatures follow OpenSSH's `PROTOCOL.sshsig` with the namespace
//!   `git` and SHA-512, as `ssh-keygen -Y sign -n git` (and so `git commit -S`
//!   with `gpg.format=ssh`) makes them; for ed25519 and RSA keys, whose
//!   signatures are deterministic, the commit is byte for byte git's. RSA keys
//!   sign with `rsa-sha2-512`.
//! * OpenPGP signatures come from `gpg --status-fd 2 -bsau <key>`, the command
//!   git itself runs. A key given as key material (inline or as a file) is
//!   imported into a private, temporary GnuPG home that lives as long as the
//!   [`Signer`]; a key id uses the user's keyring as it is.
//!
//! ferry signs unattended, so key material protected by a passphrase is
//! refused when the [`Signer`] is built rather than at the first push. Neither
//! errors nor logs ever contain key material.
//!
//! Modules: `ssh` (SSH signatures), `workarounds` (what ferry does about bugs of the SSH crates
//! it signs with), `openpgp` (keys and signatures through `gpg`).

mod openpgp;
mod ssh;
mod workarounds;

#[cfg(test)]
mod fixture;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use openpgp::GpgKey;
use ssh::SshKey;

/// How commits are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An SSH signature (git's `gpg.format=ssh`).
    Ssh,
    /// An OpenPGP signature made by `gpg` (git's `gpg.format=openpgp`).
    Gpg,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ssh => "ssh",
            Self::Gpg => "gpg",
        })
    }
}

/// Where the signing key comes from.
///
/// `Debug` never shows inline key material.
#[derive(Debug)]
pub enum KeySource {
    /// A private key file: for SSH an OpenSSH private key; for GPG an exported
    /// secret key (armored or binary), imported into a private GnuPG home.
    File(PathBuf),
    /// The key material itself, e.g. from a CI secret: an OpenSSH private key
    /// for SSH, an ASCII-armored secret key for GPG. Windows line endings,
    /// surrounding blank space and newlines written as a literal `\n` (as some
    /// CI systems store multi-line secrets) are accepted.
    Inline(SecretString),
    /// GPG only: a key id, fingerprint or email of a secret key in the user's
    /// existing keyring (like git's `user.signingKey`), passed to `gpg -u` as
    /// is.
    KeyId(String),
}

/// Why a [`Signer`] could not be built or could not sign.
///
/// Messages say what failed, why, and what to do; they never contain key
/// material or passphrases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key file could not be read.
    #[error(
        "cannot read signing key file {path}: {cause}; check the signing key path and that the file is readable by ferry"
    )]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// What reading it reported.
        cause: io::Error,
    },
    /// The key text is not a key of the kind the format needs.
    #[error("signing key {key} {problem}; {hint}")]
    WrongKeyKind {
        /// The key: its path, or `(inline)`.
        key: String,
        /// What the key text is instead.
        problem: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// The SSH key could not be parsed.
    #[error(
        "signing key {key} is not a readable OpenSSH private key ({reason}); give the private key file written by ssh-keygen, which starts with `-----BEGIN OPENSSH PRIVATE KEY-----`"
    )]
    SshKeyInvalid {
        /// The key: its path, or `(inline)`.
        key: String,
        /// What the parser reported (never key material).
        reason: String,
    },
    /// The key is protected by a passphrase.
    #[error(
        "signing key {key} is encrypted with a passphrase; ferry signs unattended: use a key without a passphrase stored as a CI secret{hint}"
    )]
    KeyEncrypted {
        /// The key: its path, `(inline)`, or the GPG key id.
        key: String,
        /// How to remove the passphrase, with a leading separator; may be empty.
        hint: &'static str,
    },
    /// The SSH key's algorithm cannot sign here.
    #[error(
        "signing key {key} uses {algorithm}, which ferry cannot sign with; use an ed25519 key (`ssh-keygen -t ed25519`), or an RSA or ECDSA P-256 key"
    )]
    SshKeyUnsupported {
        /// The key: its path, or `(inline)`.
        key: String,
        /// The key's algorithm.
        algorithm: String,
    },
    /// Signing with the SSH key failed.
    #[error("signing the commit with SSH key {key} failed: {reason}; check that the key is intact")]
    SshSign {
        /// The key, as [`Signer::describe`] gives it.
        key: String,
        /// What the signer reported (never key material).
        reason: String,
    },
    /// SSH signing was asked for with a GPG key id.
    #[error(
        "SSH signing needs a private key file or inline private key, not a key id ({key_id}); ferry does not use ssh-agent"
    )]
    KeyIdForSsh {
        /// The key id given.
        key_id: String,
    },
    /// The GPG key id is empty.
    #[error("the GPG signing key id is empty; give a key id, fingerprint or email of a secret key")]
    EmptyKeyId,
    /// A program could not be started.
    #[error("cannot run `{program}`: {cause}; install GnuPG and make sure `{program}` is on PATH")]
    Spawn {
        /// The program.
        program: &'static str,
        /// What starting it reported.
        cause: io::Error,
    },
    /// Talking to a running program failed.
    #[error("cannot pass data to `{program}`: {cause}; run the same command by hand to see why")]
    Pipe {
        /// The program.
        program: &'static str,
        /// What writing or reading reported.
        cause: io::Error,
    },
    /// `gpg` failed.
    #[error("gpg failed to {action} ({status}): {stderr}; {hint}")]
    Gpg {
        /// What gpg was asked to do.
        action: String,
        /// How gpg exited.
        status: String,
        /// gpg's diagnostics (gpg prints no key material or passphrases).
        stderr: String,
        /// What to do.
        hint: &'static str,
    },
    /// The GPG key material holds no secret key, or several.
    #[error(
        "signing key {key} {problem}; export exactly one key with `gpg --export-secret-keys --armor <fingerprint>`"
    )]
    GpgKeyCount {
        /// The key: its path, or `(inline)`.
        key: String,
        /// What it holds instead.
        problem: String,
    },
    /// No secret key in the user's keyring matches the key id.
    #[error(
        "no secret key for GPG key id {key_id} in the keyring ({stderr}); list the available keys with `gpg --list-secret-keys --keyid-format long`"
    )]
    GpgKeyNotFound {
        /// The key id given.
        key_id: String,
        /// gpg's diagnostics.
        stderr: String,
    },
    /// The GPG key has no usable signing capability.
    #[error(
        "GPG key {key} cannot sign: it is expired, revoked or disabled, or has no signing (sub)key; extend it with `gpg --quick-set-expire` or use another key"
    )]
    GpgKeyCannotSign {
        /// The key's fingerprint or the key id given.
        key: String,
    },
    /// The private GnuPG home could not be made.
    #[error(
        "cannot create a private GnuPG home for the signing key in {dir}: {cause}; point TMPDIR at a writable directory"
    )]
    GpgHome {
        /// The directory it was to be made in.
        dir: PathBuf,
        /// What creating it reported.
        cause: io::Error,
    },
}

/// Signs commit buffers with one key.
///
/// Build it once with [`Signer::new`], which loads and checks the key, then
/// call [`Signer::sign`] for each commit. `Debug` shows only
/// [`Signer::describe`].
pub struct Signer {
    backend: Backend,
}

enum Backend {
    Ssh(Box<SshKey>),
    Gpg(GpgKey),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("format", &self.format())
            .field("key", &self.describe())
            .finish()
    }
}

impl Signer {
    /// Loads and checks the key.
    ///
    /// SSH keys are parsed here; encrypted keys, and algorithms other than
    /// ed25519, RSA and ECDSA P-256, are refused. A GPG key given as material
    /// is imported into a private GnuPG home and test-signed (so a passphrase
    /// is found now); a GPG key id must name a secret key able to sign.
    ///
    /// # Errors
    ///
    /// A [`SignError`] saying what is wrong with the key and what to do.
    pub fn new(format: Format, key: KeySource) -> Result<Self, SignError> {
        let backend = match (format, key) {
            (Format::Ssh, KeySource::KeyId(key_id)) => {
                return Err(SignError::KeyIdForSsh { key_id });
            }
            (Format::Ssh, KeySource::File(path)) => {
                let bytes = read_key_file(&path)?;
                Backend::Ssh(Box::new(SshKey::load(
                    bytes.expose_secret(),
                    &path.display().to_string(),
                )?))
            }
            (Format::Ssh, KeySource::Inline(text)) => Backend::Ssh(Box::new(SshKey::load(
                text.expose_secret().as_bytes(),
                INLINE,
            )?)),
            (Format::Gpg, KeySource::KeyId(key_id)) => {
                Backend::Gpg(GpgKey::from_keyring(&key_id, None)?)
            }
            (Format::Gpg, KeySource::File(path)) => {
                let bytes = read_key_file(&path)?;
                Backend::Gpg(GpgKey::import(
                    bytes.expose_secret(),
                    &path.display().to_string(),
                )?)
            }
            (Format::Gpg, KeySource::Inline(text)) => {
                Backend::Gpg(GpgKey::import(text.expose_secret().as_bytes(), INLINE)?)
            }
        };
        let signer = Self { backend };
        tracing::debug!(signer = %signer.describe(), "loaded commit signing key");
        Ok(signer)
    }

    /// Signs a commit buffer (as from git2's `Repository::commit_create_buffer`).
    ///
    /// Returns the armored signature for the commit's `gpgsig` header, without
    /// a trailing newline: pass it to git2's
    /// `Repository::commit_signed(buffer, signature, None)`, which adds the
    /// header's final newline itself (so the commit is byte for byte what
    /// `git commit -S` writes).
    ///
    /// # Errors
    ///
    /// [`SignError::SshSign`] if the SSH signer fails; for GPG, a
    /// [`SignError`] carrying gpg's diagnostics and a hint.
    pub fn sign(&self, commit: &[u8]) -> Result<String, SignError> {
        tracing::debug!(signer = %self.describe(), bytes = commit.len(), "signing commit");
        let signature = match &self.backend {
            Backend::Ssh(key) => key.sign(commit)?,
            Backend::Gpg(key) => key.sign(commit, "sign the commit")?,
        };
        Ok(signature.trim_end().to_owned())
    }

    /// A description for logs, free of secrets: e.g.
    /// `ssh ed25519 SHA256:…` or `gpg key <fingerprint> (<user id>)`.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Ssh(key) => key.description.clone(),
            Backend::Gpg(key) => key.description.clone(),
        }
    }

    /// How this signer signs.
    #[must_use]
    pub fn format(&self) -> Format {
        match self.backend {
            Backend::Ssh(_) => Format::Ssh,
            Backend::Gpg(_) => Format::Gpg,
        }
    }
}

/// How an inline key is named in messages.
const INLINE: &str = "(inline)";

fn read_key_file(path: &Path) -> Result<SecretSlice<u8>, SignError> {
    fs::read(path)
        .map(SecretSlice::from)
        .map_err(|cause| SignError::ReadKey {
            path: path.to_owned(),
            cause,
        })
}

/// What a key text looks like, for messages about the wrong kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    OpenSsh,
    SshPublic,
    Pem,
    Putty,
    PgpSecret,
    PgpPublic,
    Unknown,
}

fn key_kind(bytes: &[u8]) -> KeyKind {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return KeyKind::Unknown;
    };
    let text = text.trim_start();
    if text.contains(OPENSSH_BEGIN) {
        KeyKind::OpenSsh
    } else if text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
        KeyKind::PgpSecret
    } else if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        KeyKind::PgpPublic
    } else if ["RSA ", "EC ", "DSA ", "ENCRYPTED ", ""]
        .iter()
        .any(|kind| text.contains(&format!("-----BEGIN {kind}PRIVATE KEY-----")))
    {
        KeyKind::Pem
    } else if text.starts_with("PuTTY-User-Key-File") {
        KeyKind::Putty
    } else if ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
    {
        KeyKind::SshPublic
    } else {
        KeyKind::Unknown
    }
}

/// Undoes what CI secret stores do to multi-line text: Windows line endings,
/// surrounding blank space, newlines written as `\n` (PEM and armor never
/// contain a backslash, so this cannot change a valid key).
fn normalize_text(text: &str) -> Zeroizing<String> {
    let text = text.trim();
    let separator = if !text.contains('\n') && text.contains("\\n") {
        "\\n"
    } else {
        "\n"
    };
    // Sized up front: a reallocation would leave a copy of the key behind.
    let mut normalized = Zeroizing::new(String::with_capacity(text.len() + 1));
    for line in text.split(separator) {
        let line = line
            .strip_suffix('\r')
            .or_else(|| line.strip_suffix("\\r"))
            .unwrap_or(line);
        normalized.push_str(line);
        normalized.push('\n');
    }
    normalized
}

/// The armor of an OpenSSH private key file.
pub(super) const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
pub(super) const OPENSSH_END: &str = "-----END OPENSSH PRIVATE KEY-----";

#[cfg(test)]
mod tests {
    use super::fixture::{Fixture, public_key, ssh_keygen};
    use super::*;

    #[test]
    fn debug_and_describe_show_no_key_material() {
        let fixture = Fixture::new();
        let key = ssh_keygen(fixture.dir.path(), "key", &["-t", "ed25519"], "");
        let text = fs::read_to_string(&key).expect("key");
        let source = KeySource::Inline(SecretString::from(text.clone()));
        let source_debug = format!("{source:?}");
        let signer = Signer::new(Format::Ssh, source).expect("signer");
        let public = public_key(&key);
        let public_body = public.split_whitespace().nth(1).expect("public key body");
        for shown in [source_debug, format!("{signer:?}"), signer.describe()] {
            for line in text.lines().filter(|line| !line.starts_with("-----")) {
                assert!(!shown.contains(line), "{shown}");
            }
            assert!(!shown.contains(public_body), "{shown}");
        }
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Signer>();
        assert_send_sync::<SignError>();
    }
}
