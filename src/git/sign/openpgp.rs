//! OpenPGP signatures, made by running `gpg --status-fd 2 -bsau <key>` as git does: a key id
//! from the user's keyring, or key material imported into a private, temporary GnuPG home
//! (removed with its agent when the signer goes), test-signed at once so that a passphrase
//! nobody can type is found before the first push; gpg's diagnostics turned into hints.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{KeyKind, SignError, key_kind, normalize_text};

/// The OpenPGP program, as git's default `gpg.program`.
const GPG: &str = "gpg";

/// GnuPG's configuration tool, used to stop the agent of a private home.
pub(super) const GPGCONF: &str = "gpgconf";

/// Longest stretch of `gpg` diagnostics quoted in an error.
const MAX_STDERR: usize = 2000;

pub(super) struct GpgKey {
    pub(super) home: GpgHome,
    /// What `gpg -u` gets.
    pub(super) user: String,
    pub(super) description: String,
}

pub(super) enum GpgHome {
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

/// One secret key from `gpg --with-colons --list-secret-keys`.
#[derive(Debug, Default)]
pub(super) struct GpgListing {
    pub(super) fingerprint: String,
    pub(super) user_id: Option<String>,
    pub(super) can_sign: bool,
}

/// Parses `gpg --with-colons --list-secret-keys` output (see GnuPG's
/// doc/DETAILS): a `sec` record per key, its `fpr` next, then `uid` records.
pub(super) fn parse_secret_keys(listing: &str) -> Vec<GpgListing> {
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
    pub(super) fn from_keyring(key_id: &str, homedir: Option<PathBuf>) -> Result<Self, SignError> {
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
    pub(super) fn import(material: &[u8], origin: &str) -> Result<Self, SignError> {
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

    pub(super) fn sign(&self, commit: &[u8], action: &str) -> Result<String, SignError> {
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
pub(super) struct PrivateHome {
    pub(super) path: PathBuf,
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
    use std::fs;
    use std::path::PathBuf;

    use secrecy::SecretString;

    use super::super::fixture::{Fixture, GnupgHome, assert_rejected, assert_verified};
    use super::super::{Backend, Format, KeySource, SignError, Signer};
    use super::*;

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
}
