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

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64ct::{Base64, Encoding as _};
use rsa::signature::SignatureEncoding; // Cargo.toml: rsa = { version = "0.9.10", default-features = false, features = ["sha2"] }
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use ssh_key::private::RsaKeypair;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, Mpint, PrivateKey, SshSig};

/// The SSH signature namespace git signs and verifies commits with.
const SSH_NAMESPACE: &str = "git";

/// The OpenPGP program, as git's default `gpg.program`.
const GPG: &str = "gpg";

/// GnuPG's configuration tool, used to stop the agent of a private home.
const GPGCONF: &str = "gpgconf";

/// Longest stretch of `gpg` diagnostics quoted in an error.
const MAX_STDERR: usize = 2000;

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

struct SshKey {
    key: PrivateKey,
    /// RSA keys sign through the `rsa` crate: see [`rsa_signing_key`].
    rsa: Option<RsaSigningKey>,
    description: String,
}

type RsaSigningKey = rsa::pkcs1v15::SigningKey<rsa::sha2::Sha512>;

struct GpgKey {
    home: GpgHome,
    /// What `gpg -u` gets.
    user: String,
    description: String,
}

enum GpgHome {
    /// The user's keyring: `GNUPGHOME` or `~/.gnupg`, or the given directory.
    Keyring(Option<PathBuf>),
    /// A temporary home holding only the imported key; no passphrase prompts.
    Private(PrivateHome),
}

impl GpgHome {
    fn dir(&self) -> Option<&Path> {
        match self {
            Self::Keyring(dir) => dir.as_deref(),
            Self::Private(home) => Some(&home.path),
        }
    }
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
const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_END: &str = "-----END OPENSSH PRIVATE KEY-----";

/// Re-encodes an unencrypted OpenSSH ECDSA key whose private scalar is
/// shorter than its curve's size, or returns `None` when the key needs no
/// change (any other key, or one this cannot read: the decoder then says
/// what is wrong with it).
///
/// OpenSSH stores the scalar as the shortest mpint, so when its top byte is
/// zero (about one P-256 key in 512 from `ssh-keygen`) it is 31 bytes long.
/// ssh-key 0.6.7's `EcdsaPrivateKey::decode` reads exactly the curve's size
/// (or one more, for a sign byte) and refuses it as "length invalid". The
/// scalar is written back zero-padded to full width, which is the same
/// number, and the private section's padding is recomputed to match.
fn widen_ecdsa_scalar(text: &str) -> Option<Zeroizing<String>> {
    const MAGIC: &[u8] = b"openssh-key-v1\0";
    /// The private section of an unencrypted key is padded to 8 bytes.
    const BLOCK: usize = 8;
    let body = text
        .trim()
        .strip_prefix(OPENSSH_BEGIN)?
        .strip_suffix(OPENSSH_END)?;
    let mut armored = Zeroizing::new(String::with_capacity(body.len()));
    armored.extend(body.chars().filter(|c| !c.is_ascii_whitespace()));
    let blob = Zeroizing::new(Base64::decode_vec(&armored).ok()?);

    let mut outer = SshReader::new(&blob);
    (outer.take(MAGIC.len())? == MAGIC).then_some(())?;
    (outer.string()? == b"none").then_some(())?; // cipher
    outer.string()?; // kdf name
    outer.string()?; // kdf options
    (outer.u32()? == 1).then_some(())?; // one key
    outer.string()?; // public key
    let section_at = outer.at;
    let section = outer.string()?;
    outer.is_done().then_some(())?;

    let mut inner = SshReader::new(section);
    inner.take(8)?; // the two check integers
    let size = match inner.string()? {
        b"ecdsa-sha2-nistp256" => 32,
        b"ecdsa-sha2-nistp384" => 48,
        b"ecdsa-sha2-nistp521" => 66,
        _ => return None,
    };
    inner.string()?; // curve
    inner.string()?; // public point
    let scalar_at = inner.at;
    let scalar = inner.string()?;
    if scalar.len() >= size {
        return None;
    }
    inner.string()?; // comment
    let unpadded = inner.at;

    // Sized up front: a reallocation would leave a copy of the key behind.
    let mut widened = Zeroizing::new(Vec::with_capacity(section.len() + size + BLOCK));
    widened.extend_from_slice(&section[..scalar_at]);
    widened.extend_from_slice(&u32::try_from(size).ok()?.to_be_bytes());
    let zero_padded = widened.len() + size - scalar.len();
    widened.resize(zero_padded, 0);
    widened.extend_from_slice(scalar);
    widened.extend_from_slice(&section[scalar_at + 4 + scalar.len()..unpadded]);
    let padding = (BLOCK - widened.len() % BLOCK) % BLOCK;
    widened.extend((1..=padding).map(|byte| byte as u8));

    let mut rebuilt = Zeroizing::new(Vec::with_capacity(section_at + 4 + widened.len()));
    rebuilt.extend_from_slice(&blob[..section_at]);
    rebuilt.extend_from_slice(&u32::try_from(widened.len()).ok()?.to_be_bytes());
    rebuilt.extend_from_slice(&widened);
    let encoded = Zeroizing::new(Base64::encode_string(&rebuilt));
    let mut out = Zeroizing::new(String::with_capacity(
        OPENSSH_BEGIN.len() + OPENSSH_END.len() + encoded.len() + encoded.len() / 70 + 3,
    ));
    out.push_str(OPENSSH_BEGIN);
    out.push('\n');
    for line in encoded.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(line).ok()?);
        out.push('\n');
    }
    out.push_str(OPENSSH_END);
    out.push('\n');
    Some(out)
}

