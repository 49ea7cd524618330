//! Logging set-up: `tracing` events go to stderr, never stdout.

use tracing_subscriber::EnvFilter;

/// Initialise the global subscriber. `-v` raises the level (info, debug, trace), `-q` shows errors
/// only; `CS_CMDB_LOG` (an `EnvFilter` directive such as `cs_cmdb=debug`) overrides both. These
/// are diagnostics: what the user is told goes through the [`crate::printer::Printer`].
pub fn init(verbose: u8, quiet: bool, no_color: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    // Our own crate at the chosen level; dependencies quieter unless asked: without -v, their
    // warnings (the SDK's "failed to load region from IMDS", with a debug dump) stay out, as
    // what matters reaches the user as our own error or warning.
    let default = match level {
        "debug" | "trace" => format!("warn,cs_cmdb={level}"),
        "warn" => "error,cs_cmdb=warn".to_string(),
        _ => format!("{level},cs_cmdb={level}"),
    };
    let filter = EnvFilter::try_from_env("CS_CMDB_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = crate::printer::stderr_color(no_color);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false);
    // A second init (tests calling run twice) is harmless: keep the first subscriber. At -vv
    // and beyond each line says when it happened since start (where a run's time goes).
    let _ = if verbose >= 2 && !quiet {
        builder
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        builder.without_time().try_init()
    };
}
