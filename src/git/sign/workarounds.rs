//! Workarounds for bugs of ssh-key 0.6.7, the crate ferry signs SSH commits with: an ECDSA key
//! whose private scalar is shorter than its curve's size is re-encoded at full width before
//! it is read, and RSA keys sign through the `rsa` crate, built from the key's components.

use base64ct::{Base64, Encoding as _};
use secrecy::zeroize::Zeroizing;
use ssh_key::Mpint;
use ssh_key::private::RsaKeypair;

use super::{OPENSSH_BEGIN, OPENSSH_END};

/// An `rsa-sha2-512` signing key, built by [`rsa_signing_key`].
pub(super) type RsaSigningKey = rsa::pkcs1v15::SigningKey<rsa::sha2::Sha512>;

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
pub(super) fn widen_ecdsa_scalar(text: &str) -> Option<Zeroizing<String>> {
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

/// An `rsa-sha2-512` signing key for an RSA keypair.
///
/// ssh-key 0.6.7 cannot sign with RSA keys: its conversion to
/// `rsa::RsaPrivateKey` passes the prime `p` twice instead of `p` and `q`,
/// which rsa >= 0.9.7 rejects ("cryptographic error"; fixed upstream after
/// 0.6.7 by RustCrypto/SSH#217, see RustCrypto/SSH#387). So the key is built
/// here from its components, and checked by the `rsa` crate on the way.
pub(super) fn rsa_signing_key(keypair: &RsaKeypair) -> Result<RsaSigningKey, rsa::Error> {
    let int = |mpint: &Mpint| rsa::BigUint::from_bytes_be(mpint.as_bytes());
    let private = rsa::RsaPrivateKey::from_components(
        int(&keypair.public.n),
        int(&keypair.public.e),
        int(&keypair.private.d),
        vec![int(&keypair.private.p), int(&keypair.private.q)],
    )?;
    Ok(RsaSigningKey::new(private))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use ssh_key::PrivateKey;

    use super::super::fixture::{Fixture, assert_verified, public_key, ssh_keygen};
    use super::super::{Format, KeySource, Signer};
    use super::*;

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
}
