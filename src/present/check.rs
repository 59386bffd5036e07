//! `ferry check` for people and for the CI: each finding as `file:line:column: level:
//! message` with its hint, then a summary line; in GitHub Actions each finding is also an
//! annotation on its line. `--output json` prints the findings as an array.

use std::fmt::Write as _;

use crate::ci::{Annotation, Level};
use crate::outcome::check::{Finding, Report, Severity};
use crate::report::{self, Output};

/// Annotates each finding, then prints the report in the format `output` asks for (with JSON,
/// the summary goes to the log).
pub fn emit(output: Output, report: &Report) -> std::io::Result<()> {
    for finding in &report.findings {
        report::annotate(&annotation(finding));
    }
    if output == Output::Json {
        tracing::info!("{}", summary(report));
    }
    report::emit(output, &report.findings, &text(report))
}

/// `file:line:column: level: message`, then `  hint: ...`.
#[must_use]
pub fn finding(finding: &Finding) -> String {
    let mut text = finding.file.clone();
    if let Some(line) = finding.line {
        let _ = write!(text, ":{line}");
        if let Some(column) = finding.column {
            let _ = write!(text, ":{column}");
        }
    }
    let _ = writeln!(text, ": {}: {}", finding.level.as_str(), finding.message);
    if let Some(hint) = &finding.hint {
        let _ = writeln!(text, "  hint: {hint}");
    }
    text
}

/// The finding as a CI annotation at its file and line.
#[must_use]
pub fn annotation(finding: &Finding) -> Annotation {
    let mut message = finding.message.clone();
    if let Some(hint) = &finding.hint {
        let _ = write!(message, "\nhint: {hint}");
    }
    Annotation {
        level: match finding.level {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
            Severity::Notice => Level::Notice,
        },
        file: Some(finding.file.clone()),
        line: finding.line,
        column: finding.column,
        title: "ferry check".to_owned(),
        message,
    }
}

/// `ferry check: 3 environments (1 not checked), 4 templates, 0 errors, 1 warning`.
#[must_use]
pub fn summary(report: &Report) -> String {
    let mut environments = plural(report.environments, "environment");
    if report.not_checked > 0 {
        let _ = write!(environments, " ({} not checked)", report.not_checked);
    }
    format!(
        "ferry check: {environments}, {}, {}, {}",
        plural(report.templates, "template"),
        plural(report.count(Severity::Error), "error"),
        plural(report.count(Severity::Warning), "warning"),
    )
}

/// Every finding, then the summary.
#[must_use]
pub fn text(report: &Report) -> String {
    let mut text: String = report.findings.iter().map(finding).collect();
    text.push_str(&summary(report));
    text.push('\n');
    text
}

/// `1 word`, `n words`.
#[must_use]
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_file_line_message_and_hint() {
        let error = Finding {
            level: Severity::Error,
            file: "ferry.yaml".to_owned(),
            line: Some(4),
            column: Some(5),
            message: "unknown field `pth`".to_owned(),
            hint: Some("did you mean `path`?".to_owned()),
        };
        assert_eq!(
            finding(&error),
            "ferry.yaml:4:5: error: unknown field `pth`\n  hint: did you mean `path`?\n"
        );
        let annotation = annotation(&error);
        assert_eq!(annotation.file.as_deref(), Some("ferry.yaml"));
        assert_eq!((annotation.line, annotation.column), (Some(4), Some(5)));
        assert_eq!(
            annotation.message,
            "unknown field `pth`\nhint: did you mean `path`?"
        );
        let report = Report {
            findings: vec![
                Finding {
                    level: Severity::Warning,
                    line: None,
                    column: None,
                    hint: None,
                    ..error.clone()
                },
                error,
            ],
            environments: 3,
            not_checked: 1,
            templates: 1,
            refused: 0,
        };
        assert!(!report.passed());
        assert_eq!(
            summary(&report),
            "ferry check: 3 environments (1 not checked), 1 template, 1 error, 1 warning"
        );
        assert!(
            text(&report)
                .starts_with("ferry.yaml: warning: unknown field `pth`\nferry.yaml:4:5: error:")
        );
        insta::assert_snapshot!(text(&report));
    }
}
