use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferry::cli::{Cli, Command};
use ferry::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            // clap quotes the offending argument as given: each line through the one-line
            // escaper, so that no CR, escape sequence or format character reaches the log.
            let text = printable(&err.render().to_string());
            ferry::report::diagnostics(&format!("{}\n", text.trim_end()));
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(Exit::Usage.code()));
        }
        // --help and --version: clap prints them.
        Err(err) => err.exit(),
    };
    // First, while this is the only thread: libgit2's timeouts are unsynchronised globals.
    ferry::git::configure_limits(limits(&cli));
    ferry::report::init_logging(cli.verbose, cli.quiet, cli.output);
    if let Err(err) = ferry::git::install_signal_cleanup() {
        ferry::report::diagnostics(&format!("warning: {err}\n"));
    }
    let exit = match ferry::commands::run(&cli) {
        Ok(exit) => exit,
        Err(err) => {
            // The error and its causes, one after another, as anyhow's chain tells them.
            let message = anyhow::Chain::new(&err)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            // Errors quote what they were given (arguments, names read from repositories):
            // every line through the one-line escaper, whichever layer built the message.
            ferry::report::diagnostics(&format!("error: {}\n", printable(&message)));
            // In GitHub Actions, also an annotation on the run's page (at file:line if known).
            let annotation = err.annotation();
            ferry::report::annotate(&ferry::ci::Annotation {
                message: printable(&annotation.message),
                ..annotation
            });
            err.exit()
        }
    };
    ExitCode::from(exit.code())
}

/// The git timeouts and the command's deadline from the command line. `ferry wait` gets at least
/// its own `--timeout` plus five minutes: its waiting is the point, and it ends by itself.
fn limits(cli: &Cli) -> ferry::git::Limits {
    let mut deadline = Duration::from_secs(cli.deadline);
    if let Command::Wait(args) = &cli.command {
        deadline = deadline.max(args.timeout.as_std() + Duration::from_secs(300));
    }
    ferry::git::Limits {
        connect: Duration::from_secs(cli.git_connect_timeout),
        stall: Duration::from_secs(cli.git_timeout),
        deadline,
    }
}

/// `text` with each line passed through [`ferry::ci::one_line`] (its indentation kept): no CR,
/// control character or escape sequence of an argument or a name survives into the log.
fn printable(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let indent = line.len() - line.trim_start_matches(' ').len();
            format!("{}{}", &line[..indent], ferry::ci::one_line(line))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
