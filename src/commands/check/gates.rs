//! `promotion.gates.require-status`: each context one Argo CD or Flux can post.

use super::{Checker, Severity};
use crate::config::{self, Config};

impl Checker<'_> {
    /// `promotion.gates.require-status`: a warning for each context that neither Argo CD
    /// notifications nor Flux's notification-controller can post ([`gate_context_problem`]).
    pub(super) fn gates(&mut self, config: &Config) {
        let keys = ["promotion", "gates", "require-status"];
        let Some(promotion) = &config.promotion else {
            return;
        };
        for (index, context) in promotion.gates.require_status.iter().enumerate() {
            let Some(problem) = gate_context_problem(context) else {
                continue;
            };
            let at = self
                .positions
                .item(&keys, index)
                .or_else(|| self.positions.key(&keys));
            let mut hint = match (&problem.instead, &problem.advice) {
                (Some(instead), Some(advice)) => format!("write `{instead}`, {advice}. "),
                (Some(instead), None) => format!("write `{instead}`. "),
                (None, _) => String::new(),
            };
            hint.push_str(
                "Argo CD notifications post `continuous-delivery/<application>`, Flux's notification-controller `kustomization/<name>/<id>` (configurations in docs/agents.md). If something else posts this exact name (a CI job, a Flux Provider's `commitStatusExpr`), the gate is right and this warning does not apply",
            );
            self.push(
                Severity::Warning,
                config::FILE_NAME,
                at,
                format!("promotion gate `{context}`: {}", problem.why),
                hint,
            );
        }
    }
}

/// The context Argo CD notifications post, as Argo CD's documentation and docs/agents.md
/// configure it: `continuous-delivery/{{.app.metadata.name}}`.
const ARGOCD_PREFIX: &str = "continuous-delivery/";
/// The kind of the Flux objects whose events the notification-controller posts as commit
/// statuses, `<kind>/<name>/<id>` in lower case (the id: the first 8 hex digits of the
/// Provider's UID).
const FLUX_PREFIX: &str = "kustomization/";

/// Why a gate's context cannot be posted by an agent, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContextProblem {
    why: String,
    /// The context to write instead.
    instead: Option<String>,
    /// What to know about it.
    advice: Option<String>,
}

/// Why neither Argo CD notifications (`continuous-delivery/<application>`) nor Flux's
/// notification-controller (`kustomization/<name>/<id>`) can post a status named `context`
/// (a trailing `*` matches a prefix, as the gate reads it, so the pattern must be able to match
/// one of those names); `None` when one of them can.
fn gate_context_problem(context: &str) -> Option<ContextProblem> {
    let (text, pattern) = match context.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (context, false),
    };
    if argocd_can_post(text, pattern) || flux_can_post(text, pattern) {
        return None;
    }
    let star = if pattern { "*" } else { "" };
    let lower = text.to_ascii_lowercase();
    let problem = |why: &str, instead: Option<String>| {
        Some(ContextProblem {
            why: why.to_owned(),
            instead,
            advice: None,
        })
    };
    if let Some(rest) = lower.strip_prefix("helmrelease/") {
        let name = rest.split('/').next().unwrap_or_default();
        let release = if name.is_empty() {
            "the HelmRelease".to_owned()
        } else {
            format!("the HelmRelease `{name}`")
        };
        return Some(ContextProblem {
            why: "Flux posts commit statuses for Kustomizations, not for HelmReleases (from Flux 2.8 on, for one only when its annotation `event.toolkit.fluxcd.io/commit` names the commit, which a file cannot do for the commit that changes it)".to_owned(),
            instead: Some(format!("{FLUX_PREFIX}<name>/*")),
            advice: Some(format!(
                "<name> being the Kustomization that applies {release}: with `spec.wait: true` or a `healthChecks` entry for the HelmRelease its status waits for the Helm upgrade too, else it says only that the HelmRelease object was applied"
            )),
        });
    }
    if lower != text && (argocd_can_post(&lower, pattern) || flux_can_post(&lower, pattern)) {
        return problem(
            "Flux names its statuses in lower case, Argo CD application names are lower case, and ferry compares names exactly",
            Some(format!("{lower}{star}")),
        );
    }
    if let Some(rest) = lower.strip_prefix("argocd/") {
        return problem(
            "Argo CD posts no `argocd/…` status of its own: its notifications post the label their template sets (`continuous-delivery/<application>` in Argo CD's documentation)",
            Some(format!("{ARGOCD_PREFIX}{rest}{star}")),
        );
    }
    if let Some(rest) = lower.strip_prefix("flux/") {
        let instead = if pattern || rest.contains('/') || rest.is_empty() {
            format!("{FLUX_PREFIX}<name>/*")
        } else {
            format!("{FLUX_PREFIX}{rest}/*")
        };
        return problem(
            "Flux's notification-controller names its statuses `<kind>/<name>/<id>`, e.g. `kustomization/apps/1a2b3c4d`",
            Some(instead),
        );
    }
    if let Some(rest) = text.strip_prefix(FLUX_PREFIX)
        && !pattern
        && !rest.is_empty()
        && is_name(rest)
    {
        return problem(
            "Flux appends an id to the name: `kustomization/<name>/<id>`, the id being the first 8 hex digits of the Provider's UID",
            Some(format!("{FLUX_PREFIX}{rest}/*")),
        );
    }
    if text == ARGOCD_PREFIX.trim_end_matches('/') || text == ARGOCD_PREFIX {
        return problem(
            "Argo CD notifications name the status after the application: `continuous-delivery/<application>`",
            Some(format!("{ARGOCD_PREFIX}<application>")),
        );
    }
    if text == FLUX_PREFIX.trim_end_matches('/') || text == FLUX_PREFIX {
        return problem(
            "Flux names the status after the Kustomization, with an id: `kustomization/<name>/<id>`",
            Some(format!("{FLUX_PREFIX}<name>/*")),
        );
    }
    problem("neither Argo CD nor Flux posts a status of this name", None)
}

