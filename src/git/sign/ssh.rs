//! SSH signatures, made in-process with the `ssh-key` crate as `ssh-keygen -Y sign -n git`
//! makes them (OpenSSH's `PROTOCOL.sshsig`, SHA-512): loading an OpenSSH private key (refusing
//! other kinds of keys, encrypted keys and algorithms other than ed25519, RSA and ECDSA P-256),
//! and signing a commit with it.

use rsa::signature::SignatureEncoding;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, SshSig}; // Cargo.toml: rsa = { version = "0.9.10", default-features = false, features = ["sha2"] }

use super::workarounds::{RsaSigningKey, rsa_signing_key, widen_ecdsa_scalar};
use super::{KeyKind, SignError, key_kind, normalize_text};

/// The SSH signature namespace git signs and verifies commits with.
const SSH_NAMESPACE: &str = "git";

pub(super) struct SshKey {
    key: PrivateKey,
    /// RSA keys sign through the `rsa` crate: see [`rsa_signing_key`].
    rsa: Option<RsaSigningKey>,
    pub(super) description: String,
}

impl SshKey {
    pub(super) fn load(bytes: &[u8], origin: &str) -> Result<Self, SignError> {
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

    pub(super) fn sign(&self, commit: &[u8]) -> Result<String, SignError> {
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use secrecy::SecretString;

    use super::super::fixture::{
        Fixture, assert_rejected, assert_verified, public_key, ssh_keygen,
    };
    use super::super::{Format, KeySource, SignError, Signer};

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
}
