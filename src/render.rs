//! Text ferry writes from templates: commit messages now, preview manifests later.
//!
//! Templates are tera. Built-in templates live in `templates/` and are embedded at compile time;
//! a repository may supply its own (`commit.message` in `ferry.yaml`). Values are data: they
//! are passed in the context, never spliced into template source, and `get_env` is disabled so a
//! template cannot read the CI's secrets.

use serde::Serialize;
use tera::{Context, Tera};

/// The built-in commit-message template.
pub const COMMIT_MESSAGE: &str = include_str!("../templates/commit-message.tera");

/// The built-in title of a change request (pull or merge request) for a bump.
pub const CHANGE_REQUEST_TITLE: &str = include_str!("../templates/change-request-title.tera");

/// The built-in description of a change request for a bump.
pub const CHANGE_REQUEST_BODY: &str = include_str!("../templates/change-request-body.tera");

/// Longest change-request title: GitHub and GitLab both take 255 characters.
const MAX_TITLE: usize = 255;

/// What the title and description templates of a change request can use: everything a commit
/// message can, and links.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRequestContext {
    #[serde(flatten)]
    pub message: MessageContext,
    /// "pull request" or "merge request".
    pub change_request: String,
    pub head_branch: String,
    pub source_repo: Option<String>,
    pub source_commit: Option<String>,
    pub source_commit_url: Option<String>,
    pub source_ref: Option<String>,
    pub run_url: Option<String>,
    /// The hidden marker ferry finds its change requests by; the body must keep it.
    pub marker: String,
}

/// Renders a change request's title and description. Each template is the repository's
/// (name, text) or `None` for the built-in one. The title is one line; the description must
/// keep `context.marker` (it is appended when a template drops it).
pub fn change_request(
    title: Option<(&str, &str)>,
    body: Option<(&str, &str)>,
    context: &ChangeRequestContext,
) -> Result<(String, String), RenderError> {
    let (title_name, title_source) =
        title.unwrap_or(("built-in change request title", CHANGE_REQUEST_TITLE));
    let rendered = render(title_name, title_source, context)?;
    let mut title: String = rendered
        .split(|c: char| c.is_control())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if title.is_empty() {
        return Err(RenderError {
            name: title_name.to_owned(),
            detail: "the template rendered an empty title".to_owned(),
        });
    }
    if title.chars().count() > MAX_TITLE {
        title = title.chars().take(MAX_TITLE - 1).collect::<String>() + "…";
    }
    let (body_name, body_source) =
        body.unwrap_or(("built-in change request description", CHANGE_REQUEST_BODY));
    let rendered = render(body_name, body_source, context)?;
    let lines: Vec<&str> = rendered.lines().map(str::trim_end).collect();
    let mut body = lines.join("\n").trim().to_owned();
    if !body.contains(&context.marker) {
        body.push_str("\n\n");
        body.push_str(&context.marker);
    }
    body.push('\n');
    Ok((title, body))
}

