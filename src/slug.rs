//! Names for things ferry creates from untrusted text: DNS-1123 labels for preview
//! environments (namespaces, resource names, Helm releases) and the stable hash behind them.
//!
//! A preview's name usually comes from a branch name, which a fork's author chooses. It reaches
//! file paths, Kubernetes names and YAML only as a [`dns_label`]: lowercase ASCII letters,
//! digits and `-`, neither first nor last, at most as long as the consumer allows (63 for
//! namespaces and labels, 53 for Helm releases).
//!
//! The label is stable for a given name (the same branch always gets the same namespace) and
//! tells names apart: a name that is already a valid label is kept as it is; any other name (one
//! that had to be changed to fit, or cut short) gets `-` and eight hex digits of a hash of the
//! whole original name, so `feat/a` and `feat-a`, or two long names with the same first 60
//! characters, never share a namespace.

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

/// Namespaces a cluster or its agents own: a preview named like one of them (or `kube-*`) gets
/// the hashed form of its name, so a branch called `flux-system` or `default` never names
/// (and, when its preview goes, deletes) the real one.
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

/// [`dns_label`], but never one of [`RESERVED_NAMESPACES`], a `kube-` or `openshift-` name, or
/// one of `also_reserved` (the agent's namespace, say): those get the hashed form.
#[must_use]
pub fn unreserved_label(name: &str, max: usize, also_reserved: &[&str]) -> String {
    let max = max.clamp(1, 63);
    let label = dns_label(name, max);
    let reserved = RESERVED_NAMESPACES.contains(&label.as_str())
        || also_reserved.contains(&label.as_str())
        || label.starts_with("kube-")
        || label.starts_with("openshift-");
    if reserved && label == name {
        hashed_label(name, max)
    } else {
        label
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
    fn reserved_namespaces_get_the_hashed_form() {
        for name in [
            "flux-system",
            "default",
            "kube-system",
            "kube-anything",
            "argo",
        ] {
            let label = unreserved_label(name, 63, &["argo"]);
            assert_ne!(label, name);
            assert!(label.starts_with(&format!("{name}-")), "{label}");
            assert!(is_dns_label(&label, 63));
            assert_eq!(label, unreserved_label(name, 63, &["argo"]), "stable");
        }
        assert_eq!(
            unreserved_label("feature-login", 63, &["argo"]),
            "feature-login"
        );
        assert_eq!(unreserved_label("defaults", 63, &[]), "defaults");
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
        }
    }
}
