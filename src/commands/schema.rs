//! `ferry schema`: the JSON schema of ferry.yaml.

use std::io::Write;

use super::Error;
use crate::exit::Exit;

pub fn run() -> Result<Exit, Error> {
    std::io::stdout()
        .lock()
        .write_all(crate::config::schema_json().as_bytes())?;
    Ok(Exit::Done)
}
