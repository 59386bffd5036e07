//! Text ferry writes from templates: commit messages now, preview manifests later.
//!
//! Templates are tera. Built-in templates live in `templates/` and are embedded at compile time;
//! a repository may supply its own (`commit.message` in `ferry.yaml`). Values are data: they
//! are passed in the context, never spliced into template source, and `get_env` is disabled so a
//! template cannot read the CI's secrets.

use std::time::Duration;

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
/// contains: the `yaml` filter of templates. It is [`crate::yaml::scalar::double_quoted`],
/// ferry's one YAML quoting.
pub use crate::yaml::scalar::double_quoted as yaml_string;

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

/// How long one template may render: far more than any template that lists images needs.
pub const RENDER_TIME: Duration = Duration::from_secs(2);

/// The most text one template may produce.
pub const RENDER_OUTPUT: usize = 1 << 20;

/// The most items `range()` may produce, and the longest array `concat` may build.
pub const RANGE_MAX: usize = 100_000;

/// How many times a `{% set %}` may multiply the text of the values it reads (`a ~ a` reads
/// `a` twice): chains of doubling `set`s are refused before rendering.
pub const SET_GROWTH_MAX: u64 = 64;

/// Renders `source` within the budget: at most [`RENDER_OUTPUT`] bytes of output, `range()` of
/// at most [`RANGE_MAX`] items, no `set_global` in loops nor `set` chains that multiply text,
/// and at most [`RENDER_TIME`]: the render runs on its own thread, which is abandoned when
/// the time is up (the command fails and the process exits soon after).
fn render<T: Serialize>(name: &str, source: &str, value: &T) -> Result<String, RenderError> {
    let error = |e: &tera::Error| RenderError {
        name: name.to_owned(),
        detail: chain(e),
    };
    let fail = |detail: String| RenderError {
        name: name.to_owned(),
        detail,
    };
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    register(&mut tera);
    tera.add_raw_template(name, source).map_err(|e| error(&e))?;
    let template = tera.get_template(name).map_err(|e| error(&e))?;
    budget::check(&template.ast).map_err(fail)?;
    let context = Context::from_serialize(value).map_err(|e| error(&e))?;

    let (done, result) = std::sync::mpsc::channel();
    let owned = name.to_owned();
    std::thread::Builder::new()
        .name("ferry-render".to_owned())
        .spawn(move || {
            let mut out = budget::Output::default();
            let rendered = tera.render_to(&owned, &context, &mut out);
            let _ = done.send((rendered, out));
        })
        .map_err(|e| fail(format!("cannot start the render: {e}")))?;
    let Ok((rendered, out)) = result.recv_timeout(RENDER_TIME) else {
        return Err(fail(format!(
            "the template did not finish within its time budget of {} s (a loop that runs too long?); make it do less",
            RENDER_TIME.as_secs()
        )));
    };
    if out.exceeded {
        return Err(fail(format!(
            "the template wrote more than its output budget of {} KiB (a loop that runs too long?); make it write less",
            RENDER_OUTPUT >> 10
        )));
    }
    rendered.map_err(|e| error(&e))?;
    String::from_utf8(out.bytes).map_err(|e| fail(format!("the output is not UTF-8: {e}")))
}

/// ferry's filters and functions: `yaml`, `md_code`, a bounded `range`, `replace`, `join` and
/// `concat`, and no `get_env`.
fn register(tera: &mut Tera) {
    type Args = std::collections::HashMap<String, tera::Value>;
    tera.register_function("get_env", |_: &Args| {
        Err(tera::Error::msg(
            "get_env is disabled in ferry templates: pass values through the context",
        ))
    });
    tera.register_function("range", budget::range);
    tera.register_filter("replace", budget::replace);
    tera.register_filter("join", budget::join);
    tera.register_filter("concat", budget::concat);
    tera.register_filter("md_code", |value: &tera::Value, _: &Args| {
        Ok(tera::Value::String(markdown_code(&text_of(value))))
    });
    tera.register_filter("yaml", |value: &tera::Value, _: &Args| {
        Ok(tera::Value::String(yaml_string(&text_of(value))))
    });
}

