//! Canned queries: `queries/*.sql`, embedded at build time, each with a header that names it,
//! describes it and declares its parameters. `--queries-dir` adds queries or overrides them.
//!
//! ```sql
//! -- name: stale
//! -- description: Deployments whose last metadata export is older than a threshold.
//! -- param: hours int = 24 | Age threshold, in hours.
//! -- bind: hours
//! SELECT ... WHERE date_diff('hour', ..., current_timestamp) >= ?
//! ```
//!
//! Parameters are bound to the `?` placeholders (Athena's execution parameters, prepared
//! statements locally), never spliced into the text. `-- bind:` gives the order of the
//! placeholders when it is not the order of the `-- param:` lines (a parameter may be used twice).
//! `-- narrow: a, b` names the columns a table keeps on a terminal too narrow for all of them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::engine::Param;
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// The shipped queries.
const BUILTIN: [(&str, &str); 19] = [
    ("deployments", include_str!("../queries/deployments.sql")),
    ("versions", include_str!("../queries/versions.sql")),
    ("stale", include_str!("../queries/stale.sql")),
    ("instances", include_str!("../queries/instances.sql")),
    ("hostnames", include_str!("../queries/hostnames.sql")),
    ("subfleets", include_str!("../queries/subfleets.sql")),
    ("config", include_str!("../queries/config.sql")),
    ("drift", include_str!("../queries/drift.sql")),
    ("schedules", include_str!("../queries/schedules.sql")),
    ("maintenance", include_str!("../queries/maintenance.sql")),
    ("volumes", include_str!("../queries/volumes.sql")),
    ("owners", include_str!("../queries/owners.sql")),
    ("coverage", include_str!("../queries/coverage.sql")),
    ("coverage-map", include_str!("../queries/coverage-map.sql")),
    ("fleet-by-ou", include_str!("../queries/fleet-by-ou.sql")),
    (
        "versions-by-ou",
        include_str!("../queries/versions-by-ou.sql"),
    ),
    (
        "owners-by-tag",
        include_str!("../queries/owners-by-tag.sql"),
    ),
    (
        "deployments-by-ou",
        include_str!("../queries/deployments-by-ou.sql"),
    ),
    ("freshness", include_str!("../queries/freshness.sql")),
];

/// The type of a declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
        })
    }
}

impl ParamType {
    fn parse_value(self, text: &str) -> Option<Param> {
        Some(match self {
            ParamType::String => Param::Str(text.to_string()),
            ParamType::Int => Param::Int(text.trim().parse().ok()?),
            ParamType::Float => {
                Param::Float(text.trim().parse().ok().filter(|x: &f64| x.is_finite())?)
            }
            ParamType::Bool => Param::Bool(match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return None,
            }),
        })
    }
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDef {
    pub name: String,
    pub ty: ParamType,
    /// None: the parameter is required.
    pub default: Option<Param>,
    /// `>= N` after the type: the smallest value a number may take.
    pub min: Option<f64>,
    pub help: String,
}

/// Where a query comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    File(PathBuf),
    CommandLine,
}

/// A query: its header and its full text (header comments included; both engines ignore them).
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamDef>,
    /// Parameter names in placeholder order.
    pub bind: Vec<String>,
    /// `-- narrow:` the columns a table keeps when it cannot fit the terminal whole.
    pub narrow: Vec<String>,
    pub sql: String,
    pub origin: Origin,
}

