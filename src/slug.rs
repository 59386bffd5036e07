//! Names for things ferry creates from untrusted text: DNS-1123 labels for preview
//! environments (namespaces, resource names, Helm releases) and the stable hashes behind them.
//!
//! A preview's name usually comes from a branch name, which a fork's author chooses. It reaches
//! file paths, Kubernetes names and YAML only as a [`preview_label`]: the configured prefix
//! (`preview-`), a readable part (lowercase ASCII letters, digits and `-`) and 12 hex digits of
//! the SHA-256 of the whole name, within the consumer's limit (63 for namespaces and labels, 53
//! for Helm releases). Never the name as it is: a branch called `production`, `flux-system` or
//! like another preview's label cannot name that namespace, object or preview.
//!
//! [`dns_label`] is the general form (a valid label is kept, any other gets an 8-digit FNV-1a
//! hash); [`is_reserved`] says which namespaces no preview may use.

/// Hex digits of the hash appended to a changed name.
const HASH_DIGITS: usize = 8;

/// The shortest limit that keeps a readable part before the hash (`x-` + 8 digits).
const MIN_WITH_PREFIX: usize = HASH_DIGITS + 2;

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions and platforms (names
/// derived from it must not change when ferry is rebuilt).
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether `text` is a DNS-1123 label of at most `max` characters (RFC 1123, as Kubernetes
/// checks namespace names): 1 to `max` of `[a-z0-9-]`, starting and ending with a letter or a
/// digit.
#[must_use]
pub fn is_dns_label(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// `name` as a DNS-1123 label of at most `max` characters (`max` from 1 to 63; outside that
/// range it is clamped). See the [module documentation](self) for the rules.
#[must_use]
pub fn dns_label(name: &str, max: usize) -> String {
    let max = max.clamp(1, 63);
    if is_dns_label(name, max) {
        return name.to_owned();
    }
    hashed_label(name, max)
}

/// Namespaces a cluster or its agents own. Preview names never take them (they all start with
/// the preview prefix); the rendered-preview check refuses them all the same.
pub const RESERVED_NAMESPACES: &[&str] = &[
    "default",
    "argocd",
    "argo-cd",
    "flux-system",
    "cert-manager",
    "ingress-nginx",
    "istio-system",
    "linkerd",
    "gatekeeper-system",
    "kyverno",
    "monitoring",
    "openshift",
];

/// Whether `name` is a namespace that no preview may use: one of [`RESERVED_NAMESPACES`], a
/// `kube-` or `openshift-` name, or one of `also_reserved` (the environments' names, the agent's
/// namespace).
#[must_use]
pub fn is_reserved(name: &str, also_reserved: &[String]) -> bool {
    RESERVED_NAMESPACES.contains(&name)
        || also_reserved.iter().any(|r| r == name)
        || name.starts_with("kube-")
        || name.starts_with("openshift-")
}

/// Hex digits of the hash in a preview's name: 48 bits of SHA-256.
pub const PREVIEW_HASH_DIGITS: usize = 12;

/// The default `previews.prefix`.
pub const DEFAULT_PREVIEW_PREFIX: &str = "preview-";

/// The longest `previews.prefix`.
pub const MAX_PREVIEW_PREFIX: usize = 30;

/// Why `prefix` cannot start preview names, or `Ok`: a lowercase DNS-label start (a letter,
/// then letters, digits and `-`) ending in `-`, at most [`MAX_PREVIEW_PREFIX`] characters, and
/// not one of the cluster's own spaces (`kube-`, `openshift-`).
pub fn check_preview_prefix(prefix: &str) -> Result<(), String> {
    let bytes = prefix.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_lowercase() {
        return Err("must start with a lowercase letter".to_owned());
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("may hold only lowercase letters, digits and `-`".to_owned());
    }
    if !prefix.ends_with('-') {
        return Err("must end with `-` (e.g. `preview-`)".to_owned());
    }
    if prefix.len() > MAX_PREVIEW_PREFIX {
        return Err(format!("must be at most {MAX_PREVIEW_PREFIX} characters"));
    }
    if prefix.starts_with("kube-") || prefix.starts_with("openshift-") {
        return Err(
            "must not start with `kube-` or `openshift-`: the cluster owns those namespaces"
                .to_owned(),
        );
    }
    Ok(())
}

/// The hash of a preview's whole (untrusted) name: [`PREVIEW_HASH_DIGITS`] hex digits of its
/// SHA-256. A cryptographic hash: finding another name with the same hash (and the same
/// readable part) takes about 2^48 tries, not the seconds a 32-bit FNV needs.
#[must_use]
pub fn preview_hash(name: &str) -> String {
    // The sha2 that rsa re-exports (already built for commit signing).
    use rsa::sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let mut hex = String::with_capacity(PREVIEW_HASH_DIGITS);
    for byte in digest.iter().take(PREVIEW_HASH_DIGITS / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// A preview's name as a DNS label of at most `max` characters, always inside the preview
/// space: `prefix`, a readable part of `name` (lowercase ASCII letters and digits, other runs as
/// `-`, cut to fit), `-` and [`preview_hash`] of the whole name; `prefix` and the hash alone when
/// nothing readable is left or fits. Never the name as it is, so no branch can choose a
/// namespace or object name (`production`, `flux-system`) nor another preview's (a branch
/// literally named like another's label gets the hash of its own name).
///
/// `prefix` passes [`check_preview_prefix`] and `max` is at least `prefix` + the hash (the
/// configuration checks both); with less room the label is `prefix` + hash, longer than `max`.
#[must_use]
pub fn preview_label(prefix: &str, name: &str, max: usize) -> String {
    let hash = preview_hash(name);
    let room = max
        .min(63)
        .saturating_sub(prefix.len() + PREVIEW_HASH_DIGITS + 1);
    let mut readable = String::with_capacity(room + 1);
    for c in name.chars() {
        if readable.len() > room {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
    }
    readable.truncate(room);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        format!("{prefix}{hash}")
    } else {
        format!("{prefix}{readable}-{hash}")
    }
}

/// `name` made a label with the hash of the whole name appended (see the module documentation).
fn hashed_label(name: &str, max: usize) -> String {
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    let hash = &hash[..HASH_DIGITS];
    if max < MIN_WITH_PREFIX {
        // No room for a readable part: the hash alone, cut to fit (it starts with a digit or
        // a letter, and has no `-`).
        return hash[..max.min(HASH_DIGITS)].to_owned();
    }
    let mut readable = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('-') {
            readable.push('-');
        }
    }
    let room = max - HASH_DIGITS - 1;
    readable.truncate(room);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        // Nothing readable survived (`../..`, `ｆｅａｔ`): a fixed word keeps it a name.
        let word = "preview";
        if word.len() <= room {
            return format!("{word}-{hash}");
        }
        return hash.to_owned();
    }
    format!("{readable}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_names_are_kept_and_others_get_a_stable_hash() {
        assert_eq!(dns_label("feature-login", 63), "feature-login");
        assert_eq!(dns_label("mr-42", 63), "mr-42");
        let a = dns_label("feat/a", 63);
        let b = dns_label("feat-a", 63);
        assert!(a.starts_with("feat-a-"), "{a}");
        assert_eq!(b, "feat-a");
        assert_ne!(a, b, "a changed name never takes a valid one's place");
        assert_eq!(a, dns_label("feat/a", 63), "stable");
        assert_eq!(
            dns_label("Feature/Login_Page", 63).len(),
            "feature-login-page".len() + 9
        );
    }

    #[test]
    fn long_names_are_cut_with_the_hash_of_the_whole_name() {
        let prefix = "x".repeat(70);
        let one = dns_label(&format!("{prefix}-one"), 63);
        let two = dns_label(&format!("{prefix}-two"), 63);
        assert_eq!(one.len(), 63);
        assert_ne!(one, two);
        assert!(is_dns_label(&one, 63) && is_dns_label(&two, 63));
        let release = dns_label(&format!("{prefix}-one"), 53);
        assert_eq!(release.len(), 53);
        // A name that fits 63 but not 53 is cut for Helm only.
        let sixty = "a".repeat(60);
        assert_eq!(dns_label(&sixty, 63), sixty);
        assert_eq!(dns_label(&sixty, 53).len(), 53);
    }

    #[test]
    fn hostile_names_become_plain_labels() {
        for hostile in [
            "",
            "---",
            "../../etc/passwd",
            "/absolute/path",
            "a\nkind: Secret",
            "\"quoted\" 'name'",
            "{{ get_env(name=\"TOKEN\") }}",
            "ｆｅａｔ", // full-width look-alikes
            "раураl",   // Cyrillic look-alikes
            "-leading-and-trailing-",
            "UPPER",
            &"z".repeat(300),
            "a.b",
            "tab\tname",
        ] {
            let label = dns_label(hostile, 63);
            assert!(is_dns_label(&label, 63), "{hostile:?} → {label:?}");
            assert_eq!(label, dns_label(hostile, 63));
        }
        assert!(dns_label("", 63).starts_with("preview-"));
        assert!(dns_label("ｆｅａｔ", 63).starts_with("preview-"));
        assert_ne!(dns_label("ｆｅａｔ", 63), dns_label("ｆｅａｕ", 63));
    }

    #[test]
    fn tiny_limits_still_give_labels() {
        for max in 1..=12 {
            let label = dns_label("feature/login", max);
            assert!(is_dns_label(&label, max), "{max}: {label}");
        }
        // A limit of 0 is taken as 1.
        assert_eq!(dns_label("ok", 0).len(), 1);
    }

    #[test]
    fn preview_labels_are_always_prefixed_and_hashed() {
        for name in [
            "production",
            "flux-system",
            "kube-system",
            "apps",
            "previews",
            "x",
        ] {
            let label = preview_label("preview-", name, 63);
            assert!(label.starts_with(&format!("preview-{name}-")), "{label}");
            assert_eq!(
                label.len(),
                "preview-".len() + name.len() + 1 + PREVIEW_HASH_DIGITS
            );
            assert!(is_dns_label(&label, 63));
            assert_eq!(label, preview_label("preview-", name, 63), "stable");
        }
        // A branch named like another preview's label gets a label of its own.
        let a = preview_label("preview-", "feat/a", 63);
        assert_ne!(preview_label("preview-", &a, 63), a);
        assert_ne!(preview_label("preview-", "feat-a", 63), a);
        // Nothing readable: the prefix and the hash.
        let bare = preview_label("preview-", "ｆｅａｔ", 63);
        assert_eq!(bare.len(), "preview-".len() + PREVIEW_HASH_DIGITS);
        // Long names are cut to the limit, the hash kept.
        let long = "z".repeat(300);
        assert_eq!(preview_label("preview-", &long, 53).len(), 53);
        assert!(preview_label("preview-", &long, 53).ends_with(&preview_hash(&long)));
        // The smallest room: prefix and hash only.
        assert_eq!(
            preview_label("p-", "feature", 2 + PREVIEW_HASH_DIGITS),
            format!("p-{}", preview_hash("feature"))
        );
    }

    #[test]
    fn preview_prefixes_are_checked() {
        for good in ["preview-", "pr-", "p-", "review-app-", "a1-"] {
            assert_eq!(check_preview_prefix(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-",
            "preview",
            "Preview-",
            "1pr-",
            "kube-",
            "kube-pr-",
            "openshift-x-",
            "pré-",
            "a_b-",
            &format!("{}-", "a".repeat(30)),
        ] {
            assert!(check_preview_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(is_reserved("kube-public", &[]));
        assert!(is_reserved("production", &["production".to_owned()]));
        assert!(!is_reserved(
            "preview-production-0123456789ab",
            &["production".to_owned()]
        ));
    }

    #[test]
    fn the_hash_is_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    proptest! {
        #[test]
        fn every_name_gives_a_label_within_the_limit(name in any::<String>(), max in 1usize..=63) {
            let label = dns_label(&name, max);
            prop_assert!(is_dns_label(&label, max), "{:?} {} → {:?}", name, max, label);
            prop_assert_eq!(&label, &dns_label(&name, max));
        }

        #[test]
        fn distinct_names_give_distinct_labels(a in "[a-zA-Z0-9/_.-]{0,80}", b in "[a-zA-Z0-9/_.-]{0,80}") {
            prop_assume!(a != b);
            prop_assert_ne!(dns_label(&a, 63), dns_label(&b, 63));
            prop_assert_ne!(preview_label("preview-", &a, 63), preview_label("preview-", &b, 63));
        }
    }
}
