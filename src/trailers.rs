//! The commit trailers ferry writes and reads (`Key: value` lines closing a commit message):
//! every key in one place, the one parser, and the reading of one key's values.
//!
//! A trailer block is the last paragraph of a message when each of its lines is `Key: value`
//! (git's rule). A repository's own commit-message template may put ferry's trailers
//! elsewhere: [`values`] then finds a key's lines wherever they are.

/// The web URL of the source (application) repository.
pub const SOURCE_REPO: &str = "Ferry-Source-Repo";
/// The source commit the change was built from.
pub const SOURCE_COMMIT: &str = "Ferry-Source-Commit";
/// The source branch (or tag).
pub const SOURCE_REF: &str = "Ferry-Source-Ref";
/// The CI run that made the change.
pub const RUN_URL: &str = "Ferry-Run-Url";
/// The CI run number.
pub const RUN_NUMBER: &str = "Ferry-Run-Number";
/// The pull request (GitHub) or merge request (GitLab) number.
pub const CHANGE_REQUEST: &str = "Ferry-Change-Request";
/// The environment's directory of a proposed change.
pub const PATH: &str = "Ferry-Path";
/// One requested update (`IMAGE=TAG[@DIGEST]`) of a proposed change.
pub const UPDATE: &str = "Ferry-Update";
/// The environments of a promotion: `staging -> production`.
pub const PROMOTION: &str = "Ferry-Promotion";
/// The source environment's commit a promotion was read from.
pub const PROMOTED_FROM: &str = "Ferry-Promoted-From";
/// The source repository of a promotion across repositories.
pub const PROMOTED_FROM_REPO: &str = "Ferry-Promoted-From-Repo";
/// A gate given by flag (`require-status=continuous-delivery/*`, `min-age=2h`, `window=...`),
/// so that `ferry merge` checks the same gates again before merging.
pub const GATE: &str = "Ferry-Gate";
/// A rollback: `IMAGE FROM -> TO`.
pub const ROLLBACK: &str = "Ferry-Rollback";
/// Why a rollback was made (`--reason`).
pub const REASON: &str = "Ferry-Reason";

/// The `Key: value` lines of a message's last paragraph, when every line of it is one.
#[must_use]
pub fn parse(message: &str) -> Vec<(String, String)> {
    let trimmed = message.trim_end();
    let Some(last) = trimmed.rsplit("\n\n").next() else {
        return Vec::new();
    };
    if last == trimmed && !trimmed.contains('\n') && trimmed.lines().count() <= 1 {
        // A one-line message has no trailers.
        return Vec::new();
    }
    let mut trailers = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            return Vec::new();
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Vec::new();
        }
        trailers.push((key.to_owned(), value.trim().to_owned()));
    }
    trailers
}

/// The non-empty values of trailer `key` in `message`: from its trailer block ([`parse`]) when
/// that names the key, else from its `key: value` lines wherever a template put them.
#[must_use]
pub fn values(message: &str, key: &str) -> Vec<String> {
    let block: Vec<String> = parse(message)
        .into_iter()
        .filter(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    if !block.is_empty() {
        return block;
    }
    let prefix = format!("{key}: ");
    message
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_paragraph_is_the_trailer_block() {
        let message = "staging: bump cart\n\nFerry-Path: a: b\n\nFerry-Source-Repo: https://x\nFerry-Update: cart=1\n";
        assert_eq!(
            parse(message),
            [
                (SOURCE_REPO.to_owned(), "https://x".to_owned()),
                (UPDATE.to_owned(), "cart=1".to_owned())
            ]
        );
        assert!(parse("one line: only\n").is_empty());
        assert!(
            parse("fix: a thing\n\nsome text: not a trailer because\nof this line\n").is_empty()
        );
        assert!(parse("subject\n\nnot a trailer\nKey: v\n").is_empty());
    }

    #[test]
    fn values_come_from_the_block_else_from_anywhere() {
        let block = "s\n\nFerry-Update: a=1\nFerry-Update: b=2\n";
        assert_eq!(values(block, UPDATE), ["a=1", "b=2"]);
        // A template that wrote the trailer in the body, followed by prose.
        let body = "s\n\nFerry-Path: envs/staging\n\nThanks!\n";
        assert_eq!(values(body, PATH), ["envs/staging"]);
        assert!(values(body, UPDATE).is_empty());
    }
}
