//! Publishing: [`Outputs`] handed to the CI's own mechanism, appended to `$GITHUB_OUTPUT` and
//! `$GITHUB_STEP_SUMMARY` on GitHub, a rewritten dotenv report on GitLab (see the
//! [module documentation](super) for the formats).

use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::context::var;
use super::{Context, Provider, one_line, process_env};

/// File name of the GitLab dotenv report when `$FERRY_DOTENV` is not set.
pub const DEFAULT_DOTENV: &str = "ferry.env";

/// Prefix of every variable written to the GitLab dotenv report.
pub const DOTENV_PREFIX: &str = "FERRY_";

/// Results a command hands to the CI: ordered key/value outputs plus a Markdown summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Outputs in the order they are published; keys are kebab-case (`commit-sha`).
    pub values: Vec<(String, String)>,
    /// Markdown for the run's summary page (GitHub only); empty for none.
    pub summary: String,
}

impl Outputs {
    /// Sets `key` to `value`: replaces the value of an existing key in place, else appends.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key, value)),
        }
        self
    }

    /// The value of `key`, if set.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `outputs` where the CI reads them and returns the files written.
///
/// - GitHub: appends the values to `$GITHUB_OUTPUT` (when there are values) and the summary to
///   `$GITHUB_STEP_SUMMARY` (when it is not blank); an unset variable skips its part.
/// - GitLab: rewrites the dotenv file at `$FERRY_DOTENV`, or [`DEFAULT_DOTENV`] in `cwd`.
/// - Not in CI (`ctx` is `None`): writes nothing and returns an empty list.
///
/// Relative paths from the environment are resolved against `cwd`. See the
/// [module documentation](crate::ci) for the exact formats.
///
/// # Errors
///
/// `InvalidInput` when a key is empty or has a character other than ASCII letters, digits, `-`
/// and `_` (checked first, in or out of CI, so nothing is half-written); otherwise the I/O
/// error of the file that could not be written, with its path in the message.
pub fn publish(
    ctx: Option<&Context>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    for (key, _) in &outputs.values {
        check_key(key)?;
    }
    let Some(ctx) = ctx else {
        return Ok(Vec::new());
    };
    match ctx.provider {
        Provider::GithubActions => publish_github(env, cwd, outputs),
        Provider::GitlabCi => publish_gitlab(env, cwd, outputs),
    }
}

/// [`publish`] from the current directory with the process environment; a failure is a warning
/// (the work itself is done and reported).
pub fn publish_or_warn(ctx: Option<&Context>, outputs: &Outputs) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match publish(ctx, &process_env, &cwd, outputs) {
        Ok(files) => {
            for f in files {
                tracing::debug!(file = %f.display(), "wrote CI outputs");
            }
        }
        Err(e) => tracing::warn!("could not write the CI outputs: {e}"),
    }
}

/// Accepts keys valid as GitHub output names and, prefixed, as GitLab dotenv variable names.
fn check_key(key: &str) -> io::Result<()> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid CI output key {key:?}: use ASCII letters, digits, '-' and '_' only"),
        ))
    }
}

/// `path` from the environment, resolved against `cwd` when relative.
fn resolve(cwd: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

/// `error` with `path` in its message, keeping its kind.
fn at(path: &Path, error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Appends `text` to `path` (created when missing) in one write.
fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| at(path, &e))?;
    file.write_all(text.as_bytes()).map_err(|e| at(path, &e))
}

