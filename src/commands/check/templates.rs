//! The commit message and change request templates: read, and rendered with sample values
//! for each environment; a failure located at the template's line.

use super::samples::{change_request_context, message_context};
use super::{Checker, File, Sample, Severity};
use crate::config::{self, Config, ResolvedEnvironment};
use crate::inventory::Inventory;
use crate::present::check::plural;
use crate::preview;
use crate::render::{self, MessageContext, RenderError};
use crate::tree;

impl Checker<'_> {
    /// Reads a template file named by `keys` in `ferry.yaml`; `Err(())` (with the finding)
    /// when it cannot be read.
    pub(super) fn template_file(
        &mut self,
        keys: &[&str],
        path: Option<&str>,
    ) -> Result<Option<File>, ()> {
        let Some(path) = path else {
            return Ok(None);
        };
        let key = keys.join(".");
        let file = match tree::inside(self.dir, path) {
            Ok(file) => file,
            Err(err) => {
                self.outside.get_or_insert(err);
                return Err(());
            }
        };
        match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Ok(Some((path.to_owned(), text))),
                Err(_) => {
                    self.push(
                        Severity::Error,
                        path,
                        None,
                        format!("the template named by `{key}` is not UTF-8"),
                        "save the file as UTF-8".to_owned(),
                    );
                    Err(())
                }
            },
            Err(err) => {
                let why = if err.kind() == std::io::ErrorKind::NotFound {
                    "which does not exist".to_owned()
                } else {
                    format!("which cannot be read: {err}")
                };
                self.at_config(
                    Severity::Error,
                    keys,
                    true,
                    format!("`{key}` names `{path}`, {why}"),
                    format!(
                        "add the template at `{path}` (relative to the repository root), or remove `{key}` to use the built-in one"
                    ),
                );
                Err(())
            }
        }
    }

    /// A template that failed: at its file and line for the repository's own, at the key of
    /// `ferry.yaml` that chose it for a built-in one.
    pub(super) fn render_failed(
        &mut self,
        file: Option<&File>,
        keys: &[&str],
        err: &RenderError,
        sample: &Sample,
    ) {
        match file {
            Some((path, source)) => {
                // Preview errors come located already.
                let detail = if err.detail.starts_with("line ") {
                    err.detail.clone()
                } else {
                    preview::locate_undefined(source, &err.detail)
                };
                let (at, message) = template_error(&detail, &err.name);
                let (message, hint) = match message.strip_prefix(SYNTAX) {
                    Some(expected) => (
                        format!("template does not parse: {expected}"),
                        "fix the tera syntax here; an unclosed `{% if %}` or `{% for %}` is reported at the end of the file".to_owned(),
                    ),
                    None => (
                        format!("template does not render {}: {message}", sample.label),
                        format!(
                            "ferry checks it with sample values; a value that may be absent needs `{{% if … %}}`; the variables are listed in {}",
                            sample.docs
                        ),
                    ),
                };
                self.push(Severity::Error, path, at, message, hint);
            }
            None => {
                let (_, message) = template_error(&err.detail, &err.name);
                self.at_config(
                    Severity::Error,
                    keys,
                    true,
                    format!("{} does not render {}: {message}", err.name, sample.label),
                    "this is a bug in ferry; please report it with ferry.yaml".to_owned(),
                );
            }
        }
    }

    /// The commit message and change request templates, with sample values for each
    /// environment and with one and two images.
    pub(super) fn commit_templates(
        &mut self,
        config: &Config,
        samples: &[(ResolvedEnvironment, Inventory)],
    ) {
        let message_keys = ["commit", "message"];
        let title_keys = ["change-requests", "title"];
        let body_keys = ["change-requests", "body"];
        let message = self.template_file(
            &message_keys,
            config.commit.message.as_ref().map(config::RelPath::as_str),
        );
        let title = self.template_file(
            &title_keys,
            config
                .change_requests
                .title
                .as_ref()
                .map(config::RelPath::as_str),
        );
        let body = self.template_file(
            &body_keys,
            config
                .change_requests
                .body
                .as_ref()
                .map(config::RelPath::as_str),
        );
        self.report.templates += 3;

        let contexts = sample_contexts(config, samples);

        if let Ok(message) = &message {
            let template = as_pair(message);
            if let Some((sample, err)) = contexts
                .iter()
                .find_map(|(sample, c)| Some((sample, render::commit_message(template, c).err()?)))
            {
                self.render_failed(message.as_ref(), &message_keys, &err, sample);
            }
        }
        let (Ok(title), Ok(body)) = (&title, &body) else {
            return;
        };
        let failed = contexts.iter().find_map(|(sample, c)| {
            let context = change_request_context(c);
            Some((
                sample,
                render::change_request(as_pair(title), as_pair(body), &context).err()?,
            ))
        });
        if let Some((sample, err)) = failed {
            let title_failed = match title {
                Some((path, _)) => err.name == *path,
                None => err.name.contains("title"),
            };
            if title_failed {
                self.render_failed(title.as_ref(), &title_keys, &err, sample);
            } else {
                self.render_failed(body.as_ref(), &body_keys, &err, sample);
            }
        }
    }
}

