//! The run's clock and the one way durations are written.
//!
//! - [`now`]: `CS_CMDB_NOW` (RFC 3339) when set, for reproducible reports and tests; else the
//!   system clock. Every command that judges an age reads it here.
//! - [`parse_duration`]: flags (`--call-timeout 30s`) and policy fields (`max_age = "1d12h"`)
//!   share one grammar: one or more `<number><unit>` terms (units `ms`, `s`, `m`, `h`, `d`, `w`;
//!   decimals allowed), or a bare number of seconds.
//! - [`human_duration`]: an elapsed time as people read it (`3d 4h`).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

/// The variable that fixes the clock.
pub const NOW_ENV: &str = "CS_CMDB_NOW";

/// The run's clock: `CS_CMDB_NOW` (RFC 3339) when set, for reproducible runs; else now.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    match std::env::var(NOW_ENV) {
        Ok(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| {
                format!("{NOW_ENV}=`{text}` is not an RFC 3339 time (2026-11-26T09:00:00Z)")
            }),
        Err(_) => Ok(Utc::now()),
    }
}

/// Seconds per unit.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => return None,
    })
}

/// Parse `30s`, `500ms`, `2m`, `26h`, `7d`, `2w`, `1d12h`, `1.5h` or a bare number of seconds
/// (`7`). The result is positive.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "`{text}` is not a duration: write a number and a unit, e.g. 30s, 500ms, 90m, 26h, 7d, 1d12h (units ms, s, m, h, d, w; a bare number is seconds)"
        )
    };
    let trimmed = text.trim();
    let number_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len())
    };
    let number = |s: &str| -> Result<f64, String> {
        if s.is_empty() || s.starts_with('.') || s.ends_with('.') {
            return Err(invalid());
        }
        s.parse::<f64>().map_err(|_| invalid())
    };
    let seconds = if number_end(trimmed) == trimmed.len() {
        number(trimmed)?
    } else {
        let mut rest = trimmed;
        let mut total = 0.0;
        while !rest.is_empty() {
            let (value, tail) = rest.split_at(number_end(rest));
            let unit_end = tail
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            total += number(value)? * unit_seconds(unit).ok_or_else(invalid)?;
            rest = tail;
        }
        total
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("`{text}` must be a positive duration"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

/// `3d 2h`, `26h`, `1h 30m`, `45m`, `12s`: the two largest units.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_takes_the_flag_and_the_policy_forms() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs_f64());
        // What the fan-out flags took.
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(secs("1.5h"), Ok(5400.0));
        // What policy ages took.
        assert_eq!(secs("26h"), Ok(26.0 * 3600.0));
        assert_eq!(secs("90m"), Ok(5400.0));
        assert_eq!(secs("7d"), Ok(7.0 * 86_400.0));
        assert_eq!(secs("2w"), Ok(14.0 * 86_400.0));
        assert_eq!(secs("1d12h"), Ok(36.0 * 3600.0));
        assert_eq!(secs("1m30s"), Ok(90.0));
        assert_eq!(secs(" 45s "), Ok(45.0));
        for bad in [
            "", "h", "x", "26x", "3 days", "26 hours", "1d 12h", "-1h", "1..5h", ".5s", "5.s",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("is not a duration"), "{bad}: {err}");
        }
        for zero in ["0s", "0", "0h0m"] {
            let err = parse_duration(zero).unwrap_err();
            assert!(err.contains("must be a positive duration"), "{zero}: {err}");
        }
    }

    #[test]
    fn human_durations_keep_two_units() {
        assert_eq!(
            human_duration(chrono::Duration::seconds(3 * 86_400 + 7200 + 5)),
            "3d 2h"
        );
        assert_eq!(human_duration(chrono::Duration::minutes(90)), "1h 30m");
        assert_eq!(human_duration(chrono::Duration::seconds(12)), "12s");
    }
}
