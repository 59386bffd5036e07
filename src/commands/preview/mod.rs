//! `ferry preview up|down|list|gc`: preview environments per merge request.
//!
//! A preview is one file, `<directory>/<slug>.yaml` on the previews branch, rendered from a
//! template and checked ([`crate::preview`]). Every write is one compare-and-swap transaction on
//! that branch (`transaction::transact`): the plan is recomputed from each fetched tip, so
//! concurrent `up`s of different merge requests all land, and a rerun changes nothing.
//!
//! Names and titles come from people ferry does not trust: they reach the file only as template
//! values and DNS labels, the file path only as the slug (always `previews.prefix` + a readable
//! part + a hash: [`crate::slug::preview_label`]), and output only through
//! [`crate::ci::one_line`]. What the previews branch holds is not trusted either: a file is a
//! preview only if its name is the slug of its `ferry.dev/name`, and the forge a file names is
//! asked only when it is the run's application repository or listed in `previews.projects`.
//!
//! `Request::from_args` resolves the command line; `run` does the work and returns an
//! [`Outcome`], which [`crate::present::preview`] tells.

mod apps;
mod down;
mod gc;
mod list;
mod live;
mod request;
mod settings;
mod up;

pub(crate) use request::{Command, Request};

use super::Error;
use crate::outcome::preview::Outcome;

/// Runs one `ferry preview` command.
pub(crate) fn run(command: &Command) -> Result<Outcome, Error> {
    Ok(match command {
        Command::Up(request) => Outcome::Up(Box::new(up::up(request)?)),
        Command::Down(request) => Outcome::Down(down::down(request)?),
        Command::List(request) => Outcome::List(list::list(request)?),
        Command::Gc(request) => Outcome::Gc(gc::gc(request)?),
    })
}
