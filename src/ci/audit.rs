//! The audit trailers a commit message carries about the CI run that made it, each forced onto
//! one line.

use super::{Context, one_line};
use crate::trailers;

/// Audit trailers for a commit message, in a fixed order and only those that are known:
/// [`trailers::SOURCE_REPO`], [`trailers::SOURCE_COMMIT`], [`trailers::SOURCE_REF`],
/// [`trailers::RUN_URL`], [`trailers::RUN_NUMBER`], [`trailers::CHANGE_REQUEST`].
///
/// Every value is forced onto one line: each run of control characters (CR, LF, tab, …) and
/// Unicode line/paragraph separators becomes a single space, and the result is trimmed; a value
/// left empty is omitted. A hostile branch name can therefore never start a trailer or a
/// paragraph of its own.
#[must_use]
pub fn trailers(ctx: &Context) -> Vec<(&'static str, String)> {
    let candidates = [
        (
            trailers::SOURCE_REPO,
            ctx.source_repo.as_deref().map(one_line),
        ),
        (
            trailers::SOURCE_COMMIT,
            ctx.source_commit.as_deref().map(one_line),
        ),
        (
            trailers::SOURCE_REF,
            ctx.source_ref.as_deref().map(one_line),
        ),
        (trailers::RUN_URL, ctx.run_url.as_deref().map(one_line)),
        (trailers::RUN_NUMBER, ctx.run_number.map(|n| n.to_string())),
        (
            trailers::CHANGE_REQUEST,
            ctx.change_request.map(|n| n.to_string()),
        ),
    ];
    candidates
        .into_iter()
        .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_env::{github_env, gitlab_ctx, s};
    use super::*;

    #[test]
    fn trailers_in_order_and_only_known() {
        let env = github_env(&[
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_HEAD_REF", "feature/x"),
        ]);
        let ctx = Context::detect(&env).expect("detected");
        assert_eq!(
            trailers(&ctx),
            vec![
                (
                    trailers::SOURCE_REPO,
                    "https://github.com/acme/shop".to_owned()
                ),
                (trailers::SOURCE_COMMIT, "abc123".to_owned()),
                (trailers::SOURCE_REF, "feature/x".to_owned()),
                (
                    trailers::RUN_URL,
                    "https://github.com/acme/shop/actions/runs/9876543210".to_owned()
                ),
                (trailers::RUN_NUMBER, "57".to_owned()),
                (trailers::CHANGE_REQUEST, "42".to_owned()),
            ]
        );
        assert_eq!(
            trailers(&gitlab_ctx()),
            Vec::<(&str, String)>::new(),
            "nothing known, nothing written"
        );
    }

    #[test]
    fn trailers_strip_newlines() {
        let mut ctx = gitlab_ctx();
        ctx.source_ref = s("evil\r\n\r\nSigned-off-by: mallory\nFerry-Source-Commit: 0000");
        ctx.source_repo = s("https://x.example/a\u{2028}b\u{85}c\td");
        ctx.source_commit = s("\n\r\n");
        ctx.change_request = Some(9);
        let got = trailers(&ctx);
        assert_eq!(
            got,
            vec![
                (
                    trailers::SOURCE_REPO,
                    "https://x.example/a b c d".to_owned()
                ),
                (
                    trailers::SOURCE_REF,
                    "evil Signed-off-by: mallory Ferry-Source-Commit: 0000".to_owned()
                ),
                (trailers::CHANGE_REQUEST, "9".to_owned()),
            ]
        );
        for (_, value) in &got {
            assert!(!value.contains(['\r', '\n']), "{value:?}");
        }
    }
}