/// A value as the `yaml` and `md_code` filters see it.
fn text_of(value: &tera::Value) -> String {
    match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The render budget: the output writer, the bounded functions and filters, and the checks of
/// a template's syntax tree made before it renders.
mod budget {
    use std::collections::HashMap;
    use std::io;

    use tera::ast::{Expr, ExprVal, Node};
    use tera::{Value, to_value};

    use super::{RANGE_MAX, RENDER_OUTPUT, SET_GROWTH_MAX};

    type Args = HashMap<String, Value>;

    /// Collects output and fails past [`RENDER_OUTPUT`].
    #[derive(Default)]
    pub(super) struct Output {
        pub(super) bytes: Vec<u8>,
        pub(super) exceeded: bool,
    }

    impl io::Write for Output {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.bytes.len() + buf.len() > RENDER_OUTPUT {
                self.exceeded = true;
                return Err(io::Error::other("over the output budget"));
            }
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn number(args: &Args, key: &str, default: Option<usize>) -> tera::Result<usize> {
        match args.get(key) {
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    tera::Error::msg(format!(
                        "Function `range` received {key}={v} but `{key}` can only be a number"
                    ))
                }),
            None => default.ok_or_else(|| {
                tera::Error::msg(format!(
                    "Function `range` was called without a `{key}` argument"
                ))
            }),
        }
    }

    /// tera's `range(end, start=0, step_by=1)`, refusing more than [`RANGE_MAX`] items (tera
    /// builds the whole array first: `range(end=4000000000)` took 9 GB) and `step_by=0`.
    pub(super) fn range(args: &Args) -> tera::Result<Value> {
        let start = number(args, "start", Some(0))?;
        let step = number(args, "step_by", Some(1))?;
        let end = number(args, "end", None)?;
        if start > end {
            return Err(tera::Error::msg(
                "Function `range` was called with a `start` argument greater than the `end` one",
            ));
        }
        if step == 0 {
            return Err(tera::Error::msg(
                "Function `range` needs a `step_by` above 0",
            ));
        }
        let count = (end - start).div_ceil(step);
        if count > RANGE_MAX {
            return Err(tera::Error::msg(format!(
                "range() of {count} items is over ferry's limit of {RANGE_MAX}"
            )));
        }
        Ok(to_value(
            (start..end).step_by(step).collect::<Vec<usize>>(),
        )?)
    }

    fn string(value: &Value, filter: &str, what: &str) -> tera::Result<String> {
        value.as_str().map(str::to_owned).ok_or_else(|| {
            tera::Error::msg(format!("Filter `{filter}` received an incorrect type for arg `{what}`: got `{value}` but expected a String"))
        })
    }

    fn too_long(filter: &str) -> tera::Error {
        tera::Error::msg(format!(
            "`{filter}` would make a text longer than ferry's output budget of {} KiB",
            RENDER_OUTPUT >> 10
        ))
    }

    /// tera's `replace(from, to)`, refusing results longer than the output budget (a chain of
    /// replacements multiplies the length at each step).
    pub(super) fn replace(value: &Value, args: &Args) -> tera::Result<Value> {
        let s = string(value, "replace", "value")?;
        let arg = |key: &str| match args.get(key) {
            Some(v) => string(v, "replace", key),
            None => Err(tera::Error::msg(format!(
                "Filter `replace` expected an arg called `{key}`"
            ))),
        };
        let (from, to) = (arg("from")?, arg("to")?);
        let count = if from.is_empty() {
            s.chars().count() + 1
        } else {
            s.matches(from.as_str()).count()
        };
        let grown = s.len() + count.saturating_mul(to.len());
        if grown > RENDER_OUTPUT {
            return Err(too_long("replace"));
        }
        Ok(Value::String(s.replace(&from, &to)))
    }

    fn rendered(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// tera's `join(sep="")`, refusing results longer than the output budget.
    pub(super) fn join(value: &Value, args: &Args) -> tera::Result<Value> {
        let items = value.as_array().ok_or_else(|| {
            tera::Error::msg(format!(
                "Filter `join` was called on an incorrect value: got `{value}` but expected a Vec<Value>"
            ))
        })?;
        let sep = match args.get("sep") {
            Some(v) => string(v, "join", "sep")?
                .replace("\\n", "\n")
                .replace("\\t", "\t"),
            None => String::new(),
        };
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&sep);
            }
            out.push_str(&rendered(item));
            if out.len() > RENDER_OUTPUT {
                return Err(too_long("join"));
            }
        }
        Ok(Value::String(out))
    }

    /// tera's `concat(with)`, refusing arrays longer than [`RANGE_MAX`].
    pub(super) fn concat(value: &Value, args: &Args) -> tera::Result<Value> {
        let mut items = value.as_array().cloned().ok_or_else(|| {
            tera::Error::msg(format!(
                "Filter `concat` was called on an incorrect value: got `{value}` but expected a Vec<Value>"
            ))
        })?;
        match args.get("with") {
            Some(Value::Array(more)) => items.extend(more.iter().cloned()),
            Some(one) => items.push(one.clone()),
            None => {
                return Err(tera::Error::msg(
                    "The `concat` filter has to have a `with` argument",
                ));
            }
        }
        if items.len() > RANGE_MAX {
            return Err(tera::Error::msg(format!(
                "`concat` would make an array of {} items, over ferry's limit of {RANGE_MAX}",
                items.len()
            )));
        }
        Ok(Value::Array(items))
    }

    /// Refuses, before rendering, what would grow memory without output: `set_global` inside a
    /// loop (a value that doubles at each turn), and `set`s whose value reads earlier `set`
    /// values so often that text is multiplied more than [`SET_GROWTH_MAX`] times.
    pub(super) fn check(ast: &[Node]) -> Result<(), String> {
        let mut growth: HashMap<String, u64> = HashMap::new();
        walk(ast, 0, &mut growth)
    }

    fn walk(nodes: &[Node], loops: usize, growth: &mut HashMap<String, u64>) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Set(_, set) => {
                    if set.global && loops > 0 {
                        return Err(format!(
                            "`{{% set_global {} = … %}}` inside a loop is not allowed in ferry templates (a value that grows at each turn has no bound); compute the value without set_global",
                            set.key
                        ));
                    }
                    let g = weight(&set.value, growth);
                    if g > SET_GROWTH_MAX {
                        return Err(format!(
                            "`{{% set {} = … %}}` multiplies text {g} times through earlier `set`s, over ferry's limit of {SET_GROWTH_MAX}; build the text with fewer steps",
                            set.key
                        ));
                    }
                    growth.insert(set.key.clone(), g.max(1));
                }
                Node::Forloop(_, f, _) => {
                    walk(&f.body, loops + 1, growth)?;
                    if let Some(empty) = &f.empty_body {
                        walk(empty, loops, growth)?;
                    }
                }
                Node::If(i, _) => {
                    for (_, _, body) in &i.conditions {
                        walk(body, loops, growth)?;
                    }
                    if let Some((_, body)) = &i.otherwise {
                        walk(body, loops, growth)?;
                    }
                }
                Node::FilterSection(_, f, _) => walk(&f.body, loops, growth)?,
                Node::Block(_, b, _) => walk(&b.body, loops, growth)?,
                Node::MacroDefinition(_, m, _) => walk(&m.body, loops, growth)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// How many times `expr` may repeat the text of values set earlier: the sum over what it
    /// reads (a `set` variable counts its own growth, anything else once).
    fn weight(expr: &Expr, growth: &HashMap<String, u64>) -> u64 {
        let mut total = value_weight(&expr.val, growth);
        for filter in &expr.filters {
            for arg in filter.args.values() {
                total = total.saturating_add(weight(arg, growth));
            }
        }
        total
    }

    fn value_weight(val: &ExprVal, growth: &HashMap<String, u64>) -> u64 {
        let sum = |exprs: &mut dyn Iterator<Item = &Expr>| {
            exprs.fold(0u64, |t, e| t.saturating_add(weight(e, growth)))
        };
        match val {
            ExprVal::Ident(name) => {
                // `a.b` and `a[0]` read from `a`.
                let root = name.split(['.', '[']).next().unwrap_or(name);
                growth.get(root).copied().unwrap_or(1)
            }
            ExprVal::Math(m) => weight(&m.lhs, growth).saturating_add(weight(&m.rhs, growth)),
            ExprVal::Logic(l) => weight(&l.lhs, growth).saturating_add(weight(&l.rhs, growth)),
            ExprVal::In(i) => weight(&i.lhs, growth).saturating_add(weight(&i.rhs, growth)),
            ExprVal::Test(t) => sum(&mut t.args.iter()),
            ExprVal::FunctionCall(f) => sum(&mut f.args.values()),
            ExprVal::MacroCall(m) => sum(&mut m.args.values()),
            ExprVal::Array(items) => sum(&mut items.iter()),
            ExprVal::StringConcat(c) => c
                .values
                .iter()
                .fold(0u64, |t, v| t.saturating_add(value_weight(v, growth))),
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => 1,
        }
    }
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
