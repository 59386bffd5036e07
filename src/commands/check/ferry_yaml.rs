//! `ferry.yaml` itself: read, valid, and where its keys are written.

use std::path::Path;

use super::{Checker, Error, Finding, Severity};
use crate::config::{self, Config, ConfigError, Positions};
use crate::tree;

impl Checker<'_> {
    /// Reads and validates `ferry.yaml`; `None` (with the finding) when it is missing or wrong.
    pub(super) fn config(&mut self) -> Result<Option<Config>, Error> {
        let path = tree::inside(self.dir, config::FILE_NAME)?;
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.push(
                    Severity::Error,
                    config::FILE_NAME,
                    None,
                    format!("no {} in {}", config::FILE_NAME, self.dir.display()),
                    format!(
                        "run ferry check in the root of the environment repository, or give --dir; {} is described in docs/config.md",
                        config::FILE_NAME
                    ),
                );
                return Ok(None);
            }
            Err(err) => {
                self.push(
                    Severity::Error,
                    config::FILE_NAME,
                    None,
                    format!("cannot read {}: {err}", config::FILE_NAME),
                    None,
                );
                return Ok(None);
            }
        };
        let Ok(text) = String::from_utf8(text) else {
            self.push(
                Severity::Error,
                config::FILE_NAME,
                None,
                format!("{} is not valid UTF-8", config::FILE_NAME),
                "save the file as UTF-8".to_owned(),
            );
            return Ok(None);
        };
        match Config::parse(&text, Path::new(config::FILE_NAME)) {
            Ok(config) => {
                self.positions = Positions::of(&text);
                Ok(Some(config))
            }
            Err(err) => {
                self.config_error(err);
                Ok(None)
            }
        }
    }

    pub(super) fn config_error(&mut self, err: ConfigError) {
        self.report.findings.push(Finding {
            level: Severity::Error,
            file: config::FILE_NAME.to_owned(),
            line: err.line,
            column: err.column,
            message: err.message,
            hint: err.hint,
        });
    }
}
