//! What ferry tells people: results on stdout (text or JSON), logs and diagnostics on stderr.

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::cli::Output;

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
        .with_writer(io::stderr)
        .with_ansi(color)
        .with_target(false);
    let _ = match output {
        Output::Json => builder.json().flatten_event(true).try_init(),
        Output::Text => builder.without_time().compact().try_init(),
    };
}

/// Writes a result to stdout: JSON as one pretty document, text as given.
pub fn emit<T: Serialize>(output: Output, value: &T, text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, value)?;
            writeln!(out)
        }
        Output::Text => out.write_all(text.as_bytes()),
    }
}

/// Writes diagnostic lines (warnings, the reasons of a failure) to stderr.
pub fn diagnostics(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}
