//! Workflow commands (GitHub Actions): annotations shown on the run's page at a file and line,
//! and masks hiding a secret in the log; nothing outside GitHub Actions.

use super::context::is_true;

/// How serious an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// A message GitHub Actions shows on the run's page, at a file and line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    /// A path relative to the repository root (the environment repository's, for its files).
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub title: String,
    pub message: String,
}

/// Whether this process runs as a GitHub Actions step.
#[must_use]
pub fn in_github_actions(env: &dyn Fn(&str) -> Option<String>) -> bool {
    is_true(env, "GITHUB_ACTIONS")
}

/// The `::add-mask::` commands hiding `secret` in the run's log (one per line of it), or none
/// outside GitHub Actions.
#[must_use]
pub fn mask_commands(env: &dyn Fn(&str) -> Option<String>, secret: &str) -> String {
    if !in_github_actions(env) {
        return String::new();
    }
    secret
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("::add-mask::{}\n", escape_data(l)))
        .collect()
}

/// The workflow command for `annotation` (`::error file=..,line=..,title=..::message`), or
/// nothing outside GitHub Actions.
#[must_use]
pub fn annotation_command(env: &dyn Fn(&str) -> Option<String>, annotation: &Annotation) -> String {
    if !in_github_actions(env) {
        return String::new();
    }
    let name = match annotation.level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut properties = Vec::new();
    if let Some(file) = &annotation.file {
        properties.push(format!("file={}", escape_property(file)));
        if let Some(line) = annotation.line {
            properties.push(format!("line={line}"));
            if let Some(column) = annotation.column {
                properties.push(format!("col={column}"));
            }
        }
    }
    if !annotation.title.is_empty() {
        properties.push(format!("title={}", escape_property(&annotation.title)));
    }
    format!(
        "::{name} {}::{}\n",
        properties.join(","),
        escape_data(annotation.message.trim_end())
    )
}

/// A workflow command's message: `%`, CR and LF escaped, as the runner unescapes them.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,` escaped.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::super::test_env::env_of;
    use super::*;

    #[test]
    fn annotations_are_workflow_commands_with_escaped_properties_and_message() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        let annotation = Annotation {
            level: Level::Error,
            file: Some("envs/a,b:c.yaml".to_owned()),
            line: Some(7),
            column: Some(3),
            title: "ferry: exit 4".to_owned(),
            message: "refused: 100% sure\nsecond line\n".to_owned(),
        };
        assert_eq!(
            annotation_command(&actions, &annotation),
            "::error file=envs/a%2Cb%3Ac.yaml,line=7,col=3,title=ferry%3A exit 4::refused: 100%25 sure%0Asecond line\n"
        );
        // No line without a file; no column without a line.
        let bare = Annotation {
            level: Level::Warning,
            file: None,
            line: Some(3),
            column: None,
            title: String::new(),
            message: "m".to_owned(),
        };
        assert_eq!(annotation_command(&actions, &bare), "::warning ::m\n");
        // Nothing outside GitHub Actions (GitLab has no such command).
        let gitlab = env_of(&[("GITLAB_CI", "true")]);
        assert_eq!(annotation_command(&gitlab, &annotation), "");
    }

    #[test]
    fn annotations_escape_cr_so_no_text_starts_a_command() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        let annotation = Annotation {
            level: Level::Error,
            file: Some("a\r::error::x.yaml".to_owned()),
            line: None,
            column: None,
            title: "t\r\n".to_owned(),
            message: "m\r::error::forged%0A".to_owned(),
        };
        let command = annotation_command(&actions, &annotation);
        assert_eq!(
            command,
            "::error file=a%0D%3A%3Aerror%3A%3Ax.yaml,title=t%0D%0A::m%0D::error::forged%250A\n"
        );
        assert_eq!(command.matches(['\r', '\n']).count(), 1);
    }

    #[test]
    fn masks_cover_each_line_of_a_secret_in_github_actions_only() {
        let actions = env_of(&[("GITHUB_ACTIONS", "true")]);
        assert_eq!(
            mask_commands(&actions, "ghs_abc\nsecond%line\n"),
            "::add-mask::ghs_abc\n::add-mask::second%25line\n"
        );
        assert_eq!(mask_commands(&env_of(&[]), "ghs_abc"), "");
    }
}
