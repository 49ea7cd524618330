//! Our JSON loader: CloneSquad's NDJSON lines, parsed with serde_json and built into Arrow arrays
//! against the schema of `ddl/*.sql`. Keys match case-insensitively (an exact match is tried
//! first), values are coerced the way Athena's JSON SerDe reads them, and a line that is not a
//! JSON object is reported, never fatal.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
    ListArray, MapArray, StringBuilder, StructArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::arrow::error::ArrowError;
use serde_json::{Map, Value};

use crate::catalog::ddl::{ColumnDef, HiveType};

/// A line that could not be read as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u32,
    pub error: String,
}

/// Parse NDJSON bytes into objects. Blank lines are skipped; other unreadable lines are returned
/// as [`BadLine`]s.
pub fn parse_lines(bytes: &[u8]) -> (Vec<Map<String, Value>>, Vec<BadLine>) {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(object)) => rows.push(object),
            Ok(other) => bad.push(BadLine {
                line: line_no,
                error: format!("not a JSON object (a {})", kind(&other)),
            }),
            Err(err) => bad.push(BadLine {
                line: line_no,
                error: err.to_string(),
            }),
        }
    }
    (rows, bad)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Look a key up: exact first, then ASCII case-insensitively (Athena's behaviour).
fn lookup<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .get(key)
        .or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// Build the arrays of `columns` from `rows` (objects).
pub fn build_columns(
    columns: &[ColumnDef],
    rows: &[&Map<String, Value>],
) -> Result<Vec<ArrayRef>, ArrowError> {
    columns
        .iter()
        .map(|column| {
            let values: Vec<Option<&Value>> =
                rows.iter().map(|row| lookup(row, &column.key)).collect();
            build(&column.ty, &values)
        })
        .collect()
}

fn build(ty: &HiveType, values: &[Option<&Value>]) -> Result<ArrayRef, ArrowError> {
    Ok(match ty {
        HiveType::String => {
            let mut builder = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for value in values {
                match value {
                    None => builder.append_null(),
                    Some(Value::String(s)) => builder.append_value(s),
                    Some(other) => builder.append_value(other.to_string()),
                }
            }
            Arc::new(builder.finish())
        }
        HiveType::BigInt => Arc::new(Int64Array::from_iter(
            values.iter().map(|v| v.and_then(as_i64)),
        )),
        HiveType::Int => Arc::new(Int32Array::from_iter(
            values
                .iter()
                .map(|v| v.and_then(as_i64).and_then(|i| i32::try_from(i).ok())),
        )),
        HiveType::Double => Arc::new(Float64Array::from_iter(
            values.iter().map(|v| v.and_then(as_f64)),
        )),
        HiveType::Float => Arc::new(Float32Array::from_iter(
            values.iter().map(|v| v.and_then(as_f64).map(|f| f as f32)),
        )),
        HiveType::Boolean => Arc::new(BooleanArray::from_iter(
            values.iter().map(|v| v.and_then(as_bool)),
        )),
        HiveType::Timestamp => Arc::new(TimestampMicrosecondArray::from_iter(values.iter().map(
            |v| {
                v.and_then(Value::as_str)
                    .and_then(parse_timestamp)
                    .map(|t| t.and_utc().timestamp_micros())
            },
        ))),
        HiveType::Date => Arc::new(Date32Array::from_iter(values.iter().map(|v| {
            v.and_then(Value::as_str)
                .and_then(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
                .map(|d| {
                    let days = d.signed_duration_since(NaiveDate::default()).num_days();
                    i32::try_from(days).unwrap_or(i32::MAX)
                })
        }))),
        HiveType::Array(item) => {
            let (offsets, children, nulls) =
                flatten(values, |v| v.as_array().map(|a| a.iter().collect()));
            let child = build(item, &children)?;
            let field = Arc::new(Field::new("item", item.arrow_type(), true));
            Arc::new(ListArray::try_new(field, offsets, child, nulls)?)
        }
        HiveType::Struct(fields) => {
            let objects: Vec<Option<&Map<String, Value>>> = values
                .iter()
                .map(|v| v.and_then(Value::as_object))
                .collect();
            let children = fields
                .iter()
                .map(|f| {
                    let child: Vec<Option<&Value>> = objects
                        .iter()
                        .map(|o| o.and_then(|o| lookup(o, &f.key)))
                        .collect();
                    build(&f.ty, &child)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let arrow_fields = Fields::from(
                fields
                    .iter()
                    .map(ColumnDef::arrow_field)
                    .collect::<Vec<_>>(),
            );
            let nulls = NullBuffer::from_iter(objects.iter().map(Option::is_some));
            if fields.is_empty() {
                Arc::new(StructArray::new_empty_fields(values.len(), Some(nulls)))
            } else {
                Arc::new(StructArray::try_new(arrow_fields, children, Some(nulls))?)
            }
        }
        HiveType::Map(key_ty, value_ty) => {
            let mut keys: Vec<Value> = Vec::new();
            let (offsets, children, nulls) = flatten(values, |v| {
                v.as_object().map(|o| {
                    keys.extend(o.keys().map(|k| Value::String(k.clone())));
                    o.values().collect()
                })
            });
            let key_refs: Vec<Option<&Value>> = keys.iter().map(Some).collect();
            let key_array = build(key_ty, &key_refs)?;
            let value_array = build(value_ty, &children)?;
            let DataType::Map(entries_field, _) = ty.arrow_type() else {
                return Err(ArrowError::SchemaError("map type expected".into()));
            };
            let DataType::Struct(entry_fields) = entries_field.data_type() else {
                return Err(ArrowError::SchemaError(
                    "map entries must be a struct".into(),
                ));
            };
            let entries =
                StructArray::try_new(entry_fields.clone(), vec![key_array, value_array], None)?;
            Arc::new(MapArray::try_new(
                entries_field,
                offsets,
                entries,
                nulls,
                false,
            )?)
        }
    })
}

/// Offsets, flattened children and the validity of a list-like column.
fn flatten<'a>(
    values: &[Option<&'a Value>],
    mut items: impl FnMut(&'a Value) -> Option<Vec<&'a Value>>,
) -> (
    OffsetBuffer<i32>,
    Vec<Option<&'a Value>>,
    Option<NullBuffer>,
) {
    let mut lengths = Vec::with_capacity(values.len());
    let mut children = Vec::new();
    let mut valid = Vec::with_capacity(values.len());
    for value in values {
        match value.and_then(&mut items) {
            Some(list) => {
                lengths.push(list.len());
                children.extend(list.into_iter().map(|v| (!v.is_null()).then_some(v)));
                valid.push(true);
            }
            None => {
                lengths.push(0);
                valid.push(false);
            }
        }
    }
    let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
    (OffsetBuffer::from_lengths(lengths), children, nulls)
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Every timestamp form CloneSquad writes, read as UTC: `2026-11-26 09:00:01[.123456]`, the same
/// with a `+00:00` (or any) offset or `Z`, a `T` separator, or a bare date.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.naive_utc());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    if let Ok(t) = NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ddl;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};

    #[test]
    fn timestamps_in_every_written_form() {
        let t = |s: &str| parse_timestamp(s).map(|t| t.to_string());
        assert_eq!(
            t("2026-11-26 09:00:01.123456").as_deref(),
            Some("2026-11-26 09:00:01.123456")
        );
        assert_eq!(
            t("2026-11-26 09:00:01").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(
            t("2026-11-26 09:00:01.123456+00:00").as_deref(),
            Some("2026-11-26 09:00:01.123456")
        );
        assert_eq!(
            t("2026-11-26 11:00:01+02:00").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(
            t("2026-11-26T09:00:01Z").as_deref(),
            Some("2026-11-26 09:00:01")
        );
        assert_eq!(t("2026-11-26").as_deref(), Some("2026-11-26 00:00:00"));
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let (rows, bad) = parse_lines(b"{\"a\":1}\n\n{broken\n[1]\n{\"a\":2}\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 3);
        assert_eq!(bad[1].line, 4);
        assert!(bad[1].error.contains("array"));
    }

    #[test]
    fn nested_values_case_insensitive_keys_and_coercions() {
        let tables = ddl::tables().unwrap();
        let instances = tables
            .iter()
            .find(|t| t.name == "clonesquad_instances")
            .unwrap();
        let (rows, bad) = parse_lines(
            br#"{"InstanceId":"i-1","State":{"Code":16,"Name":"running"},"Tags":[{"Key":"Name","Value":"web-1"}],"LaunchTime":"2026-11-26 09:00:01","AmiLaunchIndex":"3"}
{"instanceid":"i-2","state":{"code":80,"name":"stopped"},"Tags":[],"LaunchTime":"2026-11-26 09:00:01.5"}
{"InstanceId":"i-3","State":null,"Tags":null}"#,
        );
        assert!(bad.is_empty());
        let refs: Vec<_> = rows.iter().collect();
        let arrays = build_columns(&instances.columns, &refs).unwrap();
        let col = |name: &str| {
            let at = instances
                .columns
                .iter()
                .position(|c| c.name == name)
                .unwrap();
            arrays[at].clone()
        };
        let ids = col("instanceid");
        assert_eq!(ids.as_string::<i32>().value(1), "i-2");
        let state = col("state");
        let state = state.as_struct();
        assert_eq!(state.column(1).as_string::<i32>().value(1), "stopped");
        assert!(state.is_null(2));
        let tags = col("tags");
        let tags = tags.as_list::<i32>();
        assert_eq!(tags.value_length(0), 1);
        assert_eq!(tags.value_length(1), 0);
        assert!(tags.is_null(2));
        let launch = col("launchtime");
        assert_eq!(
            launch.as_primitive::<TimestampMicrosecondType>().value(1) % 1_000_000,
            500_000
        );
        let index = col("amilaunchindex");
        assert_eq!(index.as_primitive::<Int64Type>().value(0), 3);
        assert!(index.is_null(1));
    }
}