/// Reads the SSH wire encoding (RFC 4251 section 5): big-endian `uint32`s and
/// length-prefixed strings.
struct SshReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> SshReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(taken)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }

    fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

impl SshKey {
    fn load(bytes: &[u8], origin: &str) -> Result<Self, SignError> {
        let wrong = |problem, hint| SignError::WrongKeyKind {
            key: origin.to_owned(),
            problem,
            hint,
        };
        match key_kind(bytes) {
            KeyKind::OpenSsh => {}
            KeyKind::Unknown => {
                return Err(SignError::SshKeyInvalid {
                    key: origin.to_owned(),
                    reason: "it has no OpenSSH private key header".to_owned(),
                });
            }
            KeyKind::SshPublic => {
                return Err(wrong(
                    "is an SSH public key",
                    "give the private key (the file without `.pub`)",
                ));
            }
            KeyKind::Pem => {
                return Err(wrong(
                    "is a PEM (PKCS#1/PKCS#8) private key, but ferry reads only the OpenSSH format",
                    "convert a copy with `ssh-keygen -p -N \"\" -f <copy>`, which rewrites it in OpenSSH format",
                ));
            }
            KeyKind::Putty => {
                return Err(wrong(
                    "is a PuTTY key",
                    "export it in OpenSSH format with `puttygen <key> -O private-openssh-new -o <file>`",
                ));
            }
            KeyKind::PgpSecret | KeyKind::PgpPublic => {
                return Err(wrong(
                    "is an OpenPGP key",
                    "set the signing format to gpg, or give an SSH key",
                ));
            }
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(SignError::SshKeyInvalid {
                key: origin.to_owned(),
                reason: "it is not text".to_owned(),
            });
        };
        let text = normalize_text(text);
        let text = widen_ecdsa_scalar(&text).unwrap_or(text);
        let key =
            PrivateKey::from_openssh(text.as_bytes()).map_err(|err| SignError::SshKeyInvalid {
                key: origin.to_owned(),
                reason: err.to_string(),
            })?;
        if key.is_encrypted() {
            return Err(SignError::KeyEncrypted {
                key: origin.to_owned(),
                hint: " (to remove the passphrase from a copy: `ssh-keygen -p -N \"\" -f <copy>`)",
            });
        }
        let algorithm = match key.algorithm() {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa { .. } => "rsa",
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            } => "ecdsa-p256",
            other => {
                return Err(SignError::SshKeyUnsupported {
                    key: origin.to_owned(),
                    algorithm: other.to_string(),
                });
            }
        };
        let rsa = match key.key_data().rsa() {
            Some(keypair) => {
                Some(
                    rsa_signing_key(keypair).map_err(|err| SignError::SshKeyInvalid {
                        key: origin.to_owned(),
                        reason: format!("its RSA parameters are inconsistent: {err}"),
                    })?,
                )
            }
            None => None,
        };
        let description = format!("ssh {algorithm} {}", key.fingerprint(HashAlg::Sha256));
        Ok(Self {
            key,
            rsa,
            description,
        })
    }

    fn sign(&self, commit: &[u8]) -> Result<String, SignError> {
        let failed = |reason: String| SignError::SshSign {
            key: self.description.clone(),
            reason,
        };
        let signature = match &self.rsa {
            None => self.key.sign(SSH_NAMESPACE, HashAlg::Sha512, commit),
            Some(rsa) => {
                // What `SshSig::sign` does, with the RSA step done right.
                let data = SshSig::signed_data(SSH_NAMESPACE, HashAlg::Sha512, commit)
                    .map_err(|err| failed(err.to_string()))?;
                let raw = rsa::signature::Signer::try_sign(rsa, &data)
                    .map_err(|err| failed(err.to_string()))?;
                let algorithm = Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                };
                ssh_key::Signature::new(algorithm, raw.to_vec()).and_then(|signature| {
                    let public = self.key.public_key().key_data().clone();
                    SshSig::new(public, SSH_NAMESPACE, HashAlg::Sha512, signature)
                })
            }
        };
        signature
            .and_then(|signature| signature.to_pem(LineEnding::LF))
            .map_err(|err| failed(err.to_string()))
    }
}