impl Query {
    /// Parse a query text; `name` is used when the header has no `-- name:`.
    pub fn parse(name: &str, text: &str, origin: Origin) -> anyhow::Result<Self> {
        let whence = match &origin {
            Origin::Builtin => format!("built-in query `{name}`"),
            Origin::File(path) => format!("query file {}", path.display()),
            Origin::CommandLine => "the --sql text".to_string(),
        };
        let mut query = Query {
            name: name.to_string(),
            description: String::new(),
            params: Vec::new(),
            bind: Vec::new(),
            narrow: Vec::new(),
            sql: text.to_string(),
            origin,
        };
        let mut bind = None;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("--") else {
                break;
            };
            let Some((key, value)) = comment.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            let at = || format!("{whence}, line {}", index + 1);
            match key.trim() {
                "name" => query.name = value.to_string(),
                "description" => query.description = value.to_string(),
                "param" => query.params.push(
                    parse_param(value)
                        .with_context(|| format!("{}: bad `-- param:` line", at()))?,
                ),
                "bind" => bind = Some(name_list(value)),
                "narrow" => query.narrow = name_list(value),
                _ => {}
            }
        }
        let valid_name = !query.name.is_empty()
            && query
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            bail!(
                "{whence}: `{}` is not a valid query name (letters, digits, - and _)",
                query.name
            );
        }
        // Checked here for the user's files (refused before anything runs); the built-in queries
        // are checked by a test instead of on every run (each check is a full SQL parse), and
        // every engine checks again what it is given.
        if !matches!(query.origin, Origin::Builtin) {
            crate::engine::readonly::ensure_read_only(text)
                .with_context(|| format!("{whence} is refused"))?;
        }
        query.bind = bind.unwrap_or_else(|| query.params.iter().map(|p| p.name.clone()).collect());
        for name in &query.bind {
            if !query.params.iter().any(|p| &p.name == name) {
                bail!("{whence}: `-- bind:` names `{name}`, which no `-- param:` line declares");
            }
        }
        Ok(query)
    }

    /// The values to bind, in placeholder order, from `--param key=value` pairs and defaults.
    pub fn bind_values(&self, given: &[String]) -> anyhow::Result<Vec<Param>> {
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        for pair in given {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("--param `{pair}` is not of the form key=value");
            };
            let key = key.trim();
            if !self.params.iter().any(|p| p.name == key) {
                let known = if self.params.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!(
                        "it takes: {}",
                        self.params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                bail!("query `{}` has no parameter `{key}`; {known}", self.name);
            }
            values.insert(key, value);
        }
        let mut resolved: BTreeMap<&str, Param> = BTreeMap::new();
        for def in &self.params {
            let value = match values.get(def.name.as_str()) {
                Some(text) => def.ty.parse_value(text).with_context(|| {
                    format!(
                        "parameter `{}` of query `{}` expects {} {}, got `{text}`",
                        def.name,
                        self.name,
                        if def.ty == ParamType::Int { "an" } else { "a" },
                        if def.ty == ParamType::Float {
                            "finite float".to_string()
                        } else {
                            def.ty.to_string()
                        },
                    )
                })?,
                None => def.default.clone().with_context(|| {
                    format!(
                        "query `{}` needs --param {}=<{}> ({})",
                        self.name, def.name, def.ty, def.help
                    )
                })?,
            };
            let number = match &value {
                Param::Int(i) => Some(*i as f64),
                Param::Float(f) => Some(*f),
                _ => None,
            };
            if let (Some(min), Some(n)) = (def.min, number)
                && n < min
            {
                bail!(
                    "parameter `{}` of query `{}` must be >= {min}, got {n} ({})",
                    def.name,
                    self.name,
                    def.help
                );
            }
            resolved.insert(def.name.as_str(), value);
        }
        Ok(self
            .bind
            .iter()
            .filter_map(|name| resolved.get(name.as_str()).cloned())
            .collect())
    }
}

/// `a, b, c` as names.
fn name_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_param(text: &str) -> anyhow::Result<ParamDef> {
    let (decl, help) = text.split_once('|').unwrap_or((text, ""));
    // `=` of the default, not the one of `>=`.
    let eq = decl
        .char_indices()
        .find(|&(i, c)| c == '=' && !decl[..i].ends_with('>'))
        .map(|(i, _)| i);
    let (decl, default) = match eq {
        Some(i) => (&decl[..i], Some(decl[i + 1..].trim())),
        None => (decl, None),
    };
    let (decl, min) = match decl.split_once(">=") {
        Some((decl, min)) => {
            let min = min.trim();
            let min: f64 = min
                .parse()
                .with_context(|| format!("`>= {min}`: the minimum must be a number"))?;
            (decl, Some(min))
        }
        None => (decl, None),
    };
    let mut words = decl.split_whitespace();
    let (Some(name), Some(ty), None) = (words.next(), words.next(), words.next()) else {
        bail!("expected `name type [>= min] [= default] [| help]`, got `{text}`");
    };
    let ty = match ty.to_ascii_lowercase().as_str() {
        "string" | "varchar" => ParamType::String,
        "int" | "integer" | "bigint" => ParamType::Int,
        "float" | "double" => ParamType::Float,
        "bool" | "boolean" => ParamType::Bool,
        other => bail!("unknown parameter type `{other}` (string, int, float, bool)"),
    };
    let default = match default {
        Some(text) => {
            let text = text
                .strip_prefix('\'')
                .and_then(|t| t.strip_suffix('\''))
                .unwrap_or(text);
            Some(
                ty.parse_value(text)
                    .with_context(|| format!("default `{text}` is not a valid {ty}"))?,
            )
        }
        None => None,
    };
    if min.is_some() && !matches!(ty, ParamType::Int | ParamType::Float) {
        bail!("`>=` applies to int and float parameters, not {ty}");
    }
    Ok(ParamDef {
        name: name.to_string(),
        ty,
        default,
        min,
        help: help.trim().to_string(),
    })
}