fn publish_github(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if !outputs.values.is_empty()
        && let Some(path) = var(env, "GITHUB_OUTPUT")
    {
        let path = resolve(cwd, &path);
        append(&path, &github_output_text(&outputs.values))?;
        written.push(path);
    }
    if !outputs.summary.trim().is_empty()
        && let Some(path) = var(env, "GITHUB_STEP_SUMMARY")
    {
        let path = resolve(cwd, &path);
        let mut text = String::with_capacity(outputs.summary.len() + 1);
        text.push_str(&outputs.summary);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        append(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// The `$GITHUB_OUTPUT` lines for `values`: `key=value`, or the heredoc form for values with a
/// CR or LF (the runner splits lines on LF, and on CRLF on Windows).
fn github_output_text(values: &[(String, String)]) -> String {
    let mut out = String::new();
    for (key, value) in values {
        out.push_str(key);
        if value.contains(['\n', '\r']) {
            let delimiter = heredoc_delimiter(value);
            out.push_str("<<");
            out.push_str(&delimiter);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
            out.push_str(&delimiter);
        } else {
            out.push('=');
            out.push_str(value);
        }
        out.push('\n');
    }
    out
}

/// A `ghadelimiter_<hex>` delimiter that does not occur anywhere in `value`.
fn heredoc_delimiter(value: &str) -> String {
    // RandomState is seeded from the OS per thread, so delimiters are hard to predict; the
    // containment check makes them correct whatever the value holds.
    let state = RandomState::new();
    let mut counter: u64 = 0;
    loop {
        let mut hasher = state.build_hasher();
        hasher.write_u64(counter);
        hasher.write(value.as_bytes());
        let delimiter = format!("ghadelimiter_{:016x}", hasher.finish());
        if !value.contains(&delimiter) {
            return delimiter;
        }
        counter += 1;
    }
}

fn publish_gitlab(
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    outputs: &Outputs,
) -> io::Result<Vec<PathBuf>> {
    let path =
        var(env, "FERRY_DOTENV").map_or_else(|| cwd.join(DEFAULT_DOTENV), |p| resolve(cwd, &p));
    fs::write(&path, dotenv_text(&outputs.values)).map_err(|e| at(&path, &e))?;
    Ok(vec![path])
}

/// The dotenv variable name of output `key`: `FERRY_` + upper-cased key with `-` → `_`.
fn dotenv_key(key: &str) -> String {
    let mut name = String::with_capacity(DOTENV_PREFIX.len() + key.len());
    name.push_str(DOTENV_PREFIX);
    name.extend(key.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    name
}

/// The dotenv report for `values`: one `NAME=value` line each, single-line values, and each
/// name once (its last value, at its first position).
fn dotenv_text(values: &[(String, String)]) -> String {
    let mut lines: Vec<(String, String)> = Vec::with_capacity(values.len());
    for (key, value) in values {
        let name = dotenv_key(key);
        let value = one_line(value);
        match lines.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => lines.push((name, value)),
        }
    }
    let mut out = String::new();
    for (name, value) in lines {
        out.push_str(&name);
        out.push('=');
        out.push_str(&value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_env::{env_of, github_ctx, gitlab_ctx};
    use super::*;

    /// Parses a `$GITHUB_OUTPUT` file the way the Actions runner does on Linux: lines end at
    /// LF; `name=value` when `=` comes before any `<<`, else `name<<DELIM` and the lines up to
    /// one equal to `DELIM`, joined without the LF before the delimiter.
    fn parse_github_output(text: &str) -> Vec<(String, String)> {
        fn next_line(rest: &mut &str) -> Option<String> {
            if rest.is_empty() {
                return None;
            }
            let (line, tail) = rest.split_once('\n').expect("every line ends with LF");
            *rest = tail;
            Some(line.to_owned())
        }
        let mut result = Vec::new();
        let mut rest = text;
        while let Some(line) = next_line(&mut rest) {
            if line.is_empty() {
                continue;
            }
            let equals = line.find('=');
            let heredoc = line.find("<<");
            match (equals, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    result.push((line[..e].to_owned(), line[e + 1..].to_owned()));
                }
                (_, Some(h)) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    assert!(!name.is_empty() && !delimiter.is_empty());
                    let mut value_lines = Vec::new();
                    loop {
                        let next = next_line(&mut rest).expect("matching delimiter found");
                        if next == delimiter {
                            break;
                        }
                        value_lines.push(next);
                    }
                    result.push((name.to_owned(), value_lines.join("\n")));
                }
                _ => panic!("invalid format {line:?}"),
            }
        }
        result
    }

    #[test]
    fn github_output_single_and_multi_line_values_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("github_output");
        // The runner creates the file; ferry must append to what earlier steps wrote.
        fs::write(&output, "earlier=step\n").expect("seed");
        let env = env_of(&[("GITHUB_OUTPUT", output.to_str().expect("utf-8 path"))]);

        let mut outputs = Outputs::default();
        outputs
            .set("changed", "true")
            .set("commit-sha", "0123abcd")
            .set("empty", "")
            .set("tricky", "a=b<<c")
            .set("notes", "line one\nline two\n\nghadelimiter_0 inside\n")
            .set("crlf", "first\r\nsecond")
            .set("only-newline", "\n");
        let written = publish(Some(&github_ctx()), &env, dir.path(), &outputs).expect("publish");
        assert_eq!(written, vec![output.clone()]);

        let text = fs::read_to_string(&output).expect("read back");
        assert!(text.contains("changed=true\n"), "{text}");
        assert!(text.contains("notes<<ghadelimiter_"), "{text}");
        let mut expected = vec![("earlier".to_owned(), "step".to_owned())];
        expected.extend(outputs.values.iter().cloned());
        assert_eq!(parse_github_output(&text), expected);
    }

    #[test]
    fn heredoc_delimiter_avoids_value() {
        for value in ["x\ny", "ghadelimiter_\n", "\n\n\n"] {
            let delimiter = heredoc_delimiter(value);
            assert!(delimiter.starts_with("ghadelimiter_"));
            assert!(!value.contains(&delimiter));
        }
        let text = github_output_text(&[("k".to_owned(), "a\nb".to_owned())]);
        let delimiter = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("k<<"))
            .expect("heredoc header");
        assert_eq!(text, format!("k<<{delimiter}\na\nb\n{delimiter}\n"));
    }

    #[test]
    fn step_summary_is_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = dir.path().join("step_summary.md");
        let env = env_of(&[("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8 path"))]);
        let ctx = github_ctx();

        let first = Outputs {
            values: Vec::new(),
            summary: "## ferry\n\n| image | tag |\n| --- | --- |\n| web | v1 |".to_owned(),
        };
        let second = Outputs {
            values: Vec::new(),
            summary: "second run\n".to_owned(),
        };
        assert_eq!(
            publish(Some(&ctx), &env, dir.path(), &first).expect("first"),
            vec![summary.clone()]
        );
        assert_eq!(
            publish(Some(&ctx), &env, dir.path(), &second).expect("second"),
            vec![summary.clone()]
        );
        let text = fs::read_to_string(&summary).expect("read back");
        assert_eq!(
            text,
            "## ferry\n\n| image | tag |\n| --- | --- |\n| web | v1 |\nsecond run\n"
        );
    }

    #[test]
    fn github_skips_unset_targets_and_blank_summary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut outputs = Outputs::default();
        outputs.set("changed", "false");
        outputs.summary = "  \n".to_owned();
        let summary = dir.path().join("summary.md");
        let env = env_of(&[
            ("GITHUB_OUTPUT", ""),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8 path")),
        ]);
        let written = publish(Some(&github_ctx()), &env, dir.path(), &outputs).expect("publish");
        assert!(written.is_empty());
        assert!(!summary.exists());
    }

    /// Parses a dotenv report the way GitLab does: `^(.*?)=(.*)$` per line, both sides
    /// stripped; any line without `=` (blank lines included) is an error.
    fn parse_gitlab_dotenv(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|line| {
                let (key, value) = line.split_once('=').expect("valid dotenv line");
                assert!(
                    key.trim()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "GitLab key {key:?}"
                );
                (key.trim().to_owned(), value.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn gitlab_dotenv_at_ferry_dotenv_is_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out").join("build.env");
        fs::create_dir(dir.path().join("out")).expect("mkdir");
        let env = env_of(&[("FERRY_DOTENV", target.to_str().expect("utf-8 path"))]);
        let ctx = gitlab_ctx();

        let mut first = Outputs::default();
        first.set("stale", "old");
        publish(Some(&ctx), &env, dir.path(), &first).expect("first");

        let mut outputs = Outputs::default();
        outputs
            .set("commit-sha", "0123abcd")
            .set("changed", "true")
            .set("notes", "line one\r\nline two\n")
            .set("url", "https://x.example/?a=b");
        let written = publish(Some(&ctx), &env, dir.path(), &outputs).expect("publish");
        assert_eq!(written, vec![target.clone()]);
        let text = fs::read_to_string(&target).expect("read back");
        assert_eq!(
            text,
            "FERRY_COMMIT_SHA=0123abcd\nFERRY_CHANGED=true\nFERRY_NOTES=line one line two\n\
             FERRY_URL=https://x.example/?a=b\n"
        );
        assert_eq!(
            parse_gitlab_dotenv(&text),
            vec![
                ("FERRY_COMMIT_SHA".to_owned(), "0123abcd".to_owned()),
                ("FERRY_CHANGED".to_owned(), "true".to_owned()),
                ("FERRY_NOTES".to_owned(), "line one line two".to_owned()),
                ("FERRY_URL".to_owned(), "https://x.example/?a=b".to_owned()),
            ]
        );
    }

    #[test]
    fn gitlab_dotenv_default_path_and_relative_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = gitlab_ctx();
        let mut outputs = Outputs::default();
        outputs.set("changed", "false");

        let written =
            publish(Some(&ctx), &env_of(&[]), dir.path(), &outputs).expect("default path");
        let default = dir.path().join(DEFAULT_DOTENV);
        assert_eq!(written, vec![default.clone()]);
        assert_eq!(
            fs::read_to_string(&default).expect("read"),
            "FERRY_CHANGED=false\n"
        );

        let env = env_of(&[("FERRY_DOTENV", "vars.env")]);
        let written = publish(Some(&ctx), &env, dir.path(), &outputs).expect("relative path");
        assert_eq!(written, vec![dir.path().join("vars.env")]);

        // With nothing to say the file is still rewritten, empty, so no stale value survives.
        let written =
            publish(Some(&ctx), &env_of(&[]), dir.path(), &Outputs::default()).expect("empty");
        assert_eq!(written, vec![default.clone()]);
        assert_eq!(fs::read_to_string(&default).expect("read"), "");
    }

    #[test]
    fn dotenv_keys_and_duplicates() {
        assert_eq!(dotenv_key("commit-sha"), "FERRY_COMMIT_SHA");
        assert_eq!(dotenv_key("Preview_URL2"), "FERRY_PREVIEW_URL2");
        let values = [
            ("a-b".to_owned(), "1".to_owned()),
            ("c".to_owned(), "2".to_owned()),
            ("a_b".to_owned(), "3".to_owned()),
        ];
        assert_eq!(dotenv_text(&values), "FERRY_A_B=3\nFERRY_C=2\n");
    }

    #[test]
    fn not_in_ci_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out");
        let env = env_of(&[
            ("GITHUB_OUTPUT", output.to_str().expect("utf-8 path")),
            ("FERRY_DOTENV", "x.env"),
        ]);
        let mut outputs = Outputs::default();
        outputs.set("changed", "true");
        outputs.summary = "hello".to_owned();
        assert!(
            publish(None, &env, dir.path(), &outputs)
                .expect("publish")
                .is_empty()
        );
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn invalid_keys_are_refused_before_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("out");
        let env = env_of(&[("GITHUB_OUTPUT", output.to_str().expect("utf-8 path"))]);
        for bad in ["", "a=b", "a<<b", "new\nline", "sp ace", "dot.ted", "é"] {
            let mut outputs = Outputs::default();
            outputs.set("good", "1").set(bad, "2");
            let err = publish(Some(&github_ctx()), &env, dir.path(), &outputs)
                .expect_err("invalid key refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            let err = publish(None, &env, dir.path(), &outputs).expect_err("refused out of CI");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(!output.exists());
    }

    #[test]
    fn write_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("no-such-dir").join("ferry.env");
        let env = env_of(&[("FERRY_DOTENV", target.to_str().expect("utf-8 path"))]);
        let err = publish(Some(&gitlab_ctx()), &env, dir.path(), &Outputs::default())
            .expect_err("missing directory");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn outputs_set_replaces_in_place() {
        let mut outputs = Outputs::default();
        outputs.set("a", "1").set("b", "2").set("a", "3");
        assert_eq!(
            outputs.values,
            vec![
                ("a".to_owned(), "3".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(outputs.get("a"), Some("3"));
        assert_eq!(outputs.get("c"), None);
    }

    // --- trailers -------------------------------------------------------------------------
}