/// An `rsa-sha2-512` signing key for an RSA keypair.
///
/// ssh-key 0.6.7 cannot sign with RSA keys: its conversion to
/// `rsa::RsaPrivateKey` passes the prime `p` twice instead of `p` and `q`,
/// which rsa >= 0.9.7 rejects ("cryptographic error"; fixed upstream after
/// 0.6.7 by RustCrypto/SSH#217, see RustCrypto/SSH#387). So the key is built
/// here from its components, and checked by the `rsa` crate on the way.
fn rsa_signing_key(keypair: &RsaKeypair) -> Result<RsaSigningKey, rsa::Error> {
    let int = |mpint: &Mpint| rsa::BigUint::from_bytes_be(mpint.as_bytes());
    let private = rsa::RsaPrivateKey::from_components(
        int(&keypair.public.n),
        int(&keypair.public.e),
        int(&keypair.private.d),
        vec![int(&keypair.private.p), int(&keypair.private.q)],
    )?;
    Ok(RsaSigningKey::new(private))
}

/// One secret key from `gpg --with-colons --list-secret-keys`.
#[derive(Debug, Default)]
struct GpgListing {
    fingerprint: String,
    user_id: Option<String>,
    can_sign: bool,
}

/// Parses `gpg --with-colons --list-secret-keys` output (see GnuPG's
/// doc/DETAILS): a `sec` record per key, its `fpr` next, then `uid` records.
fn parse_secret_keys(listing: &str) -> Vec<GpgListing> {
    let mut keys: Vec<GpgListing> = Vec::new();
    let mut previous = "";
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let field = |n: usize| fields.get(n).copied().unwrap_or_default();
        match field(0) {
            "sec" => keys.push(GpgListing {
                can_sign: field(11).contains('S'),
                ..GpgListing::default()
            }),
            "fpr" if previous == "sec" => {
                if let Some(key) = keys.last_mut() {
                    field(9).clone_into(&mut key.fingerprint);
                }
            }
            "uid" => {
                if let Some(key) = keys.last_mut().filter(|key| key.user_id.is_none()) {
                    key.user_id = Some(unescape_colons(field(9)));
                }
            }
            _ => {}
        }
        previous = field(0);
    }
    keys
}