/// All known queries: the built-in ones, then those of `extra_dir` (which override by name).
pub fn registry(extra_dir: Option<&Path>) -> anyhow::Result<BTreeMap<String, Query>> {
    let mut queries = BTreeMap::new();
    for (name, text) in BUILTIN {
        let query = Query::parse(name, text, Origin::Builtin)?;
        queries.insert(query.name.clone(), query);
    }
    if let Some(dir) = extra_dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the queries directory {}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        paths.sort();
        for path in paths {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read query file {}", path.display()))?;
            let query = Query::parse(&stem, &text, Origin::File(path))?;
            queries.insert(query.name.clone(), query);
        }
    }
    Ok(queries)
}

/// The registry as rows (`query --list`): name, description, parameters.
pub fn to_result_set(registry: &BTreeMap<String, Query>) -> ResultSet {
    let columns = vec![
        Column::new("name", ColumnType::String),
        Column::new("description", ColumnType::String),
        Column::new("parameters", ColumnType::String),
    ];
    let rows = registry
        .values()
        .map(|q| {
            let params = q
                .params
                .iter()
                .map(|p| {
                    let min = p.min.map(|m| format!(" >= {m}")).unwrap_or_default();
                    match &p.default {
                        Some(d) => format!("{} {}{min} = {d}", p.name, p.ty),
                        None => format!("{} {}{min} (required)", p.name, p.ty),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                Value::Str(q.name.clone()),
                Value::Str(q.description.clone()),
                if params.is_empty() {
                    Value::Null
                } else {
                    Value::Str(params)
                },
            ]
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_read_only() {
        for (name, text) in BUILTIN {
            crate::engine::readonly::ensure_read_only(text)
                .unwrap_or_else(|e| panic!("built-in query {name}: {e:#}"));
        }
    }

    #[test]
    fn builtins_parse_and_describe_themselves() {
        let all = registry(None).unwrap();
        assert_eq!(all.len(), BUILTIN.len());
        for q in all.values() {
            assert!(!q.description.is_empty(), "{} has a description", q.name);
            assert!(q.sql.contains("SELECT"), "{}", q.name);
        }
        let stale = &all["stale"];
        assert_eq!(stale.params[0].name, "hours");
        assert_eq!(stale.params[0].default, Some(Param::Int(24)));
    }

    #[test]
    fn params_are_typed_checked_and_ordered() {
        let q = Query::parse(
            "t",
            "-- name: t\n-- description: d\n-- param: a int = 1 | first\n-- param: b string | second\n-- bind: b, a, b\nSELECT ?, ?, ?",
            Origin::CommandLine,
        )
        .unwrap();
        let values = q.bind_values(&["b=it's".into()]).unwrap();
        assert_eq!(
            values,
            [
                Param::Str("it's".into()),
                Param::Int(1),
                Param::Str("it's".into())
            ]
        );
        let err = q.bind_values(&["a=x".into(), "b=y".into()]).unwrap_err();
        assert!(err.to_string().contains("expects an int, got `x`"), "{err}");
        let err = q.bind_values(&[]).unwrap_err();
        assert!(
            err.to_string().contains("needs --param b=<string>"),
            "{err}"
        );
        let err = q.bind_values(&["c=1".into()]).unwrap_err();
        assert!(
            err.to_string().contains("no parameter `c`; it takes: a, b"),
            "{err}"
        );
        assert!(Query::parse("t", "-- bind: z\nSELECT ?", Origin::CommandLine).is_err());
        assert!(Query::parse("t", "-- param: x blob\nSELECT ?", Origin::CommandLine).is_err());
    }
}
