//! The `ddl/*.sql` files: embedded at build time, parsed into the schemas the embedded engine
//! uses, and rendered with the real location for Athena. One source of truth for both engines.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use thiserror::Error;

/// The placeholder a CloneSquad table's LOCATION starts with.
pub const LOCATION_PLACEHOLDER: &str = "${metadata_path}";
/// The placeholder an Organization table's LOCATION starts with (`cs-cmdb org snapshot` writes
/// there; default `<metadata path>/cs-cmdb/org`).
pub const ORG_PLACEHOLDER: &str = "${org_path}";

/// The two Organization tables (`cs-cmdb org snapshot`), created after the CloneSquad ones.
pub const ORG_FILES: [(&str, &str); 2] = [
    ("org_accounts", include_str!("../../ddl/org_accounts.sql")),
    ("org_units", include_str!("../../ddl/org_units.sql")),
];

/// Which tree a table's files are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `<MetadataAndBackupS3Path>`, written by CloneSquad.
    Metadata,
    /// The Organization snapshot's folder, written by `cs-cmdb org snapshot`.
    Org,
}

/// The six tables, in the order they are created.
pub const FILES: [(&str, &str); 6] = [
    (
        "clonesquad_discovery",
        include_str!("../../ddl/clonesquad_discovery.sql"),
    ),
    (
        "clonesquad_configuration",
        include_str!("../../ddl/clonesquad_configuration.sql"),
    ),
    (
        "clonesquad_scheduler",
        include_str!("../../ddl/clonesquad_scheduler.sql"),
    ),
    (
        "clonesquad_instances",
        include_str!("../../ddl/clonesquad_instances.sql"),
    ),
    (
        "clonesquad_volumes",
        include_str!("../../ddl/clonesquad_volumes.sql"),
    ),
    (
        "clonesquad_maintenance_windows",
        include_str!("../../ddl/clonesquad_maintenance_windows.sql"),
    ),
];

/// A column type as the DDL declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum HiveType {
    String,
    BigInt,
    Int,
    Double,
    Float,
    Boolean,
    Timestamp,
    Date,
    Array(Box<HiveType>),
    Map(Box<HiveType>, Box<HiveType>),
    Struct(Vec<ColumnDef>),
}

/// A column or struct field: its name as declared (the JSON key) and its type.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// As written in the DDL, e.g. `CloneSquadVersion`: the JSON key it reads.
    pub key: String,
    /// Lowercase, as Athena exposes it: `clonesquadversion`.
    pub name: String,
    pub ty: HiveType,
}

/// One parsed `CREATE EXTERNAL TABLE`.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Partition column names (lowercase), e.g. accountid, region, groupname.
    pub partitions: Vec<String>,
    /// The location below its base, e.g. `metadata/maintenance-windows` below the metadata
    /// path, or `accounts` below the Organization snapshot's folder.
    pub folder: String,
    /// Which tree `folder` is in.
    pub base: Base,
    /// `ROW FORMAT SERDE '...'`: the SerDe class Athena reads the files with.
    pub serde: String,
    /// `WITH SERDEPROPERTIES (...)`, in order.
    pub serde_properties: Vec<(String, String)>,
    /// The DDL text as shipped.
    pub text: String,
}

#[derive(Debug, Error)]
#[error("{file}: {message}")]
pub struct DdlError {
    pub file: String,
    pub message: String,
}

impl TableDef {
    /// The Arrow schema: data columns, then partition columns (strings), all lowercase.
    pub fn arrow_schema(&self) -> Arc<Schema> {
        let mut fields: Vec<Field> = self.columns.iter().map(ColumnDef::arrow_field).collect();
        fields.extend(
            self.partitions
                .iter()
                .map(|p| Field::new(p, DataType::Utf8, false)),
        );
        Arc::new(Schema::new(fields))
    }

    /// The DDL with its location filled in (`s3://bucket/prefix`, no trailing slash; the
    /// Organization tables read `org_path`). The placeholders sit inside the LOCATION's string
    /// literal (checked when the DDL is read), so the paths are quoted as its content: a `'`
    /// doubled.
    pub fn render(&self, metadata_path: &str, org_path: &str) -> String {
        self.text
            .replace(LOCATION_PLACEHOLDER, &metadata_path.replace('\'', "''"))
            .replace(ORG_PLACEHOLDER, &org_path.replace('\'', "''"))
    }