/// Undoes the C-style `\xHH` escapes of gpg's colon listings.
fn unescape_colons(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let escaped = (first == b'\\' && tail.first() == Some(&b'x'))
            .then(|| tail.get(1..3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        if let Some(byte) = escaped {
            bytes.push(byte);
            rest = &tail[3..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn describe_gpg(key: &GpgListing) -> String {
    match &key.user_id {
        Some(user_id) => format!("gpg key {} ({user_id})", key.fingerprint),
        None => format!("gpg key {}", key.fingerprint),
    }
}

impl GpgKey {
    /// A key in the user's keyring, or in `homedir` when given.
    fn from_keyring(key_id: &str, homedir: Option<PathBuf>) -> Result<Self, SignError> {
        let key_id = key_id.trim().to_owned();
        if key_id.is_empty() {
            return Err(SignError::EmptyKeyId);
        }
        let home = GpgHome::Keyring(homedir);
        let output = run_gpg(
            home.dir(),
            &[
                "--batch",
                "--no-tty",
                "--with-colons",
                "--list-secret-keys",
                "--",
                &key_id,
            ],
            b"",
        )?;
        let keys = parse_secret_keys(&String::from_utf8_lossy(&output.stdout));
        if !output.status.success() || keys.is_empty() {
            return Err(SignError::GpgKeyNotFound {
                key_id,
                stderr: quote_stderr(&output.stderr),
            });
        }
        if !keys.iter().any(|key| key.can_sign) {
            return Err(SignError::GpgKeyCannotSign { key: key_id });
        }
        let description = match keys.as_slice() {
            [key] => describe_gpg(key),
            _ => format!(
                "gpg key {key_id} (matches {} secret keys; gpg picks one)",
                keys.len()
            ),
        };
        Ok(Self {
            home,
            user: key_id,
            description,
        })
    }

    /// Imports secret key material into a private home and test-signs.
    fn import(material: &[u8], origin: &str) -> Result<Self, SignError> {
        let wrong = |problem, hint| SignError::WrongKeyKind {
            key: origin.to_owned(),
            problem,
            hint,
        };
        match key_kind(material) {
            KeyKind::PgpSecret | KeyKind::Unknown => {}
            KeyKind::PgpPublic => {
                return Err(wrong(
                    "is an OpenPGP public key",
                    "export the secret key with `gpg --export-secret-keys --armor <fingerprint>`",
                ));
            }
            KeyKind::OpenSsh | KeyKind::SshPublic | KeyKind::Pem | KeyKind::Putty => {
                return Err(wrong(
                    "is an SSH or PEM key, not an OpenPGP key",
                    "set the signing format to ssh",
                ));
            }
        }
        let normalized = std::str::from_utf8(material).ok().map(normalize_text);
        let material = normalized.as_ref().map_or(material, |text| text.as_bytes());

        let home = GpgHome::Private(PrivateHome::create()?);
        let output = run_gpg(
            home.dir(),
            &["--batch", "--no-tty", "--status-fd", "2", "--import"],
            material,
        )?;
        if !output.status.success() {
            return Err(gpg_failed("import the signing key", &output));
        }
        let output = run_gpg(
            home.dir(),
            &["--batch", "--no-tty", "--with-colons", "--list-secret-keys"],
            b"",
        )?;
        if !output.status.success() {
            return Err(gpg_failed("list the imported key", &output));
        }
        let keys = parse_secret_keys(&String::from_utf8_lossy(&output.stdout));
        let key = match keys.as_slice() {
            [key] => key,
            [] => {
                return Err(SignError::GpgKeyCount {
                    key: origin.to_owned(),
                    problem: "holds no OpenPGP secret key (only a public key?)".to_owned(),
                });
            }
            several => {
                let fingerprints: Vec<&str> =
                    several.iter().map(|key| key.fingerprint.as_str()).collect();
                return Err(SignError::GpgKeyCount {
                    key: origin.to_owned(),
                    problem: format!(
                        "holds {} secret keys ({})",
                        several.len(),
                        fingerprints.join(", ")
                    ),
                });
            }
        };
        if !key.can_sign {
            return Err(SignError::GpgKeyCannotSign {
                key: key.fingerprint.clone(),
            });
        }
        let signer = Self {
            user: key.fingerprint.clone(),
            description: describe_gpg(key),
            home,
        };
        signer
            .sign(
                b"ferry: signing key check\n",
                "test-sign with the imported key",
            )
            .map_err(|err| match err {
                SignError::Gpg { stderr, .. } if needs_passphrase(&stderr) => {
                    SignError::KeyEncrypted {
                        key: origin.to_owned(),
                        hint: GPG_PASSPHRASE_REMOVAL,
                    }
                }
                other => other,
            })?;
        Ok(signer)
    }

    fn sign(&self, commit: &[u8], action: &str) -> Result<String, SignError> {
        let mut args = vec!["--batch", "--no-tty"];
        if matches!(self.home, GpgHome::Private(_)) {
            // Nobody could answer a passphrase prompt: fail at once instead.
            args.extend(["--pinentry-mode", "error"]);
        }
        args.extend(["--status-fd", "2", "-bsau", &self.user]);
        let output = run_gpg(self.home.dir(), &args, commit)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // git's own test: a SIG_CREATED status line and an armored signature.
        let created = String::from_utf8_lossy(&output.stderr)
            .lines()
            .any(|line| line.starts_with("[GNUPG:] SIG_CREATED "));
        if !output.status.success() || !created || !stdout.contains("-----BEGIN PGP SIGNATURE-----")
        {
            return Err(gpg_failed(action, &output));
        }
        Ok(stdout.into_owned())
    }
}

const PASSPHRASE_HINT: &str = "the secret key is protected by a passphrase and nobody can type it; ferry signs unattended: use a key without a passphrase, or preset it in gpg-agent";
const GPG_PASSPHRASE_REMOVAL: &str = " (to remove the passphrase: `gpg --passwd <fingerprint>` with an empty passphrase, then export it again)";

/// Whether gpg failed for want of a passphrase nobody could type.
fn needs_passphrase(stderr: &str) -> bool {
    [
        "No pinentry",
        "Inappropriate ioctl",
        "No passphrase",
        "Bad passphrase",
        "Operation cancelled",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}

fn gpg_hint(stderr: &str) -> &'static str {
    let has = |needle: &str| stderr.contains(needle);
    if needs_passphrase(stderr) {
        PASSPHRASE_HINT
    } else if has("No secret key") || has("secret key not available") || has("unusable secret key")
    {
        "the key is not in the keyring or has no usable signing key; list keys with `gpg --list-secret-keys --keyid-format long`"
    } else if has("expired") || has("revoked") {
        "the key is expired or revoked; extend it with `gpg --quick-set-expire` or use another key"
    } else if has("no valid OpenPGP data") {
        "the key material is not an OpenPGP key; export it with `gpg --export-secret-keys --armor <fingerprint>`"
    } else {
        "run the same gpg command by hand to see more"
    }
}

fn gpg_failed(action: &str, output: &Output) -> SignError {
    let stderr = quote_stderr(&output.stderr);
    SignError::Gpg {
        action: action.to_owned(),
        status: output.status.to_string(),
        hint: gpg_hint(&stderr),
        stderr,
    }
}

/// gpg's diagnostics on one line, shortened, without its machine-readable
/// status lines and "created" notices (unless nothing else is left).
fn quote_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let human: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| !line.starts_with("[GNUPG:]") && !line.ends_with(" created"))
        .collect();
    let mut quoted = if human.is_empty() { lines } else { human }.join(" | ");
    if quoted.is_empty() {
        return "no diagnostics".to_owned();
    }
    if quoted.len() > MAX_STDERR {
        let mut end = MAX_STDERR;
        while !quoted.is_char_boundary(end) {
            end -= 1;
        }
        quoted.truncate(end);
        quoted.push('…');
    }
    quoted
}

/// Runs gpg with `input` on stdin; messages in English for [`gpg_hint`].
fn run_gpg(homedir: Option<&Path>, args: &[&str], input: &[u8]) -> Result<Output, SignError> {
    let mut command = Command::new(GPG);
    if let Some(dir) = homedir {
        command.arg("--homedir").arg(dir);
    }
    command
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run(command, GPG, input)
}

/// Runs a command, feeding `input` from another thread so that neither side
/// blocks on a full pipe.
fn run(mut command: Command, program: &'static str, input: &[u8]) -> Result<Output, SignError> {
    let mut child = command
        .spawn()
        .map_err(|cause| SignError::Spawn { program, cause })?;
    let stdin = child.stdin.take();
    let (written, output) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || match stdin {
            Some(mut stdin) => stdin.write_all(input),
            None => Ok(()),
        });
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = output.map_err(|cause| SignError::Pipe { program, cause })?;
    match written {
        Ok(Ok(())) => Ok(output),
        // A program that failed may stop reading early: its status says more.
        Ok(Err(_)) | Err(_) if !output.status.success() => Ok(output),
        Ok(Err(cause)) => Err(SignError::Pipe { program, cause }),
        Err(_) => Err(SignError::Pipe {
            program,
            cause: io::Error::other("the writer thread panicked"),
        }),
    }
}

/// A temporary GnuPG home (mode 0700), removed with its agent on drop.
struct PrivateHome {
    path: PathBuf,
}

impl PrivateHome {
    fn create() -> Result<Self, SignError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir();
        let failed = |cause| SignError::GpgHome {
            dir: dir.clone(),
            cause,
        };
        for _ in 0..64 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.subsec_nanos());
            let unique = nanos
                ^ COUNTER
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(0x9E37_79B9);
            let path = dir.join(format!("ferry-gnupg-{}-{unique:08x}", std::process::id()));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(failed(err)),
            }
        }
        Err(failed(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no unused directory name was found",
        )))
    }
}

