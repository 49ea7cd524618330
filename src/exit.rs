//! The one place that maps what a run produced to a process exit code.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | everything worked and nothing was found wrong |
//! | 1 | the job ran, but some targets failed or policy violations were found |
//! | 2 | the tool could not do its job (bad input or config, no credentials, query failed) |
//!
//! A closed standard output (`cs-cmdb ... | head`) ends the run quietly with 0.

use std::io;
use std::process::ExitCode;

/// What a command that ran to its end reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All good.
    Success,
    /// The command ran, but found failures or violations (exit 1).
    Failures,
}

pub const SUCCESS: u8 = 0;
pub const FAILURES: u8 = 1;
pub const ERROR: u8 = 2;

/// Turn the result of [`crate::run`] into an exit code, printing the error (if any) on stderr.
pub fn code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::from(SUCCESS),
        Ok(Outcome::Failures) => ExitCode::from(FAILURES),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(SUCCESS),
        Err(err) => {
            crate::printer::error(&crate::errors::report(&err));
            ExitCode::from(ERROR)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
