//! What an environment accepts: holds (the environment, or some of its images, frozen) and the
//! tag policy (which tags may be deployed). Checked before anything is written.

use regex::Regex;

use crate::config::ResolvedEnvironment;
use crate::image::{ImageName, ImageUpdate};

/// Tags that name a moving target rather than a version. Deploying one makes an environment
/// unreproducible (the same declaration runs different code over time) and invisible to GitOps
/// agents (the declaration does not change when the image does).
pub const MUTABLE_TAGS: &[&str] = &[
    "latest",
    "stable",
    "edge",
    "nightly",
    "main",
    "master",
    "develop",
    "dev",
    "head",
    "canary",
    "current",
    "release",
    "prod",
    "production",
    "staging",
    "test",
    "snapshot",
];

/// The settings the checks read. Built from `ferry.yaml`, or the defaults when there is none.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The environment's name (or path) for messages.
    pub environment: String,
    pub hold: bool,
    pub hold_images: Vec<ImageName>,
    pub hold_reason: Option<String>,
    /// The regular expression the whole tag must match, as written, and compiled.
    pub tags: Option<(String, Regex)>,
    pub allow_mutable_tags: bool,
}

/// A refusal, with the message to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The environment or an image is on hold.
    Held(String),
    /// A tag is not acceptable here.
    Tag(String),
}

impl Policy {
    /// The policy of a `ferry.yaml` environment. Its `tags` expression was checked when the file
    /// was loaded.
    #[must_use]
    pub fn of(env: &ResolvedEnvironment) -> Policy {
        Policy {
            environment: env.name.clone(),
            hold: env.hold,
            hold_images: env
                .hold_images
                .iter()
                .filter_map(|i| ImageName::parse(i).ok())
                .collect(),
            hold_reason: env.hold_reason.clone(),
            tags: env.tags.as_ref().and_then(|t| {
                Regex::new(&format!("^(?:{t})$"))
                    .ok()
                    .map(|re| (t.clone(), re))
            }),
            allow_mutable_tags: env.allow_mutable_tags,
        }
    }

    /// The default policy for a directory without `ferry.yaml`: nothing held, mutable tags refused.
    #[must_use]
    pub fn default_for(environment: &str) -> Policy {
        Policy {
            environment: environment.to_owned(),
            ..Policy::default()
        }
    }

    /// Every refusal for these updates (empty when all may proceed). Holds come first.
    #[must_use]
    pub fn check(&self, updates: &[ImageUpdate]) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        let why = self
            .hold_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        if self.hold {
            verdicts.push(Verdict::Held(format!(
                "environment `{}` is on hold{why}: ferry does not bump it until `hold: true` is removed from ferry.yaml",
                self.environment
            )));
            return verdicts;
        }
        for u in updates {
            if self.hold_images.contains(&u.image) {
                verdicts.push(Verdict::Held(format!(
                    "{} is on hold in environment `{}`{why}: remove it from `hold-images` in ferry.yaml to bump it",
                    u.image.familiar(),
                    self.environment
                )));
            }
        }
        for u in updates {
            let Some(tag) = u.tag.as_ref().map(crate::image::Tag::as_str) else {
                // A digest names content, never a moving target: only a tag policy applies.
                if let Some((written, _)) = &self.tags {
                    verdicts.push(Verdict::Tag(format!(
                        "{}: a digest-only request (IMAGE@DIGEST) has no tag to check against the tag policy of environment `{}` (`tags: '{written}'` in ferry.yaml); pass IMAGE=TAG@DIGEST with the tag the digest was built as",
                        u.image.familiar(),
                        self.environment
                    )));
                }
                continue;
            };
            if !self.allow_mutable_tags && is_mutable(tag) {
                verdicts.push(Verdict::Tag(format!(
                    "{}: `{tag}` is a mutable tag: it names whatever was pushed last, so the environment would not say which version runs and agents would not see changes. Bump to an immutable tag (a commit SHA or a version), or set `allow-mutable-tags: true` for environment `{}` in ferry.yaml",
                    u.image.familiar(),
                    self.environment
                )));
                continue;
            }
            if let Some((written, re)) = &self.tags
                && !re.is_match(tag)
            {
                verdicts.push(Verdict::Tag(format!(
                    "{}: tag `{tag}` does not match the tag policy of environment `{}` (`tags: '{written}'` in ferry.yaml, which the whole tag must match)",
                    u.image.familiar(),
                    self.environment
                )));
            }
        }
        verdicts
    }
}