/// The sample values of a commit message for each environment of `samples` (a sample
/// `staging` when there is none), with one and two images.
fn sample_contexts(
    config: &Config,
    samples: &[(ResolvedEnvironment, Inventory)],
) -> Vec<(Sample, MessageContext)> {
    let fallback = [(
        ResolvedEnvironment {
            name: "staging".to_owned(),
            path: "envs/staging".to_owned(),
            branch: config.defaults.branch.clone(),
            update: config.defaults.update,
            hold: false,
            hold_images: Vec::new(),
            hold_reason: None,
            tags: None,
            allow_mutable_tags: false,
            strict: false,
            labels: Vec::new(),
            reviewers: Vec::new(),
            assignees: Vec::new(),
        },
        Inventory::default(),
    )];
    let samples = if samples.is_empty() {
        &fallback[..]
    } else {
        samples
    };
    samples
        .iter()
        .flat_map(|(environment, inventory)| {
            [1, 2].map(|n| {
                let context = message_context(environment, inventory, n);
                let sample = Sample {
                    label: format!(
                        "for environment `{}` with {}",
                        environment.name,
                        plural(context.images.len(), "image")
                    ),
                    docs: "docs/config.md (`commit.message`, `change-requests`)",
                };
                (sample, context)
            })
        })
        .collect()
}

/// A template of the repository as render takes it: (name, text).
fn as_pair(file: &Option<File>) -> Option<(&str, &str)> {
    file.as_ref()
        .map(|(name, text)| (name.as_str(), text.as_str()))
}

/// How [`template_error`] starts the message of a syntax error.
const SYNTAX: &str = "syntax error: ";

/// Where a template failed and what tera said, on one line: `line N: …` (an undefined
/// variable, located by [`preview::locate_undefined`]) or ` --> L:C` (a syntax error).
fn template_error(detail: &str, name: &str) -> (Option<(usize, usize)>, String) {
    if let Some((_, rest)) = detail.split_once(" --> ")
        && let Some((position, _)) = rest.split_once(char::is_whitespace)
        && let Some((line, column)) = position.split_once(':')
        && let (Ok(line), Ok(column)) = (line.parse(), column.parse())
    {
        let expected = detail
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("invalid syntax");
        return (Some((line, column)), format!("{SYNTAX}{expected}"));
    }
    let (at, detail) = match detail
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
    {
        Some((line, rest)) => (Some((line, 1)), rest),
        None => (None, detail),
    };
    let message = detail
        .replace(&format!("Failed to render '{name}': "), "")
        .replace(&format!(" while rendering '{name}'"), "");
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    (at, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_errors_are_located_and_put_on_one_line() {
        let syntax = "Failed to parse '.ferry/p.yaml':  --> 2:9\n  |\n2 | b {% if %}\n  |         ^---\n  |\n  = expected a value that can be negated";
        assert_eq!(
            template_error(syntax, ".ferry/p.yaml"),
            (
                Some((2, 9)),
                "syntax error: expected a value that can be negated".to_owned()
            )
        );
        let undefined = "line 4: Failed to render '.ferry/p.yaml': Variable `nope` not found in context while rendering '.ferry/p.yaml'";
        assert_eq!(
            template_error(undefined, ".ferry/p.yaml"),
            (
                Some((4, 1)),
                "Variable `nope` not found in context".to_owned()
            )
        );
        assert_eq!(
            template_error("the template rendered an empty commit message", "c.tera"),
            (
                None,
                "the template rendered an empty commit message".to_owned()
            )
        );
    }
}
