//! How long operations (the fan-out, the mirror, the embedded engine's loader) tell the user what
//! happens without printing anything themselves: they call a [`Reporter`], and the command hands
//! them its [`crate::printer::Printer`], which decides what reaches stderr (`-q`, a terminal or
//! not, colours, escaping).

/// What a long operation reports while it runs.
pub trait Reporter: Send + Sync {
    /// Something the user should know; the run goes on (a refused key, a file Athena would
    /// refuse, credentials from an unexpected place).
    fn warn(&self, message: &str);

    /// A notice about the run itself (waiting for a lock, interrupted).
    fn notice(&self, message: &str);

    /// Work on `total` items (`unit`: `targets`, `objects`) starts; the operation advances the
    /// returned handle once per item.
    fn progress(&self, total: u64, unit: &'static str) -> Box<dyn Progress>;
}

/// The progress of one piece of work.
pub trait Progress: Send + Sync {
    /// One item is done; `failed`: it ended in failure.
    fn item_done(&self, failed: bool);

    /// The work is over: take the progress display away.
    fn finish(&self);
}

/// Reports nothing: for library callers that want the result alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn warn(&self, _: &str) {}

    fn notice(&self, _: &str) {}

    fn progress(&self, _: u64, _: &'static str) -> Box<dyn Progress> {
        Box::new(Silent)
    }
}

impl Progress for Silent {
    fn item_done(&self, _: bool) {}

    fn finish(&self) {}
}
