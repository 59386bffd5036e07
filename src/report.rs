//! What ferry tells people: results on stdout (text or JSON), logs and diagnostics on stderr.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use clap::ValueEnum;
use serde::Serialize;

use crate::ci::{self, Annotation};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// Markdown tables (`status`, `history`); other commands print text.
    Markdown,
}

/// Sets up logging on stderr: `-q` errors only, default warnings and progress, `-v` debug,
/// `-vv` trace. `RUST_LOG` overrides. JSON lines when the output is JSON.
pub fn init_logging(verbose: u8, quiet: bool, output: Output) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ferry={level}")));
    let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(io::stderr()))
        .with_ansi(color)
        .with_target(false);
    let _ = match output {
        Output::Json => builder.json().flatten_event(true).try_init(),
        Output::Text | Output::Markdown => builder.without_time().compact().try_init(),
    };
}

/// Writes a result to stdout: JSON as one pretty document, text as given.
pub fn emit<T: Serialize>(output: Output, value: &T, text: &str) -> io::Result<()> {
    let text = match output {
        Output::Json => {
            let mut json = escape_invisible(&serde_json::to_string_pretty(value)?);
            json.push('\n');
            json
        }
        Output::Text | Output::Markdown => text.to_owned(),
    };
    io::stdout().lock().write_all(redact(&text).as_bytes())
}

/// JSON text with every invisible format character (bidi overrides, zero-width characters:
/// [`ci::is_format`]) and line/paragraph separator written as a `\uXXXX` escape: the
/// same JSON value, but nothing untrusted in it can reorder or hide what a terminal or log
/// shows. serde_json already escapes control characters; these can only occur inside strings.
fn escape_invisible(json: &str) -> String {
    if !json
        .chars()
        .any(|c| ci::is_format(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if ci::is_format(c) || matches!(c, '\u{2028}' | '\u{2029}') {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes diagnostic lines (warnings, the reasons of a failure) to stderr.
pub fn diagnostics(text: &str) {
    let _ = io::stderr().lock().write_all(redact(text).as_bytes());
}

/// Writes `annotation` as a workflow command on stderr (the runner reads commands from both
/// streams; stdout stays the command's report) when running in GitHub Actions.
pub fn annotate(annotation: &Annotation) {
    let command = ci::annotation_command(&ci::process_env, annotation);
    if !command.is_empty() {
        diagnostics(&command);
    }
}

/// Secrets that must never be printed: every output path replaces them with `***`.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a secret (a token, a key) so that no output of this process shows it. Secrets
/// shorter than 4 characters are not registered: replacing them would garble the output and
/// they protect nothing.
pub fn add_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < 4 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        // In GitHub Actions the runner masks it too, in every later step's log: tokens ferry
        // mints (GitHub App installation tokens) are no workflow secret the runner knows.
        let mask = ci::mask_commands(&ci::process_env, secret);
        if !mask.is_empty() {
            let _ = io::stderr().lock().write_all(mask.as_bytes());
        }
    }
}

/// `text` with every registered secret replaced by `***`.
#[must_use]
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = text.to_owned();
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// A log writer that redacts secrets. tracing writes each event with one `write` call.
struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shows_format_characters_escaped_and_reads_back() {
        let value = serde_json::json!({"name": "feat\u{202e}x\u{2028}\u{e0041}", "plain": "é"});
        let text = escape_invisible(&serde_json::to_string_pretty(&value).expect("json"));
        assert!(text.contains("feat\\u202ex\\u2028\\udb40\\udc41"), "{text}");
        assert!(text.contains('é'));
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(back, value);
    }

    #[test]
    fn registered_secrets_are_replaced_everywhere() {
        add_secret("s3cr3t-token-value");
        add_secret("ab");
        assert_eq!(
            redact("token=s3cr3t-token-value; again s3cr3t-token-value; ab"),
            "token=***; again ***; ab"
        );
    }
}
