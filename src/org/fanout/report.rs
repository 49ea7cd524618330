//! How each target ended, and what a whole run produced: the counts, the summary lines, the exit.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::org::fanout::{FailClass, Failure, Target};

/// How one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOutcome {
    Ok,
    Skipped(String),
    Failed(Failure),
}

impl TargetOutcome {
    pub fn status(&self) -> &'static str {
        match self {
            TargetOutcome::Ok => "ok",
            TargetOutcome::Skipped(_) => "skipped",
            TargetOutcome::Failed(_) => "failed",
        }
    }
}

/// Skip reasons used across commands.
pub const SKIP_NO_DEPLOYMENT: &str = "no deployment";
pub const SKIP_BUDGET: &str = "not started: failure budget reached";
pub const SKIP_INTERRUPTED: &str = "not started: interrupted";

/// One finished target and what its job produced.
#[derive(Debug)]
pub struct TargetResult<T> {
    pub target: Target,
    pub outcome: TargetOutcome,
    pub items: Vec<T>,
    pub elapsed: Duration,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Report<T> {
    pub results: Vec<TargetResult<T>>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub budget_exhausted: bool,
}

impl<T> Report<T> {
    /// With the targets decided while listing regions (skipped, or failed before any job),
    /// everything ordered by target.
    pub fn with_decided(mut self, decided: Vec<TargetResult<std::convert::Infallible>>) -> Self {
        self.results
            .extend(decided.into_iter().map(|r| TargetResult {
                target: r.target,
                outcome: r.outcome,
                items: Vec::new(),
                elapsed: r.elapsed,
            }));
        self.results.sort_by(|a, b| a.target.cmp(&b.target));
        self
    }

    /// What every target's job produced, in target order.
    pub fn items(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.results
            .iter()
            .flat_map(|r| r.items.iter().cloned())
            .collect()
    }

    pub fn count(&self, status: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.status() == status)
            .count()
    }

    /// `ok` only when every target ended ok or skipped for a benign reason and the run was not cut short.
    pub fn exit(&self) -> crate::exit::Outcome {
        if self.count("failed") > 0 || self.interrupted || self.budget_exhausted {
            crate::exit::Outcome::Failures
        } else {
            crate::exit::Outcome::Success
        }
    }

    /// True when targets existed and not one got past its credentials.
    pub fn nothing_ran(&self) -> bool {
        !self.results.is_empty()
            && self.results.iter().all(|r| {
                matches!(&r.outcome, TargetOutcome::Failed(f) if f.class == FailClass::AssumeRoleDenied)
            })
    }

    /// The summary for stderr: one line per failed target, then the counts per outcome and
    /// class.
    pub fn summary(&self, noun: &str) -> Vec<String> {
        let mut lines = Vec::new();
        // A failed target's reason, unless its rows on stdout already carry it (said once).
        for r in &self.results {
            if let TargetOutcome::Failed(f) = &r.outcome
                && r.items.is_empty()
            {
                lines.push(format!("failed {}: {f}", r.target));
            }
        }
        let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.results {
            match &r.outcome {
                TargetOutcome::Skipped(reason) => *skipped.entry(reason.as_str()).or_default() += 1,
                TargetOutcome::Failed(f) => *failed.entry(f.class.as_str()).or_default() += 1,
                TargetOutcome::Ok => {}
            }
        }
        let detail = |m: &BTreeMap<&str, usize>| {
            if m.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!(" ({})", parts.join(", "))
            }
        };
        let mut out = format!(
            "{noun}: {} targets: {} ok, {} skipped{}, {} failed{} in {:.1}s",
            self.results.len(),
            self.count("ok"),
            self.count("skipped"),
            detail(&skipped),
            self.count("failed"),
            detail(&failed),
            self.elapsed.as_secs_f64()
        );
        if self.interrupted {
            out.push_str("; interrupted (Ctrl-C): targets not started are listed as skipped");
        }
        if self.budget_exhausted {
            out.push_str("; failure budget (--max-failures) reached: targets not started are listed as skipped");
        }
        lines.push(out);
        lines
    }
}
