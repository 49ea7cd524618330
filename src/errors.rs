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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

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