/// Whether `tag` is one of the [`MUTABLE_TAGS`] (compared without case).
#[must_use]
pub fn is_mutable(tag: &str) -> bool {
    MUTABLE_TAGS.iter().any(|m| m.eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(args: &[&str]) -> Vec<ImageUpdate> {
        args.iter()
            .map(|a| ImageUpdate::parse(a).unwrap())
            .collect()
    }

    fn policy(tags: Option<&str>) -> Policy {
        Policy {
            environment: "staging".to_owned(),
            tags: tags.map(|t| (t.to_owned(), Regex::new(&format!("^(?:{t})$")).unwrap())),
            ..Policy::default()
        }
    }

    #[test]
    fn mutable_tags_are_refused_by_default_and_allowed_on_request() {
        let verdicts = Policy::default_for("staging").check(&updates(&["nginx=latest"]));
        assert_eq!(verdicts.len(), 1);
        let Verdict::Tag(message) = &verdicts[0] else {
            panic!("{verdicts:?}")
        };
        assert!(message.contains("mutable"), "{message}");
        assert!(message.contains("allow-mutable-tags"), "{message}");
        let mut allowed = Policy::default_for("staging");
        allowed.allow_mutable_tags = true;
        assert!(allowed.check(&updates(&["nginx=LATEST"])).is_empty());
        assert!(
            Policy::default_for("x")
                .check(&updates(&["nginx=latest-1.2"]))
                .is_empty()
        );
    }

    #[test]
    fn the_whole_tag_must_match_the_policy() {
        let p = policy(Some("[0-9a-f]{7,40}"));
        assert!(p.check(&updates(&["acme/cart=9d8c7b6"])).is_empty());
        assert_eq!(p.check(&updates(&["acme/cart=v9d8c7b6"])).len(), 1);
        assert_eq!(p.check(&updates(&["acme/cart=9d8c7b6-dirty"])).len(), 1);
        let p = policy(Some("v1|v2"));
        assert!(p.check(&updates(&["a=v2"])).is_empty());
        assert_eq!(p.check(&updates(&["a=v12"])).len(), 1);
    }

    #[test]
    fn digest_only_requests_pass_mutable_checks_but_not_a_tag_policy() {
        let pin = format!("acme/cart@sha256:{}", "a".repeat(64));
        assert!(Policy::default_for("x").check(&updates(&[&pin])).is_empty());
        let v = policy(Some("[0-9a-f]{7,40}")).check(&updates(&[&pin]));
        assert!(
            matches!(&v[..], [Verdict::Tag(m)] if m.contains("pass IMAGE=TAG@DIGEST") && m.contains("staging")),
            "{v:?}"
        );
        let mut held = policy(None);
        held.hold_images = vec![ImageName::parse("acme/cart").unwrap()];
        assert!(matches!(
            &held.check(&updates(&[&pin]))[..],
            [Verdict::Held(_)]
        ));
    }

    #[test]
    fn holds_name_the_reason() {
        let mut p = policy(None);
        p.hold = true;
        p.hold_reason = Some("INC-42".to_owned());
        let v = p.check(&updates(&["a=1.0"]));
        assert!(
            matches!(&v[..], [Verdict::Held(m)] if m.contains("INC-42") && m.contains("on hold"))
        );
        let mut p = policy(None);
        p.hold_images = vec![ImageName::parse("docker.io/library/nginx").unwrap()];
        let v = p.check(&updates(&["nginx=1.27", "redis=7.4"]));
        assert!(
            matches!(&v[..], [Verdict::Held(m)] if m.contains("nginx") && m.contains("hold-images"))
        );
    }
}
