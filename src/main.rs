use std::process::ExitCode;

use clap::Parser;
use ferry::cli::Cli;
use ferry::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ferry::report::init_logging(cli.verbose, cli.quiet, cli.output);
    let exit = match ferry::commands::run(&cli).map_err(anyhow::Error::from) {
        Ok(exit) => exit,
        Err(err) => {
            let known = err.downcast_ref::<ferry::commands::Error>();
            let exit = known.map_or(Exit::Failure, ferry::commands::Error::exit);
            ferry::report::diagnostics(&format!("error: {err:#}\n"));
            // In GitHub Actions, also an annotation on the run's page (at file:line if known).
            let annotation = known.map_or_else(
                || ferry::ci::Annotation {
                    level: ferry::ci::Level::Error,
                    file: None,
                    line: None,
                    column: None,
                    title: format!("ferry: exit {}", exit.code()),
                    message: format!("{err:#}"),
                },
                ferry::commands::Error::annotation,
            );
            ferry::ci::annotate(&annotation);
            exit
        }
    };
    ExitCode::from(exit.code())
}
