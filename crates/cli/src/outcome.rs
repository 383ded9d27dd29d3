//! How a command ends, and the exit code for it.

use std::fmt;
use std::process::ExitCode;

/// A command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing at or above `--fail-on`.
    Clean,
    /// Findings at or above `--fail-on`.
    Findings,
    /// An input ended in damage (a truncated `.gz`): the report covers what was read before
    /// it, and the exit status says it is partial. Exit code 3.
    Damaged,
}

/// A command that could not do its job. Exit code 2, message on stderr.
#[derive(Debug)]
pub enum CliError {
    /// The command line or the configuration file is wrong.
    Usage(String),
    /// An input could not be read or understood.
    Input(String),
    /// The report could not be written.
    Output(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Input(m) | CliError::Output(m) => f.write_str(m),
        }
    }
}

pub fn exit_code(result: &Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Damaged) => ExitCode::from(3),
        Err(_) => ExitCode::from(2),
    }
}
