//! TEMPORARY STUB (replaced by the config module).
use std::path::{Path, PathBuf};
pub const FILE_NAME: &str = "ferry.yaml";
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}
pub struct Config;
pub struct ResolvedEnvironment {
    pub path: String,
}
impl Config {
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Err(ConfigError {
            file: file.into(),
            message: "stub".into(),
        })
    }
    pub fn environment(&self, _n: &str) -> Result<ResolvedEnvironment, ConfigError> {
        Err(ConfigError {
            file: PathBuf::new(),
            message: "stub".into(),
        })
    }
}
pub fn schema_json() -> String {
    String::new()
}