impl Drop for PrivateHome {
    fn drop(&mut self) {
        // Importing and signing started a gpg-agent for this home: stop it
        // and remove its socket directory (under /run/user on some systems).
        for action in [&["--kill", "gpg-agent"][..], &["--remove-socketdir"][..]] {
            let status = Command::new(GPGCONF)
                .arg("--homedir")
                .arg(&self.path)
                .args(action.iter().map(OsStr::new))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(err) = status {
                tracing::debug!(error = %err, "cannot run gpgconf to stop the private gpg-agent");
            }
        }
        if let Err(err) = fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %err, "cannot remove the private GnuPG home");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Oid, Repository};
    use tempfile::TempDir;

    /// Runs a program with git isolated from the machine's configuration.
    fn command(program: &str, envs: &[(&str, &OsStr)]) -> Command {
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

    fn run_ok(mut command: Command) -> Output {
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
    fn ssh_keygen(dir: &Path, name: &str, args: &[&str], passphrase: &str) -> PathBuf {
        let path = dir.join(name);
        let mut command = command("ssh-keygen", &[]);
        command
            .args(args)
            .args(["-q", "-N", passphrase, "-C", "ferry-test", "-f"])
            .arg(&path);
        run_ok(command);
        path
    }

    fn public_key(private: &Path) -> String {
        let mut public = private.as_os_str().to_owned();
        public.push(".pub");
        fs::read_to_string(public)
            .expect("public key")
            .trim()
            .to_owned()
    }

    struct Fixture {
        dir: TempDir,
        repo: Repository,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = TempDir::new().expect("tempdir");
            let repo = Repository::init(dir.path().join("repo")).expect("init");
            Self { dir, repo }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        /// The unsigned commit buffer: one file, fixed author and dates.
        fn buffer(&self, message: &str) -> String {
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
        fn commit(&self, signer: &Signer) -> Oid {
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

        fn allowed_signers(&self, public_keys: &[&str]) -> PathBuf {
            let path = self.path("allowed_signers");
            let lines: String = public_keys
                .iter()
                .map(|key| format!("ferry@example.com namespaces=\"git\" {key}\n"))
                .collect();
            fs::write(&path, lines).expect("allowed signers");
            path
        }

        /// `git verify-commit` with SSH signatures allowed for `allowed`.
        fn verify_ssh(&self, oid: Oid, allowed: &Path) -> Output {
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
        fn verify_gpg(&self, oid: Oid, gnupg_home: &Path) -> Output {
            let mut command = command("git", &[("GNUPGHOME", gnupg_home.as_os_str())]);
            command
                .arg("-C")
                .arg(self.repo.path())
                .args(["verify-commit", &oid.to_string()]);
            command.output().expect("git verify-commit")
        }

        /// The same commit made by git itself, signed with `key`.
        fn git_signed_commit(&self, key: &Path) -> Oid {
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

    fn assert_verified(output: &Output) {
        assert!(
            output.status.success(),
            "verify-commit failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn assert_rejected(output: &Output) {
        assert!(
            !output.status.success(),
            "verify-commit accepted: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn ssh_round_trip(keygen_args: &[&str], algorithm: &str) {
        let fixture = Fixture::new();
        let key = ssh_keygen(fixture.dir.path(), "key", keygen_args, "");
        let signer = Signer::new(Format::Ssh, KeySource::File(key.clone())).expect("signer");
        assert!(
            signer
                .describe()
                .starts_with(&format!("ssh {algorithm} SHA256:")),
            "{signer:?}"
        );
        let oid = fixture.commit(&signer);
        let allowed = fixture.allowed_signers(&[&public_key(&key)]);
        assert_verified(&fixture.verify_ssh(oid, &allowed));

        // A commit whose content changed after signing is refused.
        let commit = fixture.repo.find_commit(oid).expect("commit");
        let signature = commit.header_field_bytes("gpgsig").expect("gpgsig");
        let tampered = fixture.buffer("Bump cart to 6.6\n");
        let tampered = fixture
            .repo
            .commit_signed(&tampered, signature.as_str().expect("utf-8"), None)
            .expect("tampered commit");
        assert_rejected(&fixture.verify_ssh(tampered, &allowed));

        // So is the commit when another key is the allowed one.
        let other = ssh_keygen(fixture.dir.path(), "other", &["-t", "ed25519"], "");
        let allowed_other = fixture.allowed_signers(&[&public_key(&other)]);
        assert_rejected(&fixture.verify_ssh(oid, &allowed_other));
    }

    #[test]
    fn ssh_ed25519_signature_verifies_with_git() {
        ssh_round_trip(&["-t", "ed25519"], "ed25519");
    }

    #[test]
    fn ssh_rsa_signature_verifies_with_git() {
        ssh_round_trip(&["-t", "rsa", "-b", "3072"], "rsa");
    }

    #[test]
    fn ssh_ecdsa_p256_signature_verifies_with_git() {
        ssh_round_trip(&["-t", "ecdsa", "-b", "256"], "ecdsa-p256");
    }

    /// About one P-256 key in 512 stores its scalar in 31 bytes; this fixed
    /// one does (tests/fixtures/signing/README.md).
    #[test]
    fn ssh_ecdsa_key_with_a_short_scalar_signs_and_verifies_with_git() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/signing/ecdsa-p256-short-scalar");
        let text = fs::read_to_string(&source).expect("fixture key");
        let widened = widen_ecdsa_scalar(&text).expect("the fixture's scalar is short");
        assert!(PrivateKey::from_openssh(widened.as_bytes()).is_ok());

        let fixture = Fixture::new();
        let key = fixture.dir.path().join("short");
        fs::copy(&source, &key).expect("copy key");
        fs::copy(source.with_extension("pub"), key.with_extension("pub")).expect("copy public");
        let signer = Signer::new(Format::Ssh, KeySource::File(key.clone())).expect("signer");
        assert!(
            signer.describe().starts_with("ssh ecdsa-p256 SHA256:"),
            "{signer:?}"
        );
        let oid = fixture.commit(&signer);
        let allowed = fixture.allowed_signers(&[&public_key(&key)]);
        assert_verified(&fixture.verify_ssh(oid, &allowed));
    }

    #[test]
    fn keys_with_full_width_scalars_are_read_as_they_are() {
        let fixture = Fixture::new();
        for (name, args) in [
            ("ed25519", &["-t", "ed25519"][..]),
            ("ecdsa", &["-t", "ecdsa", "-b", "256"][..]),
        ] {
            let key = ssh_keygen(fixture.dir.path(), name, args, "");
            let text = fs::read_to_string(&key).expect("key");
            let short = widen_ecdsa_scalar(&text).is_some();
            // A fresh P-256 key is short one time in 512; only then may it change.
            assert!(!short || name == "ecdsa", "{name} changed");
        }
        assert!(widen_ecdsa_scalar("not a key").is_none());
        assert!(widen_ecdsa_scalar(&format!("{OPENSSH_BEGIN}\nAAAA\n{OPENSSH_END}\n")).is_none());
    }

    #[test]
    fn ssh_commit_is_byte_identical_to_git_commit_s() {
        // Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic, so the
        // commit ferry writes must be the very object `git commit -S` writes.
        for args in [&["-t", "ed25519"][..], &["-t", "rsa", "-b", "2048"][..]] {
            let fixture = Fixture::new();
            let key = ssh_keygen(fixture.dir.path(), "key", args, "");
            let signer = Signer::new(Format::Ssh, KeySource::File(key.clone())).expect("signer");
            assert_eq!(
                fixture.commit(&signer),
                fixture.git_signed_commit(&key),
                "{args:?}"
            );
        }
    }

    #[test]
    fn signature_is_armored_without_trailing_newline() {
        let fixture = Fixture::new();
        let key = ssh_keygen(fixture.dir.path(), "key", &["-t", "ed25519"], "");
        let signer = Signer::new(Format::Ssh, KeySource::File(key)).expect("signer");
        let signature = signer.sign(b"tree x\n\nmessage\n").expect("sign");
        assert!(
            signature.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
            "{signature}"
        );
        assert!(
            signature.ends_with("\n-----END SSH SIGNATURE-----"),
            "{signature}"
        );
    }

    #[test]
    fn inline_ssh_key_signs_like_the_file() {
        let fixture = Fixture::new();
        let key = ssh_keygen(fixture.dir.path(), "key", &["-t", "ed25519"], "");
        let text = fs::read_to_string(&key).expect("key");
        let allowed = fixture.allowed_signers(&[&public_key(&key)]);
        let from_file = Signer::new(Format::Ssh, KeySource::File(key)).expect("file signer");
        // As stored: plain, with Windows line endings, and with `\n` escapes.
        for text in [
            text.clone(),
            text.replace('\n', "\r\n"),
            text.trim().replace('\n', "\\n"),
        ] {
            let signer = Signer::new(Format::Ssh, KeySource::Inline(SecretString::from(text)))
                .expect("inline");
            assert_eq!(signer.describe(), from_file.describe());
            let oid = fixture.commit(&signer);
            assert_verified(&fixture.verify_ssh(oid, &allowed));
            assert_eq!(oid, fixture.commit(&from_file));
        }
    }

    #[test]
    fn encrypted_ssh_key_is_refused_without_showing_it() {
        let fixture = Fixture::new();
        let key = ssh_keygen(
            fixture.dir.path(),
            "key",
            &["-t", "ed25519"],
            "hunter2-pass",
        );
        let text = fs::read_to_string(&key).expect("key");
        let body = text.lines().nth(1).expect("base64 line").to_owned();

        let err = Signer::new(Format::Ssh, KeySource::File(key.clone())).expect_err("encrypted");
        assert!(matches!(err, SignError::KeyEncrypted { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "signing key {} is encrypted with a passphrase; ferry signs unattended: use a key without a passphrase stored as a CI secret",
                key.display()
            )),
            "{message}"
        );

        let err = Signer::new(Format::Ssh, KeySource::Inline(SecretString::from(text)))
            .expect_err("encrypted");
        assert!(
            err.to_string()
                .starts_with("signing key (inline) is encrypted with a passphrase"),
            "{err}"
        );
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(
                !shown.contains(&body) && !shown.contains("hunter2"),
                "{shown}"
            );
        }
    }

    #[test]
    fn wrong_ssh_keys_are_explained() {
        let fixture = Fixture::new();
        let cases: [(&[&str], &str); 2] = [
            (
                &["-t", "rsa", "-b", "2048", "-m", "PEM"],
                "PEM (PKCS#1/PKCS#8)",
            ),
            (&["-t", "ed25519"], "is an SSH public key"),
        ];
        for (index, (args, expected)) in cases.into_iter().enumerate() {
            let key = ssh_keygen(fixture.dir.path(), &format!("key{index}"), args, "");
            let path = if expected.contains("public") {
                let mut public = key.into_os_string();
                public.push(".pub");
                PathBuf::from(public)
            } else {
                key
            };
            let err = Signer::new(Format::Ssh, KeySource::File(path)).expect_err("wrong key");
            assert!(err.to_string().contains(expected), "{err}");
        }

        let missing = fixture.path("missing");
        let err = Signer::new(Format::Ssh, KeySource::File(missing)).expect_err("missing");
        assert!(matches!(err, SignError::ReadKey { .. }), "{err:?}");

        let garbage = SecretString::from(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        );
        let err = Signer::new(Format::Ssh, KeySource::Inline(garbage)).expect_err("garbage");
        assert!(matches!(err, SignError::SshKeyInvalid { .. }), "{err:?}");

        let err =
            Signer::new(Format::Ssh, KeySource::KeyId("ABCD".to_owned())).expect_err("key id");
        assert!(matches!(err, SignError::KeyIdForSsh { .. }), "{err:?}");
    }

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

    /// A GnuPG home with one key, its agent stopped on drop.
    struct GnupgHome {
        dir: TempDir,
    }

    impl GnupgHome {
        fn with_key(passphrase: &str) -> Self {
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

        fn gpg(&self, args: &[&str]) -> Command {
            let mut command = command("gpg", &[("GNUPGHOME", self.dir.path().as_os_str())]);
            command.args(["--batch", "--no-tty"]).args(args);
            command
        }

        fn export_secret(&self, passphrase: &str) -> String {
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

        fn export_public(&self) -> String {
            String::from_utf8(run_ok(self.gpg(&["--export", "--armor"])).stdout).expect("armor")
        }

        fn fingerprint(&self) -> String {
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

    fn private_home(signer: &Signer) -> PathBuf {
        match &signer.backend {
            Backend::Gpg(GpgKey {
                home: GpgHome::Private(home),
                ..
            }) => home.path.clone(),
            _ => panic!("not a private home"),
        }
    }

    #[test]
    fn gpg_inline_key_signature_verifies_with_git() {
        let fixture = Fixture::new();
        let gnupg = GnupgHome::with_key("");
        let fingerprint = gnupg.fingerprint();
        let exported = gnupg.export_secret("");

        let signer = Signer::new(
            Format::Gpg,
            KeySource::Inline(SecretString::from(exported.clone())),
        )
        .expect("signer");
        assert_eq!(
            signer.describe(),
            format!("gpg key {fingerprint} (Ferry Test <ferry@example.com>)")
        );
        let home = private_home(&signer);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&home).expect("home").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }

        let oid = fixture.commit(&signer);
        let signature = fixture
            .repo
            .find_commit(oid)
            .expect("commit")
            .header_field_bytes("gpgsig");
        assert!(
            signature
                .expect("gpgsig")
                .starts_with(b"-----BEGIN PGP SIGNATURE-----")
        );
        let output = fixture.verify_gpg(oid, gnupg.dir.path());
        assert_verified(&output);
        assert!(String::from_utf8_lossy(&output.stderr).contains("Good signature"));

        // A tampered commit is refused.
        let signature = fixture.repo.find_commit(oid).expect("commit");
        let signature = signature.header_field_bytes("gpgsig").expect("gpgsig");
        let tampered = fixture.buffer("Bump cart to 6.6\n");
        let tampered = fixture
            .repo
            .commit_signed(&tampered, signature.as_str().expect("utf-8"), None)
            .expect("tampered");
        assert_rejected(&fixture.verify_gpg(tampered, gnupg.dir.path()));

        // The private home goes away with the signer.
        drop(signer);
        assert!(!home.exists(), "{} left behind", home.display());

        // The same key from a file.
        let file = fixture.path("key.asc");
        fs::write(&file, exported).expect("write key");
        let signer = Signer::new(Format::Gpg, KeySource::File(file)).expect("file signer");
        assert_verified(&fixture.verify_gpg(fixture.commit(&signer), gnupg.dir.path()));
    }

    #[test]
    fn gpg_key_id_uses_the_keyring() {
        let fixture = Fixture::new();
        let gnupg = GnupgHome::with_key("");
        let key = GpgKey::from_keyring("ferry@example.com", Some(gnupg.dir.path().to_owned()))
            .expect("key");
        let signer = Signer {
            backend: Backend::Gpg(key),
        };
        assert_eq!(
            signer.describe(),
            format!(
                "gpg key {} (Ferry Test <ferry@example.com>)",
                gnupg.fingerprint()
            )
        );
        assert_verified(&fixture.verify_gpg(fixture.commit(&signer), gnupg.dir.path()));

        let err = GpgKey::from_keyring("nobody@example.com", Some(gnupg.dir.path().to_owned()))
            .err()
            .expect("unknown key");
        assert!(matches!(err, SignError::GpgKeyNotFound { .. }), "{err:?}");
        let err = Signer::new(Format::Gpg, KeySource::KeyId("  ".to_owned())).expect_err("empty");
        assert!(matches!(err, SignError::EmptyKeyId), "{err:?}");
    }

    #[test]
    fn gpg_key_with_passphrase_is_refused() {
        let gnupg = GnupgHome::with_key("hunter2-pass");
        let exported = gnupg.export_secret("hunter2-pass");
        let err = Signer::new(Format::Gpg, KeySource::Inline(SecretString::from(exported)))
            .expect_err("passphrase");
        assert!(matches!(err, SignError::KeyEncrypted { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(
                "signing key (inline) is encrypted with a passphrase; ferry signs unattended"
            ),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn wrong_gpg_keys_are_explained() {
        let gnupg = GnupgHome::with_key("");
        let public = SecretString::from(gnupg.export_public());
        let err = Signer::new(Format::Gpg, KeySource::Inline(public)).expect_err("public key");
        assert!(
            err.to_string().contains("is an OpenPGP public key"),
            "{err}"
        );

        let garbage = SecretString::from("not a key");
        let err = Signer::new(Format::Gpg, KeySource::Inline(garbage)).expect_err("garbage");
        assert!(matches!(err, SignError::Gpg { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("gpg failed to import the signing key"),
            "{err}"
        );

        let ssh = SecretString::from(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        );
        let err = Signer::new(Format::Gpg, KeySource::Inline(ssh)).expect_err("ssh key");
        assert!(
            err.to_string().contains("set the signing format to ssh"),
            "{err}"
        );
    }

    #[test]
    fn colon_listing_is_parsed() {
        let listing = "sec:u:255:22:ED17BDE85F3FB6D6:1795394739:::u:::scSC:::+::ed25519:::0:\n\
            fpr:::::::::B3E29BF2553D6693AD3887E0ED17BDE85F3FB6D6:\n\
            grp:::::::::8BCF60EAA806E737FF457D3881A10CC778F61975:\n\
            uid:u::::1795394739::E715::A\\x3aB <a@example.com>::::::::::0:\n\
            ssb:u:255:18:1111111111111111:1795394739::::::e:::+::cv25519::\n\
            fpr:::::::::2222222222222222222222222222222222222222:\n\
            sec:e:255:22:3333333333333333:1::::::sc:::+::ed25519:::0:\n\
            fpr:::::::::4444444444444444444444444444444444444444:\n";
        let keys = parse_secret_keys(listing);
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0].fingerprint,
            "B3E29BF2553D6693AD3887E0ED17BDE85F3FB6D6"
        );
        assert_eq!(keys[0].user_id.as_deref(), Some("A:B <a@example.com>"));
        assert!(keys[0].can_sign);
        assert_eq!(
            keys[1].fingerprint,
            "4444444444444444444444444444444444444444"
        );
        assert!(!keys[1].can_sign);
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Signer>();
        assert_send_sync::<SignError>();
    }
}
