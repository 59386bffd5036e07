//! `ferry completions SHELL` and `ferry man`: shell completions and manual pages, generated from
//! the same command-line definitions as `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Error;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;

/// Prints the completion script of `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<Exit, Error> {
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ferry", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(Exit::Done)
}

/// Prints `ferry.1` on stdout, or with `--out-dir` writes a page per command there
/// (`ferry.1`, `ferry-bump.1`, `ferry-preview-up.1`, …).
pub fn man(args: &ManArgs) -> Result<Exit, Error> {
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            std::io::stdout().lock().write_all(&page)?;
        }
        Some(dir) => write_pages(dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "the man pages into {}: {e} (give --out-dir a directory you can write to)",
                    dir.display()
                ),
            )
        })?,
    }
    Ok(Exit::Done)
}

fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}
