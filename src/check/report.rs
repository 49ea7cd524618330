//! From evaluations to what people and CI read: exemptions applied, the violations table, the
//! one-line summary, JUnit XML and SARIF 2.1.0.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::check::eval::{Evaluation, Finding, Subject};
use crate::check::policy::Severity;
use crate::check::policy::{Exemption, Policy, Rule};
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::text::xml;

/// One rule's outcome after exemptions.
#[derive(Debug, Clone)]
pub struct RuleResult<'a> {
    pub rule: &'a Rule,
    /// Why the rule was not evaluated.
    pub skipped: Option<String>,
    /// The subjects checked (testcases), in order.
    pub subjects: Vec<Subject>,
    /// Subjects the rule chose not to judge, with the reason.
    pub not_checked: Vec<Finding>,
    pub violations: Vec<Finding>,
    /// Findings an active exemption covers.
    pub exempted: Vec<(Finding, Exemption)>,
    /// The rule's exemptions past their date.
    pub expired: Vec<Exemption>,
    /// Active exemptions that matched no finding (the deployment complies, or a typo).
    pub unused: Vec<Exemption>,
}

/// Apply the rule's exemptions: an active one moves a finding aside; an expired one no longer
/// applies, and the finding says so.
pub fn apply<'a>(rule: &'a Rule, evaluation: Evaluation, today: NaiveDate) -> RuleResult<'a> {
    let expired: Vec<Exemption> = rule
        .exemptions
        .iter()
        .filter(|e| e.expired(today))
        .cloned()
        .collect();
    let (subjects, findings, not_checked, skipped) = match evaluation {
        Evaluation::Skipped(reason) => (Vec::new(), Vec::new(), Vec::new(), Some(reason)),
        Evaluation::Checked {
            subjects,
            findings,
            not_checked,
        } => (subjects, findings, not_checked, None),
    };
    let mut violations = Vec::new();
    let mut exempted = Vec::new();
    let mut used = HashSet::new();
    for mut finding in findings {
        let s = &finding.subject;
        let matching = |e: &&Exemption| {
            e.matches(
                s.account.as_deref(),
                s.region.as_deref(),
                s.group.as_deref(),
            )
        };
        if let Some(active) = rule
            .exemptions
            .iter()
            .filter(matching)
            .find(|e| !e.expired(today))
        {
            used.insert(active.line);
            exempted.push((finding, active.clone()));
        } else {
            if let Some(date) = rule
                .exemptions
                .iter()
                .filter(matching)
                .find(|e| e.expired(today))
                .and_then(|e| e.expires)
            {
                let _ = write!(finding.detail, " (exemption expired {date})");
            }
            violations.push(finding);
        }
    }
    let unused = if skipped.is_some() {
        Vec::new()
    } else {
        rule.exemptions
            .iter()
            .filter(|e| !e.expired(today) && !used.contains(&e.line))
            .cloned()
            .collect()
    };
    RuleResult {
        rule,
        skipped,
        subjects,
        not_checked,
        violations,
        exempted,
        expired,
        unused,
    }
}

/// The whole run.
#[derive(Debug)]
pub struct Report<'a> {
    pub policy: &'a Policy,
    pub results: Vec<RuleResult<'a>>,
    pub fail_on: Severity,
    pub deployments: usize,
    /// Account id -> OU path, from the Organization snapshot (empty without one).
    pub ou_paths: BTreeMap<String, String>,
}

