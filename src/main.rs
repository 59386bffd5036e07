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
            let exit = err
                .downcast_ref::<ferry::commands::Error>()
                .map_or(Exit::Failure, ferry::commands::Error::exit);
            ferry::report::diagnostics(&format!("error: {err:#}\n"));
            exit
        }
    };
    ExitCode::from(exit.code())
}
