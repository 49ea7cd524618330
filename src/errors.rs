//! Error presentation at the edge: one line per cause, without the repetition that layered
//! SDK errors tend to carry.

/// `outer: cause: root cause`, skipping a cause whose text is already contained in the previous one.
pub fn report(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || parts.last().is_some_and(|prev| prev.contains(text)) {
            continue;
        }
        parts.push(text.to_string());
    }
    parts.join(": ")
}

/// An error and its sources as one line of their `Display` texts (`outer: cause: root`), never
/// their `Debug` form (the SDK's `DisplayErrorContext` appends a `Debug` dump of the whole chain:
/// that goes to the `-v` log instead, see [`log_chain`]).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        push_cause(&mut parts, &cause.to_string());
        next = cause.source();
    }
    parts.join(": ")
}

/// The last `n` distinct causes of `err` (the root and what led to it): what a person needs
/// when the outer layers only say "dispatch failure".
pub fn root_causes(err: &(dyn std::error::Error + 'static), n: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        push_cause(&mut parts, &cause.to_string());
        next = cause.source();
    }
    let from = parts.len().saturating_sub(n);
    parts[from..].join(": ")
}

fn push_cause(parts: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if text.is_empty() || parts.last().is_some_and(|prev| prev.contains(text)) {
        return;
    }
    parts.push(text.to_string());
}

/// The whole error, `Debug` included, as a `-v` diagnostic.
pub fn log_chain(what: &str, err: &(dyn std::error::Error + 'static)) {
    tracing::info!(
        "{what}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(err)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn chains_are_display_texts_only() {
        let err = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "io error",
                Some(Box::new(Layer("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(
            chain(&err),
            "dispatch failure: io error: Connection refused (os error 111)"
        );
        assert_eq!(
            root_causes(&err, 2),
            "io error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn report_skips_repeated_causes() {
        let err = Err::<(), _>(anyhow::anyhow!("connection refused"))
            .context("dispatch failure: connection refused")
            .context("listing accounts")
            .unwrap_err();
        assert_eq!(
            report(&err),
            "listing accounts: dispatch failure: connection refused"
        );
    }
}