    /// A SerDe property's value.
    pub fn serde_property(&self, key: &str) -> Option<&str> {
        self.serde_properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `timestamp.formats` patterns, split as Athena's reader splits them: on commas, with
    /// `\,` and `\\` escapes, empty entries dropped.
    pub fn timestamp_formats(&self) -> Vec<String> {
        split_formats(self.serde_property("timestamp.formats").unwrap_or_default())
    }
}

/// Split a `timestamp.formats` value (Trino's `getTimestampFormatsSchemaProperty`).
fn split_formats(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl ColumnDef {
    pub fn arrow_field(&self) -> Field {
        Field::new(&self.name, self.ty.arrow_type(), true)
    }
}

impl HiveType {
    /// The type as the Glue catalog spells it: lowercase, no quotes, no spaces
    /// (`array<struct<key:string,value:string>>`).
    pub fn catalog_name(&self) -> String {
        match self {
            HiveType::String => "string".into(),
            HiveType::BigInt => "bigint".into(),
            HiveType::Int => "int".into(),
            HiveType::Double => "double".into(),
            HiveType::Float => "float".into(),
            HiveType::Boolean => "boolean".into(),
            HiveType::Timestamp => "timestamp".into(),
            HiveType::Date => "date".into(),
            HiveType::Array(item) => format!("array<{}>", item.catalog_name()),
            HiveType::Map(key, value) => {
                format!("map<{},{}>", key.catalog_name(), value.catalog_name())
            }
            HiveType::Struct(fields) => format!(
                "struct<{}>",
                fields
                    .iter()
                    .map(|f| format!("{}:{}", f.name, f.ty.catalog_name()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    pub fn arrow_type(&self) -> DataType {
        match self {
            HiveType::String => DataType::Utf8,
            HiveType::BigInt => DataType::Int64,
            HiveType::Int => DataType::Int32,
            HiveType::Double => DataType::Float64,
            HiveType::Float => DataType::Float32,
            HiveType::Boolean => DataType::Boolean,
            HiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            HiveType::Date => DataType::Date32,
            HiveType::Array(item) => {
                DataType::List(Arc::new(Field::new("item", item.arrow_type(), true)))
            }
            HiveType::Map(key, value) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", key.arrow_type(), false),
                        Field::new("value", value.arrow_type(), true),
                    ])),
                    false,
                )),
                false,
            ),
            HiveType::Struct(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(ColumnDef::arrow_field)
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

/// The six CloneSquad tables, parsed. The files are part of the binary, so a failure here is a
/// bug caught by the test suite; callers still get an error, never a panic.
pub fn tables() -> Result<Vec<TableDef>, DdlError> {
    FILES
        .iter()
        .map(|(name, text)| parse(&format!("ddl/{name}.sql"), text))
        .collect()
}

/// The two Organization tables, parsed.
pub fn org_tables() -> Result<Vec<TableDef>, DdlError> {
    ORG_FILES
        .iter()
        .map(|(name, text)| parse(&format!("ddl/{name}.sql"), text))
        .collect()
}

/// Every table both engines know: the CloneSquad tables, then the Organization's.
pub fn all_tables() -> Result<Vec<TableDef>, DdlError> {
    let mut all = tables()?;
    all.extend(org_tables()?);
    Ok(all)
}

/// Parse one `CREATE EXTERNAL TABLE` statement (Hive DDL as Athena takes it).
pub fn parse(file: &str, text: &str) -> Result<TableDef, DdlError> {
    let err = |message: String| DdlError {
        file: file.to_string(),
        message,
    };
    let code = strip_comments(text);
    let upper = code.to_ascii_uppercase();
    let create = upper
        .find("CREATE EXTERNAL TABLE")
        .ok_or_else(|| err("no CREATE EXTERNAL TABLE statement".into()))?;
    let mut rest = &code[create + "CREATE EXTERNAL TABLE".len()..];
    let trimmed = rest.trim_start();
    if trimmed.to_ascii_uppercase().starts_with("IF NOT EXISTS") {
        rest = &trimmed["IF NOT EXISTS".len()..];
    }
    let open = rest.find('(').ok_or_else(|| err("no column list".into()))?;
    let name = unquote(rest[..open].trim()).to_ascii_lowercase();
    let name = name.rsplit('.').next().unwrap_or(&name).to_string();
    let (columns_text, after) = balanced(&rest[open..])
        .ok_or_else(|| err("unbalanced parentheses in the column list".into()))?;
    let columns = split_top_level(columns_text)
        .into_iter()
        .map(|def| parse_column(def).map_err(&err))
        .collect::<Result<Vec<_>, _>>()?;

    let after_upper = after.to_ascii_uppercase();
    let partitions = match after_upper.find("PARTITIONED BY") {
        Some(at) => {
            let tail = &after[at + "PARTITIONED BY".len()..];
            let open = tail
                .find('(')
                .ok_or_else(|| err("PARTITIONED BY without a column list".into()))?;
            let (list, _) = balanced(&tail[open..])
                .ok_or_else(|| err("unbalanced parentheses in PARTITIONED BY".into()))?;
            split_top_level(list)
                .into_iter()
                .map(|def| parse_column(def).map(|c| c.name).map_err(&err))
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    let location_at = after_upper
        .find("LOCATION")
        .ok_or_else(|| err("no LOCATION".into()))?;
    let location = after[location_at + "LOCATION".len()..]
        .trim_start()
        .strip_prefix('\'')
        .and_then(|s| s.split_once('\''))
        .map(|(loc, _)| loc)
        .ok_or_else(|| err("LOCATION is not a quoted string".into()))?;
    let (base, folder) = if let Some(rest) = location.strip_prefix(LOCATION_PLACEHOLDER) {
        (Base::Metadata, rest)
    } else if let Some(rest) = location.strip_prefix(ORG_PLACEHOLDER) {
        (Base::Org, rest)
    } else {
        return Err(err(format!(
            "LOCATION must start with {LOCATION_PLACEHOLDER} or {ORG_PLACEHOLDER}"
        )));
    };
    let folder = folder.trim_matches('/').to_string();
    let serde = after_upper
        .find("ROW FORMAT SERDE")
        .and_then(|at| quoted(&after[at + "ROW FORMAT SERDE".len()..]))
        .map(|(class, _)| class.to_string())
        .ok_or_else(|| err("no ROW FORMAT SERDE '<class>'".into()))?;
    let serde_properties = match after_upper.find("WITH SERDEPROPERTIES") {
        Some(at) => {
            let tail = &after[at + "WITH SERDEPROPERTIES".len()..];
            let open = tail
                .find('(')
                .ok_or_else(|| err("WITH SERDEPROPERTIES without a list".into()))?;
            let (list, _) = balanced(&tail[open..])
                .ok_or_else(|| err("unbalanced parentheses in SERDEPROPERTIES".into()))?;
            split_top_level(list)
                .into_iter()
                .map(|pair| {
                    let (key, rest) = quoted(pair).ok_or_else(|| {
                        err(format!("a SerDe property is not 'key' = 'value': {pair}"))
                    })?;
                    let (value, rest) = rest
                        .trim_start()
                        .strip_prefix('=')
                        .and_then(quoted)
                        .ok_or_else(|| {
                            err(format!("a SerDe property is not 'key' = 'value': {pair}"))
                        })?;
                    if !rest.trim().is_empty() {
                        return Err(err(format!("unexpected text after SerDe property {key}")));
                    }
                    Ok((key.to_string(), value.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    Ok(TableDef {
        name,
        columns,
        partitions,
        folder,
        base,
        serde,
        serde_properties,
        text: text.to_string(),
    })
}

/// Remove `-- ...` comments (outside quotes).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut in_quote = false;
            let bytes = line.as_bytes();
            for i in 0..bytes.len() {
                match bytes[i] {
                    b'\'' => in_quote = !in_quote,
                    b'-' if !in_quote && bytes.get(i + 1) == Some(&b'-') => return &line[..i],
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A single-quoted string at the start of `text` (after white space), and what follows it.
fn quoted(text: &str) -> Option<(&str, &str)> {
    text.trim_start().strip_prefix('\'')?.split_once('\'')
}

/// Given text starting with `(`, the inside of the balanced group and what follows it.
fn balanced(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    let mut in_quote = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            _ if in_quote => {}
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((&text[1..i], &text[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Split on commas that are not inside `<...>`, `(...)` or single quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut in_quote = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            _ if in_quote => {}
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

fn unquote(name: &str) -> &str {
    name.trim_matches(|c| c == '`' || c == '"')
}

/// `name type` (columns) or `name: type` (struct fields).
fn parse_column(def: &str) -> Result<ColumnDef, String> {
    let def = def.trim();
    let (key, ty) = if let Some(rest) = def.strip_prefix('`') {
        let (key, rest) = rest
            .split_once('`')
            .ok_or_else(|| format!("unterminated quoted name in `{def}`"))?;
        (key, rest)
    } else {
        let end = def
            .find(|c: char| c.is_whitespace() || c == ':')
            .ok_or_else(|| format!("column without a type: `{def}`"))?;
        (&def[..end], &def[end..])
    };
    let ty = ty.trim_start().trim_start_matches(':').trim();
    Ok(ColumnDef {
        key: key.to_string(),
        name: key.to_ascii_lowercase(),
        ty: parse_type(ty)?,
    })
}

fn parse_type(text: &str) -> Result<HiveType, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let inner = |prefix: &str| -> Option<&str> {
        lower
            .starts_with(prefix)
            .then(|| text[prefix.len()..].trim_start())
            .and_then(|t| t.strip_prefix('<'))
            .and_then(|t| t.strip_suffix('>'))
    };
    if let Some(item) = inner("array") {
        return Ok(HiveType::Array(Box::new(parse_type(item)?)));
    }
    if let Some(kv) = inner("map") {
        let parts = split_top_level(kv);
        let [key, value] = parts.as_slice() else {
            return Err(format!("map needs a key and a value type: `{text}`"));
        };
        return Ok(HiveType::Map(
            Box::new(parse_type(key)?),
            Box::new(parse_type(value)?),
        ));
    }
    if let Some(fields) = inner("struct") {
        return split_top_level(fields)
            .into_iter()
            .map(parse_column)
            .collect::<Result<Vec<_>, _>>()
            .map(HiveType::Struct);
    }
    Ok(match lower.as_str() {
        "string" | "varchar" => HiveType::String,
        "bigint" => HiveType::BigInt,
        "int" | "integer" | "smallint" | "tinyint" => HiveType::Int,
        "double" => HiveType::Double,
        "float" | "real" => HiveType::Float,
        "boolean" => HiveType::Boolean,
        "timestamp" => HiveType::Timestamp,
        "date" => HiveType::Date,
        other => return Err(format!("unsupported column type `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::layout::Table;

    #[test]
    fn every_shipped_ddl_parses() {
        let tables = tables().unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, FILES.map(|(n, _)| n));
        for t in &tables {
            assert_eq!(
                t.partitions,
                crate::bucket::layout::PARTITION_KEYS,
                "{}",
                t.name
            );
            let schema = t.arrow_schema();
            assert!(
                schema
                    .fields()
                    .iter()
                    .all(|f| f.name() == &f.name().to_lowercase())
            );
        }
        let mw = tables
            .iter()
            .find(|t| t.name == "clonesquad_maintenance_windows")
            .unwrap();
        assert_eq!(mw.folder, "metadata/maintenance-windows");
        // The DDL reads exactly the bucket layout's six table folders.
        let mut read: Vec<Table> = tables
            .iter()
            .map(|t| Table::from_location(&t.folder).unwrap_or_else(|| panic!("{}", t.folder)))
            .collect();
        read.dedup();
        assert_eq!(read.len(), Table::ALL.len());
        assert!(Table::ALL.iter().all(|t| read.contains(t)));
        let instances = tables
            .iter()
            .find(|t| t.name == "clonesquad_instances")
            .unwrap();
        let state = instances
            .columns
            .iter()
            .find(|c| c.name == "state")
            .unwrap();
        assert_eq!(state.key, "State");
        let HiveType::Struct(fields) = &state.ty else {
            panic!("state is a struct")
        };
        assert_eq!(fields[1].name, "name");
        assert_eq!(fields[1].key, "Name");
    }

    #[test]
    fn render_fills_the_location() {
        let t = tables().unwrap().remove(0);
        let ddl = t.render("s3://bucket/prefix", "s3://bucket/prefix/cs-cmdb/org");
        assert!(ddl.contains("LOCATION 's3://bucket/prefix/metadata/discovery/'"));
        assert!(!ddl.contains(LOCATION_PLACEHOLDER));
    }

    #[test]
    fn render_quotes_the_location_as_a_string_literal() {
        let t = tables().unwrap().remove(0);
        let ddl = t.render("s3://bucket/it's' DROP", "s3://bucket/o'rg");
        assert!(
            ddl.contains("LOCATION 's3://bucket/it''s'' DROP/metadata/discovery/'"),
            "{ddl}"
        );
    }

    #[test]
    fn bad_types_are_errors() {
        let err = parse(
            "x.sql",
            "CREATE EXTERNAL TABLE t (`a` blob) LOCATION '${metadata_path}/metadata/t/'",
        )
        .unwrap_err();
        assert!(err.to_string().contains("blob"), "{err}");
        assert!(parse("x.sql", "SELECT 1").is_err());
    }
}
