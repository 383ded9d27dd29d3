//! The `querycomb` binary: parses the command line, loads `querycomb.toml`, and hands over to
//! one module per subcommand. See ARCHITECTURE.md for the pipeline behind it.

mod analyze;
mod args;
mod budget;
mod collect;
mod config;
mod diff;
mod explain;
mod input;
#[cfg(feature = "mysql")]
mod log_table;
mod merge;
mod outcome;
mod progress;
mod proxy;
mod report;
mod run;
mod scale;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, ColorChoice, Command};
use crate::outcome::{exit_code, CliError};

/// The proxy runs for months. With glibc's allocator its resident memory drifted upward under
/// steady traffic while its live heap stayed flat (about 3 MB in `valgrind --tool=massif`):
/// statements are allocated on connection threads and freed on the detection thread, and
/// glibc keeps freed memory in its per-thread arenas. jemalloc gives pages unused for a few
/// seconds back to the system (BENCHMARKS.md, "Soak").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` ends with the child's own exit status, so it reports and exits by itself.
    let command = match cli.command {
        Command::Run(args) => return run::main(args, cli.config, cli.color),
        other => other,
    };
    let result = config::load(cli.config.as_deref())
        .map_err(CliError::Usage)
        .and_then(|file| {
            let color = use_color(cli.color.or(file.color));
            match command {
                Command::Analyze(args) => analyze::run(args, file, color),
                Command::Proxy(args) => proxy::run(*args, file, cli.config.as_deref(), color),
                Command::Collect(args) => collect::run(args, file, color),
                Command::Diff(args) => diff::run(args),
                Command::Merge(args) => merge::run(args, file, color),
                Command::Explain(args) => explain::run(args, file, color),
                Command::Scale(args) => scale::run(args),
                // Returned above: `run` exits with the child's status.
                Command::Run(_) => Err(CliError::Usage("run: internal dispatch error".into())),
            }
        });
    if let Err(error) = &result {
        eprintln!("querycomb: error: {error}");
    }
    exit_code(&result)
}

/// Colour when asked, or by default when stdout is a terminal and NO_COLOR is unset
/// (<https://no-color.org>: any non-empty value disables colour).
fn use_color(choice: Option<ColorChoice>) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match choice.unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && std::io::stdout().is_terminal(),
    }
}