impl Report<'_> {
    /// Violations at or above `--fail-on`.
    pub fn failing(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.rule.severity >= self.fail_on)
            .map(|r| r.violations.len())
            .sum()
    }

    /// The violations table: most severe first, then in policy order.
    pub fn violations(&self) -> ResultSet {
        // The OU column only when there is an Organization snapshot to fill it.
        let with_ou = !self.ou_paths.is_empty();
        let columns = [
            "rule", "severity", "ou_path", "account", "region", "group", "detail",
        ]
        .into_iter()
        .filter(|n| with_ou || *n != "ou_path")
        .map(|n| Column::new(n, ColumnType::String))
        .collect();
        let mut ordered: Vec<&RuleResult<'_>> = self.results.iter().collect();
        ordered.sort_by_key(|r| std::cmp::Reverse(r.rule.severity));
        let opt = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Str);
        let rows = ordered
            .into_iter()
            .flat_map(|r| {
                r.violations.iter().map(move |v| {
                    let mut row = vec![
                        Value::Str(r.rule.name.clone()),
                        Value::Str(r.rule.severity.as_str().to_string()),
                    ];
                    if with_ou {
                        row.push(
                            v.subject
                                .account
                                .as_ref()
                                .and_then(|a| self.ou_paths.get(a))
                                .map_or(Value::Null, |p| Value::Str(p.clone())),
                        );
                    }
                    row.extend([
                        opt(&v.subject.account),
                        opt(&v.subject.region),
                        opt(&v.subject.group),
                        Value::Str(v.detail.clone()),
                    ]);
                    row
                })
            })
            .collect();
        ResultSet { columns, rows }
    }

    /// Violations counted per OU path (`check --by-ou`), most first; accounts missing from the
    /// Organization snapshot (or every account, without one) count under "(unknown OU)".
    pub fn by_ou(&self) -> ResultSet {
        let severities = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ];
        let mut counts: BTreeMap<String, [i64; 4]> = BTreeMap::new();
        for r in &self.results {
            let at = severities
                .iter()
                .position(|s| *s == r.rule.severity)
                .unwrap_or(3);
            for v in &r.violations {
                let ou = v
                    .subject
                    .account
                    .as_ref()
                    .and_then(|a| self.ou_paths.get(a))
                    .cloned()
                    .unwrap_or_else(|| "(unknown OU)".to_string());
                counts.entry(ou).or_default()[at] += 1;
            }
        }
        let mut rows: Vec<(String, [i64; 4])> = counts.into_iter().collect();
        rows.sort_by_key(|(ou, c)| (std::cmp::Reverse(c.iter().sum::<i64>()), ou.clone()));
        let mut columns = vec![Column::new("ou_path", ColumnType::String)];
        columns.extend(
            severities
                .iter()
                .map(|s| Column::new(s.as_str(), ColumnType::Integer)),
        );
        columns.push(Column::new("violations", ColumnType::Integer));
        ResultSet {
            columns,
            rows: rows
                .into_iter()
                .map(|(ou, c)| {
                    let mut row = vec![Value::Str(ou)];
                    row.extend(c.iter().map(|n| Value::Int(*n)));
                    row.push(Value::Int(c.iter().sum()));
                    row
                })
                .collect(),
        }
    }

    /// This run's line in the fleet's history: deployments checked and violations per severity
    /// (below `--fail-on` too).
    pub fn history_entry(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> crate::report::history::Entry {
        let mut violations: BTreeMap<String, u64> = BTreeMap::new();
        for r in &self.results {
            if !r.violations.is_empty() {
                *violations
                    .entry(r.rule.severity.as_str().to_string())
                    .or_default() += r.violations.len() as u64;
            }
        }
        crate::report::history::Entry {
            at,
            command: "check".into(),
            deployments: self.deployments as u64,
            accounts: None,
            instances: None,
            running: None,
            stale: None,
            versions: BTreeMap::new(),
            violations: Some(violations),
        }
    }

    /// `check: 8 rules (1 skipped) over 24 deployments: 5 violations (1 critical, 4 low), 2 exempted, 1 expired exemption; FAILED at --fail-on low`
    pub fn summary(&self) -> String {
        let rules = self.results.len();
        let skipped = self.results.iter().filter(|r| r.skipped.is_some()).count();
        let mut by_severity: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
        for r in &self.results {
            if !r.violations.is_empty() {
                *by_severity
                    .entry(std::cmp::Reverse(r.rule.severity))
                    .or_default() += r.violations.len();
            }
        }
        let total: usize = by_severity.values().sum();
        let exempted: usize = self.results.iter().map(|r| r.exempted.len()).sum();
        let not_checked: usize = self.results.iter().map(|r| r.not_checked.len()).sum();
        let expired: usize = self.results.iter().map(|r| r.expired.len()).sum();
        let mut s = format!(
            "check: {rules} rule{}{} over {} deployment{}: {total} violation{}",
            plural(rules),
            if skipped > 0 {
                format!(" ({skipped} skipped)")
            } else {
                String::new()
            },
            self.deployments,
            plural(self.deployments),
            plural(total)
        );
        if total > 0 {
            let parts: Vec<String> = by_severity
                .iter()
                .map(|(sev, n)| format!("{n} {}", sev.0.as_str()))
                .collect();
            let _ = write!(s, " ({})", parts.join(", "));
        }
        if exempted > 0 {
            let _ = write!(s, ", {exempted} exempted");
        }
        if not_checked > 0 {
            let _ = write!(s, ", {not_checked} not checked");
        }
        if expired > 0 {
            let _ = write!(s, ", {expired} expired exemption{}", plural(expired));
        }
        let verdict = if self.failing() > 0 {
            "FAILED"
        } else {
            "passed"
        };
        let _ = write!(s, "; {verdict} at --fail-on {}", self.fail_on.as_str());
        s
    }

    /// JUnit XML: a testsuite per rule, a testcase per subject checked. Violations at or above
    /// `--fail-on` are failures; those below it, exempted ones and skipped rules are skipped with
    /// a message saying why.
    pub fn junit(&self) -> String {
        let mut suites = String::new();
        let (mut all_tests, mut all_failures, mut all_skipped) = (0, 0, 0);
        for r in &self.results {
            let rule = r.rule;
            let class = format!("cs-cmdb.{}", rule.name);
            let mut cases = String::new();
            let (mut tests, mut failures, mut skipped) = (0, 0, 0);
            if let Some(reason) = &r.skipped {
                tests += 1;
                skipped += 1;
                let _ = write!(
                    cases,
                    "    <testcase classname=\"{}\" name=\"{}\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    xml(&class),
                    xml(&rule.name),
                    xml(&format!("not evaluated: {reason}"))
                );
            } else {
                // Index the findings by subject: a fleet has thousands of deployments.
                let mut details_of: HashMap<&Subject, Vec<&str>> = HashMap::new();
                for f in &r.violations {
                    details_of.entry(&f.subject).or_default().push(&f.detail);
                }
                let mut exempt_of: HashMap<&Subject, &(Finding, Exemption)> = HashMap::new();
                for pair in &r.exempted {
                    exempt_of.entry(&pair.0.subject).or_insert(pair);
                }
                let not_checked_of: HashMap<&Subject, &str> = r
                    .not_checked
                    .iter()
                    .map(|f| (&f.subject, f.detail.as_str()))
                    .collect();
                let checked: HashSet<&Subject> = r.subjects.iter().collect();
                let mut subjects: Vec<&Subject> = r.subjects.iter().collect();
                let mut extra: Vec<&Subject> = details_of
                    .keys()
                    .chain(exempt_of.keys())
                    .copied()
                    .filter(|s| !checked.contains(s))
                    .collect();
                extra.sort();
                extra.dedup();
                subjects.extend(extra);
                for subject in subjects {
                    tests += 1;
                    let _ = write!(
                        cases,
                        "    <testcase classname=\"{}\" name=\"{}\"",
                        xml(&class),
                        xml(&subject.to_string())
                    );
                    let details: &[&str] = details_of.get(subject).map_or(&[], Vec::as_slice);
                    let exempt = exempt_of.get(subject);
                    if !details.is_empty() && rule.severity >= self.fail_on {
                        failures += 1;
                        let _ = write!(
                            cases,
                            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                            xml(details[0]),
                            rule.severity.as_str(),
                            xml(&details.join("\n"))
                        );
                    } else if !details.is_empty() {
                        skipped += 1;
                        let _ = write!(
                            cases,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                            xml(&format!(
                                "{} violation below --fail-on {}: {}",
                                rule.severity.as_str(),
                                self.fail_on.as_str(),
                                details.join("; ")
                            ))
                        );
                    } else if let Some(why) = not_checked_of.get(subject) {
                        skipped += 1;
                        let _ = write!(
                            cases,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                            xml(&format!("not checked: {why}"))
                        );
                    } else if let Some((finding, e)) = exempt {
                        skipped += 1;
                        let until = e.expires.map(|d| format!(" until {d}")).unwrap_or_default();
                        let _ = write!(
                            cases,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                            xml(&format!(
                                "exempted{until}: {} ({})",
                                e.reason, finding.detail
                            ))
                        );
                    } else {
                        cases.push_str("/>\n");
                    }
                }
            }
            all_tests += tests;
            all_failures += failures;
            all_skipped += skipped;
            let _ = write!(
                suites,
                "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n    <properties>\n      <property name=\"kind\" value=\"{}\"/>\n      <property name=\"severity\" value=\"{}\"/>\n      <property name=\"policy\" value=\"{}\"/>\n    </properties>\n{cases}  </testsuite>\n",
                xml(&rule.name),
                rule.kind.as_str(),
                rule.severity.as_str(),
                xml(&format!("{}:{}", self.policy.path.display(), rule.line)),
            );
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cs-cmdb check\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"0\" skipped=\"{all_skipped}\">\n{suites}</testsuites>\n"
        )
    }

    /// SARIF 2.1.0: a reporting descriptor per rule, a result per violation (exempted ones carry
    /// a suppression), skipped rules as tool notifications.
    pub fn sarif(&self) -> serde_json::Value {
        use serde_json::json;
        let uri = self
            .policy
            .path
            .to_string_lossy()
            .replace('\\', "/")
            .replace(' ', "%20");
        let level = |s: Severity| match s {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low => "note",
        };
        let rules: Vec<serde_json::Value> = self
            .results
            .iter()
            .map(|r| {
                json!({
                    "id": r.rule.name,
                    "name": r.rule.kind.as_str(),
                    "shortDescription": {"text": r.rule.description.clone().unwrap_or_else(|| format!("{} rule {}", r.rule.kind.as_str(), r.rule.name))},
                    "defaultConfiguration": {"level": level(r.rule.severity)},
                    "properties": {"kind": r.rule.kind.as_str(), "severity": r.rule.severity.as_str()}
                })
            })
            .collect();
        let mut results = Vec::new();
        let mut notifications = Vec::new();
        for (index, r) in self.results.iter().enumerate() {
            if let Some(reason) = &r.skipped {
                notifications.push(json!({
                    "level": "warning",
                    "message": {"text": format!("rule {} not evaluated: {reason}", r.rule.name)},
                    "associatedRule": {"id": r.rule.name, "index": index}
                }));
            }
            let result = |f: &Finding, suppression: Option<&Exemption>| {
                let mut v = json!({
                    "ruleId": r.rule.name,
                    "ruleIndex": index,
                    "level": level(r.rule.severity),
                    "message": {"text": format!("{}: {}", f.subject, f.detail)},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": r.rule.line}
                        },
                        "logicalLocations": [{"fullyQualifiedName": f.subject.to_string(), "kind": "resource"}]
                    }],
                    "partialFingerprints": {"csCmdbSubject/v1": format!("{}|{}", r.rule.name, f.subject)}
                });
                if let Some(e) = suppression {
                    v["suppressions"] = json!([{"kind": "external", "justification": e.reason}]);
                }
                v
            };
            results.extend(r.violations.iter().map(|f| result(f, None)));
            results.extend(r.exempted.iter().map(|(f, e)| result(f, Some(e))));
        }
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "cs-cmdb",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/jcjorel/clonesquad-ec2-pet-autoscaler",
                    "rules": rules
                }},
                "invocations": [{"executionSuccessful": true, "toolExecutionNotifications": notifications}],
                "results": results
            }]
        })
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