/// `value` as a double-quoted YAML scalar that reads back as exactly `value`, whatever it
/// contains: quotes, backslashes, line breaks (`\n`, `\r`, NEL, U+2028, U+2029), other control
/// characters and invisible format characters ([`crate::ci::is_format`]: bidi overrides,
/// zero-width characters, written as `\u202E` escapes), `---`, `{{ }}`, `#`. Untrusted text (branch names, titles) reaches YAML only
/// through this (the `yaml` filter of templates).
#[must_use]
pub fn yaml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if crate::ci::is_format(c) => {
                // Shown escaped (bidi overrides, zero-width characters): the file shows them,
                // the value reads back exactly.
                let code = u32::from(c);
                if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02X}"));
                } else {
                    out.push_str(&format!("\\u{code:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Markdown inline code that shows `value` as it is, whatever it contains: a fence of more
/// backticks than any run inside it, padded when the value touches a backtick; line breaks
/// become spaces. Untrusted text (branch names, tags) reaches descriptions only through this.
#[must_use]
pub fn markdown_code(value: &str) -> String {
    let value: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in value.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if value.starts_with('`') || value.ends_with('`') || value.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{value}{pad}{fence}")
}

/// One image in a commit message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageImage {
    /// The normalized name (`docker.io/library/nginx`).
    pub name: String,
    /// The short name people write (`nginx`).
    pub short: String,
    /// The previous tag(s), comma-separated, or `(new)` when the tag was added.
    pub from: String,
    /// The new tag (with `@digest` when pinned).
    pub to: String,
}

/// A `Key: value` line in the message's last paragraph.
#[derive(Debug, Clone, Serialize)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// What a commit-message template can use.
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    /// The environment's name (or its path when bumped by `--path`).
    pub environment: String,
    pub path: String,
    pub branch: String,
    pub images: Vec<MessageImage>,
    /// How many scalars changed, in how many files.
    pub changes: usize,
    pub files: usize,
    pub trailers: Vec<Trailer>,
}

/// A template that failed to render, with tera's explanation.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {detail}")]
pub struct RenderError {
    pub name: String,
    pub detail: String,
}

/// Renders a commit message. `template` is the repository's template text (named `name` in
/// errors), or `None` for the built-in one. The result ends with exactly one newline and has no
/// trailing whitespace on its lines.
pub fn commit_message(
    template: Option<(&str, &str)>,
    context: &MessageContext,
) -> Result<String, RenderError> {
    let (name, source) = template.unwrap_or(("built-in commit message", COMMIT_MESSAGE));
    let text = render(name, source, context)?;
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut message = lines.join("\n").trim().to_owned();
    if message.is_empty() {
        return Err(RenderError {
            name: name.to_owned(),
            detail: "the template rendered an empty commit message".to_owned(),
        });
    }
    message.push('\n');
    Ok(message)
}

/// Renders `source` (a template named `name` in errors) with `value` as its context, with
/// ferry's filters (`yaml`, `md_code`) and without `get_env`.
pub fn template_text<T: Serialize>(
    name: &str,
    source: &str,
    value: &T,
) -> Result<String, RenderError> {
    render(name, source, value)
}

fn render<T: Serialize>(name: &str, source: &str, value: &T) -> Result<String, RenderError> {
    let error = |e: &tera::Error| RenderError {
        name: name.to_owned(),
        detail: chain(e),
    };
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_function(
        "get_env",
        |_: &std::collections::HashMap<String, tera::Value>| {
            Err(tera::Error::msg(
                "get_env is disabled in ferry templates: pass values through the context",
            ))
        },
    );
    tera.register_filter(
        "md_code",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = match value {
                tera::Value::String(s) => s.clone(),
                tera::Value::Null => String::new(),
                other => other.to_string(),
            };
            Ok(tera::Value::String(markdown_code(&text)))
        },
    );
    tera.register_filter(
        "yaml",
        |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            let text = match value {
                tera::Value::String(s) => s.clone(),
                tera::Value::Null => String::new(),
                other => other.to_string(),
            };
            Ok(tera::Value::String(yaml_string(&text)))
        },
    );
    tera.add_raw_template(name, source).map_err(|e| error(&e))?;
    let context = Context::from_serialize(value).map_err(|e| error(&e))?;
    tera.render(name, &context).map_err(|e| error(&e))
}

