//! Putting an environment on hold in `ferry.yaml` (what `ferry rollback --hold` writes), as a
//! byte-minimal edit: one `hold: true` line (and a `hold-reason` line) in the environment's
//! block, everything else untouched; the result is parsed again and must differ from the
//! original only in those two settings.

use std::path::Path;

use super::index::{Index, KeyPath, NodeKind};
use super::{Config, FILE_NAME};
use crate::yaml::scalar::double_quoted as yaml_string;

/// `text` with environment `env` on hold for `reason`; the same text when it already is (with
/// that reason, or with no reason given). An error says why the file could not be edited safely.
pub fn hold(text: &str, env: &str, reason: Option<&str>) -> Result<String, String> {
    let bom = if text.starts_with('\u{feff}') {
        "\u{feff}"
    } else {
        ""
    };
    let body = &text[bom.len()..];
    let before = Config::parse(body, Path::new(FILE_NAME)).map_err(|e| e.to_string())?;
    let index = Index::build(body).map_err(|e| e.message)?;
    let at = KeyPath::keys(["environments", env]);
    let node = index
        .get(&at)
        .ok_or_else(|| format!("environment `{env}` is not in {FILE_NAME}"))?;
    let key_line = node.key.map_or(node.value.line, |k| k.line);
    if !matches!(node.kind, NodeKind::Mapping) || node.value.line == key_line {
        return Err(format!(
            "environment `{env}` is not a block mapping in {FILE_NAME}: put `hold: true` there by hand"
        ));
    }
    let newline = if body.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = body.split_inclusive('\n').map(str::to_owned).collect();
    let indent = " ".repeat(node.value.column.saturating_sub(1));
    let mut inserts: Vec<String> = Vec::new();
    let mut replace =
        |path: KeyPath, value: &str, inserts: &mut Vec<String>, key: &str| -> Result<(), String> {
            match index.get(&path) {
                Some(existing) => {
                    let line = lines
                        .get_mut(existing.value.line - 1)
                        .ok_or("the index points past the end of the file")?;
                    let start = char_to_byte(line, existing.value.column - 1);
                    let rest = &line[start..];
                    if rest.starts_with(['|', '>', '[', '{', '&', '*', '!']) {
                        return Err(format!(
                            "`{key}` of `{env}` is not a plain value on one line: set it by hand"
                        ));
                    }
                    let end = line.trim_end_matches(['\n', '\r']).len();
                    let comment = rest.find(" #").map_or(end, |i| start + i);
                    let old = line[start..comment].trim_end();
                    if old != value {
                        let tail = line[start + old.len()..].to_owned();
                        line.replace_range(start.., &format!("{value}{tail}"));
                    }
                    Ok(())
                }
                None => {
                    inserts.push(format!("{indent}{key}: {value}{newline}"));
                    Ok(())
                }
            }
        };
    replace(at.clone().key("hold"), "true", &mut inserts, "hold")?;
    if let Some(reason) = reason {
        replace(
            at.clone().key("hold-reason"),
            &yaml_string(reason),
            &mut inserts,
            "hold-reason",
        )?;
    }
    let first = node.value.line - 1;
    for (i, line) in inserts.into_iter().enumerate() {
        lines.insert(first + i, line);
    }
    let edited = lines.concat();
    let after = Config::parse(&edited, Path::new(FILE_NAME)).map_err(|e| {
        format!("the edited {FILE_NAME} does not read back ({e}); this is a bug in ferry")
    })?;
    let mut expected = before;
    if let Some(e) = expected.environments.get_mut(env) {
        e.hold = true;
        if let Some(reason) = reason {
            e.hold_reason = Some(reason.to_owned());
        }
    }
    if after != expected {
        return Err(format!(
            "the edited {FILE_NAME} reads back differently than intended; set `hold: true` by hand"
        ));
    }
    Ok(format!("{bom}{edited}"))
}

fn char_to_byte(line: &str, chars: usize) -> usize {
    line.char_indices()
        .nth(chars)
        .map_or(line.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "version: 1\n# envs\nenvironments:\n  staging:\n    path: envs/staging\n  production:   # prod\n    path: envs/production  # here\n    update: pull-request\n";

    #[test]
    fn a_hold_is_two_lines_in_the_environment_block() {
        let held = hold(FILE, "production", Some("rollback: bad \"build\"")).unwrap();
        assert_eq!(
            held,
            "version: 1\n# envs\nenvironments:\n  staging:\n    path: envs/staging\n  production:   # prod\n    hold: true\n    hold-reason: \"rollback: bad \\\"build\\\"\"\n    path: envs/production  # here\n    update: pull-request\n"
        );
        assert_eq!(
            hold(&held, "production", Some("rollback: bad \"build\"")).unwrap(),
            held
        );
    }

    #[test]
    fn an_existing_hold_value_is_replaced_in_place() {
        let file = "version: 1\nenvironments:\n  prod:\n    path: p\n    hold: false # frozen?\n";
        assert_eq!(
            hold(file, "prod", None).unwrap(),
            "version: 1\nenvironments:\n  prod:\n    path: p\n    hold: true # frozen?\n"
        );
        let crlf = file.replace('\n', "\r\n");
        assert_eq!(
            hold(&crlf, "prod", Some("x")).unwrap(),
            "version: 1\r\nenvironments:\r\n  prod:\r\n    hold-reason: \"x\"\r\n    path: p\r\n    hold: true # frozen?\r\n"
        );
    }

    #[test]
    fn what_cannot_be_edited_safely_is_refused() {
        assert!(
            hold(
                "version: 1\nenvironments:\n  prod: {path: p}\n",
                "prod",
                None
            )
            .is_err()
        );
        assert!(hold(FILE, "qa", None).unwrap_err().contains("`qa`"));
        let block =
            "version: 1\nenvironments:\n  prod:\n    path: p\n    hold-reason: |\n      long\n";
        assert!(hold(block, "prod", Some("new")).is_err());
    }
}