/// Whether Argo CD notifications can post a status named `text` (or, for a pattern, one
/// starting with it): `continuous-delivery/<application>`.
fn argocd_can_post(text: &str, pattern: bool) -> bool {
    if pattern && ARGOCD_PREFIX.starts_with(text) {
        return true;
    }
    text.strip_prefix(ARGOCD_PREFIX)
        .is_some_and(|app| (pattern || !app.is_empty()) && is_name(app))
}

/// Whether Flux's notification-controller can post a status named `text` (or, for a pattern,
/// one starting with it): `kustomization/<name>/<id>`, all in lower case.
fn flux_can_post(text: &str, pattern: bool) -> bool {
    if pattern && FLUX_PREFIX.starts_with(text) {
        return true;
    }
    let Some(rest) = text.strip_prefix(FLUX_PREFIX) else {
        return false;
    };
    match rest.split_once('/') {
        Some((name, id)) => {
            !name.is_empty()
                && is_name(name)
                && (pattern || !id.is_empty())
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        // Only a pattern can stop inside the name.
        None => pattern && is_name(rest),
    }
}

/// Whether `text` consists of the characters of a Kubernetes object name (lower case letters,
/// digits, `-` and `.`): what an Application or Kustomization is called.
fn is_name(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_the_agents_post_pass() {
        for context in [
            "continuous-delivery/cart-staging",
            "continuous-delivery/*",
            "continuous-delivery/cart-*",
            "continuous*",
            "*",
            "kustomization/cart-staging/1a2b3c4d",
            "kustomization/cart-staging/*",
            "kustomization/cart-staging*",
            "kustomization/*",
            "kustom*",
            // An id set by the Provider's commitStatusExpr (Flux 2.6 and later).
            "kustomization/apps/staging-eu",
        ] {
            assert_eq!(gate_context_problem(context), None, "{context}");
        }
    }

    #[test]
    fn contexts_nothing_posts_are_explained_with_the_right_form() {
        let instead = |context: &str| {
            gate_context_problem(context)
                .unwrap_or_else(|| panic!("{context} passed"))
                .instead
        };
        assert_eq!(
            instead("argocd/cart-staging").as_deref(),
            Some("continuous-delivery/cart-staging")
        );
        assert_eq!(
            instead("argocd/*").as_deref(),
            Some("continuous-delivery/*")
        );
        assert_eq!(
            instead("flux/staging").as_deref(),
            Some("kustomization/staging/*")
        );
        assert_eq!(
            instead("kustomization/apps").as_deref(),
            Some("kustomization/apps/*")
        );
        assert_eq!(
            instead("Kustomization/apps/*").as_deref(),
            Some("kustomization/apps/*")
        );
        assert_eq!(
            instead("continuous-delivery").as_deref(),
            Some("continuous-delivery/<application>")
        );
        assert_eq!(
            instead("kustomization/").as_deref(),
            Some("kustomization/<name>/*")
        );
        // A HelmRelease: the Kustomization that applies it.
        let helm = gate_context_problem("helmrelease/cart-worker/*").expect("warned");
        assert!(helm.why.contains("not for HelmReleases"), "{}", helm.why);
        assert_eq!(helm.instead.as_deref(), Some("kustomization/<name>/*"));
        assert!(
            helm.advice
                .as_deref()
                .is_some_and(|a| a.contains("HelmRelease `cart-worker`")),
            "{helm:?}"
        );
        // Anything else: what the agents post, no guess.
        let other = gate_context_problem("ci/build").expect("warned");
        assert_eq!(
            other.why,
            "neither Argo CD nor Flux posts a status of this name"
        );
        assert_eq!(other.instead, None);
        // Shapes the agents cannot produce.
        for context in [
            "kustomization/a/b/c",
            "kustomization/apps/1a2b3c4d/*",
            "continuous-delivery/cart/staging",
            "continuous-delivery/Cart",
            "gitrepository/flux-system/1a2b3c4d",
        ] {
            assert!(gate_context_problem(context).is_some(), "{context}");
        }
    }
}