/// tera's error and its causes on one line.
fn chain(e: &tera::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn yaml_strings_read_back_as_themselves(value in any::<String>()) {
            let document = format!("key: {}\n", yaml_string(&value));
            let read: std::collections::BTreeMap<String, String> =
                serde_saphyr::from_str(&document).map_err(|e| TestCaseError::fail(format!("{e}: {document:?}")))?;
            prop_assert_eq!(read.get("key"), Some(&value));
        }
    }

    #[test]
    fn templates_quote_with_the_yaml_and_md_code_filters() {
        #[derive(Serialize)]
        struct Values {
            branch: String,
        }
        let values = Values {
            branch: "x\"\nkind: Secret `tick`".to_owned(),
        };
        let text = render(
            "t",
            "name: {{ branch | yaml }}\nnote: {{ branch | md_code }}\n",
            &values,
        )
        .expect("render");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(r#"name: "x\"\nkind: Secret `tick`""#));
        // The text ends with a backtick: CommonMark needs a space inside the fence.
        assert_eq!(lines.next(), Some("note: `` x\" kind: Secret `tick` ``"));
    }

    #[test]
    fn format_characters_are_written_as_escapes() {
        let value = "feat\u{202e}x\u{200b}\u{e0041}";
        let quoted = yaml_string(value);
        assert_eq!(quoted, "\"feat\\u202Ex\\u200B\\U000E0041\"");
        let back: String = serde_saphyr::from_str(&quoted).expect("yaml");
        assert_eq!(back, value);
    }

    #[test]
    fn hostile_text_stays_one_yaml_string() {
        for hostile in [
            "a\nkind: Secret",
            "\"quoted\" 'single' \\ back",
            "---\n...",
            "{{ name }} {% raw %}",
            "# comment",
            "line\u{2028}separator\u{85}next",
            "\u{feff}bom",
            "tab\there\0nul",
        ] {
            let quoted = yaml_string(hostile);
            assert!(
                !quoted.contains('\n') && !quoted.contains('\u{2028}'),
                "{quoted}"
            );
            let document = format!("key: {quoted}\nother: 1\n");
            let read: std::collections::BTreeMap<String, serde_json::Value> =
                serde_saphyr::from_str(&document).expect(&document);
            assert_eq!(read.len(), 2, "{document}");
            assert_eq!(read["key"], serde_json::Value::String(hostile.to_owned()));
        }
    }

    fn context(images: &[(&str, &str, &str)], trailers: &[(&str, &str)]) -> MessageContext {
        MessageContext {
            environment: "staging".to_owned(),
            path: "envs/staging".to_owned(),
            branch: "main".to_owned(),
            images: images
                .iter()
                .map(|(short, from, to)| MessageImage {
                    name: format!("ghcr.io/acme/{short}"),
                    short: (*short).to_owned(),
                    from: (*from).to_owned(),
                    to: (*to).to_owned(),
                })
                .collect(),
            changes: images.len(),
            files: 1,
            trailers: trailers
                .iter()
                .map(|(k, v)| Trailer {
                    key: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_image_names_it_in_the_subject() {
        let message = commit_message(
            None,
            &context(
                &[("cart", "1a2b3c4", "9d8c7b6")],
                &[
                    ("Ferry-Source-Repo", "https://github.com/acme/cart"),
                    ("Ferry-Run-Number", "412"),
                ],
            ),
        )
        .unwrap();
        assert_eq!(
            message,
            "staging: bump cart to 9d8c7b6\n\n- cart: 1a2b3c4 → 9d8c7b6\n\nFerry-Source-Repo: https://github.com/acme/cart\nFerry-Run-Number: 412\n"
        );
    }

    #[test]
    fn several_images_are_counted_and_listed() {
        let message = commit_message(
            None,
            &context(&[("cart", "1", "2"), ("web", "(new)", "3")], &[]),
        )
        .unwrap();
        assert_eq!(
            message,
            "staging: bump 2 images\n\n- cart: 1 → 2\n- web: (new) → 3\n"
        );
    }

    #[test]
    fn a_repository_template_is_used_and_cannot_read_the_environment() {
        let own =
            "deploy({{ environment }}): {% for i in images %}{{ i.short }}@{{ i.to }} {% endfor %}";
        let message = commit_message(
            Some(("ferry.tera", own)),
            &context(&[("cart", "1", "2")], &[]),
        )
        .unwrap();
        assert_eq!(message, "deploy(staging): cart@2\n");
        let leak = "{{ get_env(name=\"HOME\") }}";
        let err = commit_message(Some(("leak.tera", leak)), &context(&[], &[])).unwrap_err();
        assert!(err.to_string().contains("get_env is disabled"), "{err}");
        let broken = "{% if %}";
        let err = commit_message(Some(("broken.tera", broken)), &context(&[], &[])).unwrap_err();
        assert!(err.to_string().starts_with("broken.tera: "), "{err}");
    }

    #[test]
    fn values_are_not_escaped_or_interpreted() {
        let message = commit_message(None, &context(&[("cart", "<a&b>", "{{ x }}")], &[])).unwrap();
        assert!(message.contains("- cart: <a&b> → {{ x }}"), "{message}");
    }
}
