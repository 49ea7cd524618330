//! Prepares Trino (Athena) SQL text for DataFusion.
//!
//! Two rewrites happen on the sqlparser AST (GenericDialect, DataFusion's default):
//! - `?` execution parameters become `$1`, `$2`, ... in textual order, to be bound with
//!   DataFusion's `with_param_values`;
//! - Trino's lateral `CROSS JOIN UNNEST(h.arr) AS t(a, b)` (also the comma form, `JOIN ... ON true`
//!   and `LEFT JOIN ... ON true`) becomes a derived table wrapping the host relation `h` that
//!   projects `unnest(h.arr)`, and every reference to `t`'s columns is redirected to it.
//!
//! DataFusion's projection `unnest` drops rows whose array is empty or NULL, exactly like Trino's
//! `CROSS JOIN UNNEST`; `LEFT JOIN UNNEST ... ON true` keeps them by unnesting `[NULL]` instead.
//! Several arguments in one `UNNEST` are zipped and padded with NULLs by both engines.
//! Struct fields are read with `x['field']`, which DataFusion plans as `get_field`.
//!
//! When nothing needs rewriting the original text is returned byte for byte; when only `?`
//! placeholders need numbering, only those characters change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, ExcludeSelectItem, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, OrderBy,
    Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Subscript,
    TableAlias, TableFactor, TableWithJoins, Value, Visit, VisitMut, Visitor, VisitorMut,
    WildcardAdditionalOptions, visit_expressions,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// Answers the Arrow type of `path` (lowercase column, then struct fields) in base table `table`.
pub type ColumnType<'a> = &'a dyn Fn(&str, &[String]) -> Option<DataType>;

/// SQL text ready for DataFusion, with what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// DataFusion-ready text.
    pub sql: String,
    /// Lowercase names of the base tables referenced (CTE names excluded).
    pub tables: BTreeSet<String>,
    /// Number of `?` placeholders in the original text; they are `$1..=$n` in `sql`.
    pub placeholders: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Parse(#[from] ParserError),
    #[error("expected exactly one SQL statement, found {0}")]
    StatementCount(usize),
    #[error("unsupported SQL: {0}")]
    Unsupported(String),
}

type Result<T, E = RewriteError> = std::result::Result<T, E>;

fn unsupported<T>(msg: impl Into<String>) -> Result<T> {
    Err(RewriteError::Unsupported(msg.into()))
}

/// Parses one Trino statement and rewrites it for DataFusion.
pub fn prepare(sql: &str, column_type: ColumnType<'_>) -> Result<Prepared> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(ParserError::from)?;
    let mut marks = Vec::new();
    let mut other_placeholder = false;
    for token in &tokens {
        if let Token::Placeholder(p) = &token.token {
            if p == "?" {
                marks.push(token.span.start);
            } else {
                other_placeholder = true;
            }
        }
    }
    if other_placeholder && !marks.is_empty() {
        return unsupported("`?` placeholders mixed with numbered placeholders");
    }
    let mut statement = single_statement(Parser::new(&dialect).with_tokens_with_locations(tokens))?;
    let tables = base_tables(&statement);
    let numbered = number_placeholders(sql, &marks);
    if !marks.is_empty() {
        statement = single_statement(Parser::new(&dialect).try_with_sql(&numbered)?)?;
    }
    let mut rewriter = Rewriter {
        column_type,
        next_helper: 0,
        changed: false,
    };
    if let ControlFlow::Break(e) = VisitMut::visit(&mut statement, &mut rewriter) {
        return Err(e);
    }
    Ok(Prepared {
        sql: if rewriter.changed {
            statement.to_string()
        } else {
            numbered
        },
        tables,
        placeholders: marks.len(),
    })
}

fn single_statement(mut parser: Parser<'_>) -> Result<Statement> {
    let statements = parser.parse_statements()?;
    let count = statements.len();
    <[Statement; 1]>::try_from(statements)
        .map(|[s]| s)
        .map_err(|_| RewriteError::StatementCount(count))
}

/// Replaces the `?` at each (sorted) location by `$1`, `$2`, ...; locations count characters.
fn number_placeholders(sql: &str, marks: &[Location]) -> String {
    if marks.is_empty() {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 2 * marks.len());
    let (mut line, mut column, mut n) = (1, 1, 0);
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if marks.get(n) == Some(&Location { line, column }) {
            n += 1;
            let _ = write!(out, "${n}");
            if chars
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                out.push(' ');
            }
        } else {
            out.push(ch);
        }
        if ch == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    out
}

fn lower(ident: &Ident) -> String {
    ident.value.to_lowercase()
}

fn object_name(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map_or_else(|| p.to_string(), lower))
        .collect();
    parts.join(".")
}

fn base_tables(statement: &Statement) -> BTreeSet<String> {
    #[derive(Default)]
    struct Tables {
        tables: BTreeSet<String>,
        ctes: HashSet<String>,
    }
    impl Visitor for Tables {
        type Break = Infallible;
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Infallible> {
            for cte in query.with.iter().flat_map(|w| &w.cte_tables) {
                self.ctes.insert(lower(&cte.alias.name));
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Infallible> {
            if let TableFactor::Table {
                name, args: None, ..
            } = factor
            {
                self.tables.insert(object_name(name));
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Tables::default();
    let _ = statement.visit(&mut v);
    v.tables.retain(|t| !v.ctes.contains(t));
    v.tables
}

/// A relation visible by name in a FROM clause.
#[derive(Debug, Clone)]
struct Rel {
    ident: Ident,
    name: String,
    /// Lowercase base table name, when the relation is a plain table.
    table: Option<String>,
    is_unnest: bool,
}

/// A relation with its position: `(FROM item, 0 for its first factor or join index + 1)`.
struct Slot {
    pos: (usize, usize),
    rel: Rel,
    /// Inside a parenthesized join that has outer joins.
    in_outer_nest: bool,
}

fn factor_rel(factor: &TableFactor) -> Option<Rel> {
    let (ident, table, is_unnest) = match factor {
        TableFactor::Table {
            name, alias, args, ..
        } => (
            alias
                .as_ref()
                .map_or(name.0.last()?.as_ident()?, |a| &a.name),
            args.is_none().then(|| object_name(name)),
            false,
        ),
        TableFactor::Derived { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::TableFunction { alias, .. } => (&alias.as_ref()?.name, None, false),
        TableFactor::UNNEST { alias, .. } => (&alias.as_ref()?.name, None, true),
        _ => return None,
    };
    Some(Rel {
        ident: ident.clone(),
        name: lower(ident),
        table,
        is_unnest,
    })
}

/// Positions of the UNNEST factors of a FROM clause, in textual order.
fn unnest_positions(from: &[TableWithJoins]) -> Result<Vec<(usize, usize)>> {
    fn nested_unnest(twj: &TableWithJoins) -> bool {
        std::iter::once(&twj.relation)
            .chain(twj.joins.iter().map(|j| &j.relation))
            .any(|f| match f {
                TableFactor::UNNEST { .. } => true,
                TableFactor::NestedJoin {
                    table_with_joins, ..
                } => nested_unnest(table_with_joins),
                _ => false,
            })
    }
    let mut out = Vec::new();
    for (g, twj) in from.iter().enumerate() {
        let factors = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation));
        for (j, factor) in factors.enumerate() {
            match factor {
                TableFactor::UNNEST { .. } => out.push((g, j)),
                TableFactor::NestedJoin {
                    table_with_joins, ..
                } if nested_unnest(table_with_joins) => {
                    return unsupported("UNNEST inside a parenthesized join");
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

fn is_inner(op: &JoinOperator) -> bool {
    matches!(
        op,
        JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
    )
}

fn slots(from: &[TableWithJoins]) -> Vec<Slot> {
    fn push(out: &mut Vec<Slot>, pos: (usize, usize), factor: &TableFactor, in_outer_nest: bool) {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = factor
        {
            let outer = in_outer_nest
                || table_with_joins
                    .joins
                    .iter()
                    .any(|j| !is_inner(&j.join_operator));
            push(out, pos, &table_with_joins.relation, outer);
            for join in &table_with_joins.joins {
                push(out, pos, &join.relation, outer);
            }
        } else if let Some(rel) = factor_rel(factor) {
            out.push(Slot {
                pos,
                rel,
                in_outer_nest,
            });
        }
    }
    let mut out = Vec::new();
    for (g, twj) in from.iter().enumerate() {
        push(&mut out, (g, 0), &twj.relation, false);
        for (j, join) in twj.joins.iter().enumerate() {
            push(&mut out, (g, j + 1), &join.relation, false);
        }
    }
    out
}

fn factor_mut(from: &mut [TableWithJoins], (g, j): (usize, usize)) -> Option<&mut TableFactor> {
    let twj = from.get_mut(g)?;
    match j {
        0 => Some(&mut twj.relation),
        _ => twj.joins.get_mut(j - 1).map(|join| &mut join.relation),
    }
}

/// The non-UNNEST factor named `name`, searching parenthesized joins too.
fn find_factor<'a>(factor: &'a mut TableFactor, name: &str) -> Option<&'a mut TableFactor> {
    if let TableFactor::NestedJoin {
        table_with_joins, ..
    } = factor
    {
        let twj = &mut **table_with_joins;
        return std::iter::once(&mut twj.relation)
            .chain(twj.joins.iter_mut().map(|j| &mut j.relation))
            .find_map(|f| find_factor(f, name));
    }
    factor_rel(factor)
        .is_some_and(|r| !r.is_unnest && r.name == name)
        .then_some(factor)
}

fn leaf_selects(set: &SetExpr) -> Vec<&Select> {
    match set {
        SetExpr::Select(s) => vec![s],
        SetExpr::SetOperation { left, right, .. } => {
            let mut v = leaf_selects(left);
            v.extend(leaf_selects(right));
            v
        }
        _ => vec![],
    }
}

fn leaf_selects_mut(set: &mut SetExpr) -> Vec<&mut Select> {
    match set {
        SetExpr::Select(s) => vec![s],
        SetExpr::SetOperation { left, right, .. } => {
            let mut v = leaf_selects_mut(left);
            v.extend(leaf_selects_mut(right));
            v
        }
        _ => vec![],
    }
}

fn parse_query(sql: &str) -> Result<Box<Query>> {
    Ok(Parser::new(&GenericDialect {})
        .try_with_sql(sql)?
        .parse_query()?)
}

fn parse_expr(sql: &str) -> Result<Expr> {
    Ok(Parser::new(&GenericDialect {})
        .try_with_sql(sql)?
        .parse_expr()?)
}

/// `expr['f1']['f2']...`
fn access(expr: Expr, fields: impl IntoIterator<Item = String>) -> Expr {
    let access_chain: Vec<AccessExpr> = fields
        .into_iter()
        .map(|f| {
            AccessExpr::Subscript(Subscript::Index {
                index: Expr::value(Value::SingleQuotedString(f)),
            })
        })
        .collect();
    if access_chain.is_empty() {
        expr
    } else {
        Expr::CompoundFieldAccess {
            root: Box::new(expr),
            access_chain,
        }
    }
}

fn field_type(ty: Option<DataType>, path: &[Ident]) -> Option<DataType> {
    path.iter().try_fold(ty?, |ty, name| match ty {
        DataType::Struct(fields) => fields
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(&name.value))
            .map(|f| f.data_type().clone()),
        _ => None,
    })
}

fn ident_chain(expr: &Expr) -> Option<&[Ident]> {
    match expr {
        Expr::Identifier(i) => Some(std::slice::from_ref(i)),
        Expr::CompoundIdentifier(ids) if !ids.is_empty() => Some(ids),
        _ => None,
    }
}

/// A column of a rewritten UNNEST, now an expression over its host relation.
struct UnnestCol {
    ident: Ident,
    name: String,
    expr: Expr,
    ty: Option<DataType>,
}

struct Unnest {
    alias: String,
    host: String,
    helpers: Vec<Ident>,
    cols: Vec<UnnestCol>,
}

/// Names visible in the SELECT being rewritten.
#[derive(Default)]
struct Scope {
    rels: HashSet<String>,
    unnests: Vec<Unnest>,
}

impl Scope {
    /// The UNNEST column `ids` starts with, and the struct fields accessed after it.
    fn resolve<'a>(&self, ids: &'a [Ident]) -> Option<(&UnnestCol, &'a [Ident])> {
        let first = lower(ids.first()?);
        if let [_, second, rest @ ..] = ids {
            if let Some(u) = self.unnests.iter().find(|u| u.alias == first) {
                let second = lower(second);
                return u.cols.iter().find(|c| c.name == second).map(|c| (c, rest));
            }
            if self.rels.contains(&first) {
                return None;
            }
        }
        self.unnests
            .iter()
            .flat_map(|u| &u.cols)
            .find(|c| c.name == first)
            .map(|c| (c, &ids[1..]))
    }
}

/// Redirects references to UNNEST columns, leaving names shadowed by nested queries alone.
struct Refs<'a> {
    scope: &'a Scope,
    column_type: ColumnType<'a>,
    frames: Vec<Vec<Rel>>,
    /// Output aliases that an unqualified ORDER BY name refers to.
    outputs: HashSet<String>,
}

impl Refs<'_> {
    fn replacement(&self, ids: &[Ident]) -> Option<Expr> {
        let first = lower(ids.first()?);
        if ids.len() == 1 && self.frames.is_empty() && self.outputs.contains(&first) {
            return None;
        }
        let (col, rest) = self.scope.resolve(ids)?;
        let qualified = ids.len() > 1 && self.scope.unnests.iter().any(|u| u.alias == first);
        let column = [first.clone()];
        let shadowed = self.frames.iter().flatten().any(|r| {
            r.name == first
                || !qualified
                    && r.table
                        .as_deref()
                        .is_none_or(|t| (self.column_type)(t, &column).is_some())
        });
        (!shadowed).then(|| access(col.expr.clone(), rest.iter().map(lower)))
    }
}

impl VisitorMut for Refs<'_> {
    type Break = Infallible;
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Infallible> {
        let rels = leaf_selects(&query.body)
            .into_iter()
            .flat_map(|s| slots(&s.from))
            .map(|s| s.rel)
            .collect();
        self.frames.push(rels);
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<Infallible> {
        self.frames.pop();
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Infallible> {
        if let Some(new) = ident_chain(expr).and_then(|ids| self.replacement(ids)) {
            *expr = new;
        }
        ControlFlow::Continue(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum JoinKind {
    Cross,
    Left,
}

fn join_kind(op: &JoinOperator) -> Result<JoinKind> {
    let on_true = |c: &JoinConstraint| matches!(c, JoinConstraint::On(Expr::Value(v)) if v.value == Value::Boolean(true));
    match op {
        JoinOperator::CrossJoin(JoinConstraint::None) => Ok(JoinKind::Cross),
        JoinOperator::Join(c) | JoinOperator::Inner(c) if on_true(c) => Ok(JoinKind::Cross),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if on_true(c) => Ok(JoinKind::Left),
        _ => unsupported(
            "UNNEST joined other than by a comma, CROSS JOIN, JOIN ... ON true or LEFT JOIN ... ON true",
        ),
    }
}

/// Whether the host at `host` can be NULL-extended by an outer join before the UNNEST at `at`.
fn nullable_host(from: &[TableWithJoins], host: &Slot, at: (usize, usize)) -> bool {
    let (g, j) = host.pos;
    let joins = &from[g].joins;
    let end = if at.0 == g { at.1 - 1 } else { joins.len() };
    let own = j > 0
        && !matches!(
            joins[j - 1].join_operator,
            JoinOperator::Join(_)
                | JoinOperator::Inner(_)
                | JoinOperator::CrossJoin(_)
                | JoinOperator::Right(_)
                | JoinOperator::RightOuter(_)
        );
    let later = joins[j.min(end)..end].iter().any(|join| {
        !is_inner(&join.join_operator)
            && !matches!(
                join.join_operator,
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_)
            )
    });
    host.in_outer_nest || own || later
}

struct Rewriter<'a> {
    column_type: ColumnType<'a>,
    next_helper: usize,
    changed: bool,
}

impl VisitorMut for Rewriter<'_> {
    type Break = RewriteError;
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<RewriteError> {
        let result = match query.body.as_mut() {
            SetExpr::Select(select) => self.rewrite_select(select, query.order_by.as_mut()),
            body => leaf_selects_mut(body)
                .into_iter()
                .try_for_each(|s| self.rewrite_select(s, None)),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

impl Rewriter<'_> {
    fn helper(&mut self) -> Ident {
        self.next_helper += 1;
        Ident::new(format!("__cs_u{}", self.next_helper - 1))
    }

    fn rewrite_select(
        &mut self,
        select: &mut Select,
        order_by: Option<&mut OrderBy>,
    ) -> Result<()> {
        let positions = unnest_positions(&select.from)?;
        if positions.is_empty() {
            return Ok(());
        }
        let all = slots(&select.from);
        let mut scope = Scope {
            rels: all.iter().map(|s| s.rel.name.clone()).collect(),
            unnests: Vec::new(),
        };
        let mut removed = Vec::new();
        for pos in positions {
            if let Some(unnest) = self.rewrite_unnest(&mut select.from, pos, &scope)? {
                scope.unnests.push(unnest);
                removed.push(pos);
            }
        }
        let Some(&first_removed) = removed.first() else {
            return Ok(());
        };
        self.changed = true;
        for &(g, j) in removed.iter().rev() {
            if j == 0 {
                select.from.remove(g);
            } else {
                select.from[g].joins.remove(j - 1);
            }
        }
        let unnests_last = all
            .iter()
            .filter(|s| !removed.contains(&s.pos))
            .all(|s| s.pos < first_removed);
        self.rewrite_projection(&mut select.projection, &scope, unnests_last)?;
        let mut refs = Refs {
            scope: &scope,
            column_type: self.column_type,
            frames: Vec::new(),
            outputs: HashSet::new(),
        };
        let _ = VisitMut::visit(select, &mut refs);
        if let Some(order_by) = order_by {
            refs.outputs = select
                .projection
                .iter()
                .filter_map(|item| match item {
                    SelectItem::ExprWithAlias { alias, .. } => Some(lower(alias)),
                    _ => None,
                })
                .collect();
            let _ = VisitMut::visit(order_by, &mut refs);
        }
        Ok(())
    }

    /// Rewrites the UNNEST at `pos`; returns its columns when it was lateral and must be removed.
    fn rewrite_unnest(
        &mut self,
        from: &mut [TableWithJoins],
        pos: (usize, usize),
        scope: &Scope,
    ) -> Result<Option<Unnest>> {
        let Some(TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_ordinality,
            ..
        }) = factor_mut(from, pos)
        else {
            return Ok(None);
        };
        if *with_ordinality || *with_offset {
            return unsupported("UNNEST ... WITH ORDINALITY / WITH OFFSET");
        }
        let alias = alias.clone();
        let originals = array_exprs.clone();
        let mut args = originals.clone();
        let mut refs = Refs {
            scope,
            column_type: self.column_type,
            frames: Vec::new(),
            outputs: HashSet::new(),
        };
        let _ = VisitMut::visit(&mut args, &mut refs);

        let candidates: Vec<Slot> = slots(from)
            .into_iter()
            .filter(|s| s.pos < pos && !s.rel.is_unnest)
            .collect();
        let mut hosts = BTreeSet::new();
        let mut problem = None;
        let _ = visit_expressions(&args, |e| {
            if let Some(ids) = ident_chain(e) {
                let first = lower(&ids[0]);
                let column = [first.clone()];
                let owners: Vec<&Slot> = if ids.len() > 1 && scope.rels.contains(&first) {
                    candidates.iter().filter(|s| s.rel.name == first).collect()
                } else if ids.len() == 1 && candidates.len() == 1 {
                    candidates.iter().collect()
                } else {
                    candidates
                        .iter()
                        .filter(|s| {
                            s.rel
                                .table
                                .as_deref()
                                .is_some_and(|t| (self.column_type)(t, &column).is_some())
                        })
                        .collect()
                };
                match owners.as_slice() {
                    [owner] => {
                        hosts.insert(owner.rel.name.clone());
                    }
                    _ => problem = Some(e.to_string()),
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let Some(name) = problem {
            return unsupported(format!(
                "UNNEST argument `{name}` does not name a relation before it in the same FROM \
                 (qualify it; correlated UNNEST in a subquery is not supported)"
            ));
        }
        let Some(alias) = alias.filter(|a| !a.columns.is_empty()) else {
            if hosts.is_empty() {
                return Ok(None);
            }
            return unsupported("lateral UNNEST without a column alias list `AS t(col, ...)`");
        };
        let host_name = match hosts.len() {
            0 => {
                self.expand_constant_unnest(from, pos, &alias, &args)?;
                return Ok(None);
            }
            1 => hosts.pop_first().unwrap_or_default(),
            _ => {
                let names: Vec<String> = hosts.into_iter().collect();
                return unsupported(format!(
                    "UNNEST arguments mixing relations {}",
                    names.join(", ")
                ));
            }
        };
        let kind = match pos {
            (_, 0) if from[pos.0].joins.is_empty() => JoinKind::Cross,
            (_, 0) => return unsupported("UNNEST followed by JOIN in a comma-separated FROM item"),
            (g, j) => join_kind(&from[g].joins[j - 1].join_operator)?,
        };
        let Some(host) = candidates.iter().find(|s| s.rel.name == host_name) else {
            return unsupported(format!("UNNEST over unknown relation `{host_name}`"));
        };
        if kind == JoinKind::Cross && nullable_host(from, host, pos) {
            return unsupported(format!(
                "CROSS JOIN UNNEST over `{host_name}`, which an outer join can NULL-extend"
            ));
        }

        // Element type of each argument, and the helper column holding it.
        let mut elements = Vec::new();
        for (orig, arg) in originals.iter().zip(args) {
            let ty = ident_chain(orig).and_then(|ids| match scope.resolve(ids) {
                Some((col, rest)) => field_type(col.ty.clone(), rest),
                None => {
                    let path = match ids {
                        [q, rest @ ..] if !rest.is_empty() && lower(q) == host_name => rest,
                        _ => ids,
                    };
                    let path: Vec<String> = path.iter().map(lower).collect();
                    (self.column_type)(host.rel.table.as_deref()?, &path)
                }
            });
            let (arg, elem) = match ty {
                None => (arg, None),
                Some(
                    DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _),
                ) => (arg, Some(f.data_type().clone())),
                Some(DataType::Map(f, _)) => (
                    parse_expr(&format!("map_entries({arg})"))?,
                    Some(f.data_type().clone()),
                ),
                Some(other) => {
                    return unsupported(format!(
                        "UNNEST argument `{orig}` has type {other}, not an array or map"
                    ));
                }
            };
            elements.push((self.helper(), arg, elem));
        }

        // Trino maps ROW fields positionally onto the alias columns.
        let host_ident = &host.rel.ident;
        let width = |e: &Option<DataType>| match e {
            Some(DataType::Struct(fs)) => fs.len(),
            _ => 1,
        };
        let expanded: usize = elements.iter().map(|(_, _, e)| width(e)).sum();
        let names = &alias.columns;
        if expanded != names.len() && elements.len() != names.len() {
            return unsupported(format!(
                "UNNEST yields {expanded} columns but its alias lists {}",
                names.len()
            ));
        }
        let mut values = Vec::new();
        for (helper, _, elem) in &elements {
            let whole = Expr::CompoundIdentifier(vec![host_ident.clone(), helper.clone()]);
            match elem {
                Some(DataType::Struct(fs)) if expanded == names.len() => {
                    values.extend(fs.iter().map(|f| {
                        (
                            access(whole.clone(), [f.name().clone()]),
                            Some(f.data_type().clone()),
                        )
                    }));
                }
                _ => values.push((whole, elem.clone())),
            }
        }
        let cols = names
            .iter()
            .zip(values)
            .map(|(c, (expr, ty))| UnnestCol {
                ident: c.name.clone(),
                name: lower(&c.name),
                expr,
                ty,
            })
            .collect();

        let mut items = String::new();
        for (helper, arg, _) in &elements {
            let _ = match kind {
                JoinKind::Cross => write!(items, ", unnest({arg}) AS {helper}"),
                JoinKind::Left => write!(
                    items,
                    ", unnest(CASE WHEN cardinality({arg}) > 0 THEN {arg} ELSE make_array(NULL) END) AS {helper}"
                ),
            };
        }
        let (g, j) = host.pos;
        let Some(factor) = factor_mut(from, (g, j)).and_then(|f| find_factor(f, &host_name)) else {
            return unsupported(format!("UNNEST over unknown relation `{host_name}`"));
        };
        let subquery = parse_query(&format!("SELECT {host_ident}.*{items} FROM {factor}"))?;
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(TableAlias {
                explicit: true,
                name: host_ident.clone(),
                columns: vec![],
                at: None,
            }),
            sample: None,
        };
        Ok(Some(Unnest {
            alias: lower(&alias.name),
            host: host_name,
            helpers: elements.into_iter().map(|(h, _, _)| h).collect(),
            cols,
        }))
    }

    /// `UNNEST(<constant array of ROWs>) AS t(a, b)`: DataFusion needs the struct unnested too.
    fn expand_constant_unnest(
        &mut self,
        from: &mut [TableWithJoins],
        pos: (usize, usize),
        alias: &TableAlias,
        args: &[Expr],
    ) -> Result<()> {
        let ([arg], true) = (args, alias.columns.len() > 1) else {
            return Ok(());
        };
        let helper = self.helper();
        let subquery = parse_query(&format!(
            "SELECT unnest({helper}) FROM (SELECT unnest({arg}) AS {helper})"
        ))?;
        if let Some(factor) = factor_mut(from, pos) {
            *factor = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(alias.clone()),
                sample: None,
            };
            self.changed = true;
        }
        Ok(())
    }

    /// Expands wildcards without the helper columns and names bare UNNEST column references
    /// the way Trino does (by their last identifier).
    fn rewrite_projection(
        &self,
        projection: &mut Vec<SelectItem>,
        scope: &Scope,
        unnests_last: bool,
    ) -> Result<()> {
        let col_items = |u: &Unnest| -> Vec<SelectItem> {
            u.cols
                .iter()
                .map(|c| SelectItem::ExprWithAlias {
                    expr: c.expr.clone(),
                    alias: c.ident.clone(),
                })
                .collect()
        };
        let mut host_helpers: HashMap<&str, Vec<Ident>> = HashMap::new();
        for u in &scope.unnests {
            host_helpers
                .entry(&u.host)
                .or_default()
                .extend(u.helpers.iter().cloned());
        }
        let mut out = Vec::with_capacity(projection.len());
        for item in std::mem::take(projection) {
            match item {
                SelectItem::Wildcard(mut opts) => {
                    if !unnests_last {
                        return unsupported(
                            "SELECT * when a lateral UNNEST precedes another relation",
                        );
                    }
                    exclude(
                        &mut opts,
                        host_helpers.values().flatten().cloned().collect(),
                    )?;
                    out.push(SelectItem::Wildcard(opts));
                    out.extend(scope.unnests.iter().flat_map(col_items));
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    mut opts,
                ) => {
                    let qualifier = match name.0.as_slice() {
                        [part] => part.as_ident().map(lower),
                        _ => None,
                    }
                    .unwrap_or_default();
                    if let Some(u) = scope.unnests.iter().find(|u| u.alias == qualifier) {
                        out.extend(col_items(u));
                        continue;
                    }
                    if let Some(helpers) = host_helpers.get(qualifier.as_str()) {
                        exclude(&mut opts, helpers.clone())?;
                    }
                    out.push(SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(name),
                        opts,
                    ));
                }
                SelectItem::UnnamedExpr(expr) => {
                    let alias = ident_chain(&expr)
                        .filter(|ids| scope.resolve(ids).is_some())
                        .and_then(|ids| ids.last().cloned());
                    out.push(match alias {
                        Some(alias) => SelectItem::ExprWithAlias { expr, alias },
                        None => SelectItem::UnnamedExpr(expr),
                    });
                }
                other => out.push(other),
            }
        }
        *projection = out;
        Ok(())
    }
}

fn exclude(opts: &mut WildcardAdditionalOptions, helpers: Vec<Ident>) -> Result<()> {
    if opts.opt_exclude.is_some() {
        return unsupported("EXCLUDE on a wildcard over a lateral UNNEST host");
    }
    opts.opt_exclude = Some(ExcludeSelectItem::Multiple(
        helpers
            .into_iter()
            .map(|h| ObjectName::from(vec![h]))
            .collect(),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::SchemaRef;
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::prelude::SessionContext;
    use datafusion::scalar::ScalarValue;

    const SETUP: &[&str] = &[
        "CREATE TABLE clonesquad_instances AS SELECT * FROM (VALUES
          ('i-1', 'acct-a',
           [named_struct('key', 'env', 'value', 'prod'), named_struct('key', 'team', 'value', 'core')],
           [1, 2],
           [named_struct('id', 'eni-1', 'groups', ['sg-1', 'sg-2']), named_struct('id', 'eni-2', 'groups', ['sg-3'])],
           named_struct('zone', 'eu-west-1a', 'labels', ['x', 'y'])),
          ('i-2', 'acct-a', [named_struct('key', 'env', 'value', 'dev')], [],
           [named_struct('id', 'eni-3', 'groups', [])],
           named_struct('zone', 'eu-west-1b', 'labels', [])),
          ('i-3', 'acct-b', [], NULL, NULL, NULL),
          ('i-4', 'acct-b', NULL, [3], [named_struct('id', 'eni-4', 'groups', ['sg-1'])], NULL)
        ) AS v(id, account, tags, sizes, networkinterfaces, placement)",
        "CREATE TABLE deployments AS SELECT * FROM (VALUES
          ('acct-a', 'alpha'), ('acct-b', 'beta'), ('acct-c', 'it''s')) AS v(account, name)",
        "CREATE TABLE maps AS SELECT 'm-1' AS id, MAP {'k1': 'v1', 'k2': 'v2'} AS attrs",
    ];

    struct Db {
        ctx: SessionContext,
        schemas: HashMap<String, SchemaRef>,
    }

    impl Db {
        async fn new() -> Self {
            let ctx = SessionContext::new();
            for sql in SETUP {
                ctx.sql(sql).await.unwrap().collect().await.unwrap();
            }
            let mut schemas = HashMap::new();
            for t in ["clonesquad_instances", "deployments", "maps"] {
                let schema = ctx.table_provider(t).await.unwrap().schema();
                schemas.insert(t.to_owned(), schema);
            }
            Db { ctx, schemas }
        }

        fn column_type(&self, table: &str, path: &[String]) -> Option<DataType> {
            let (first, rest) = path.split_first()?;
            let schema = self.schemas.get(table)?;
            let ty = schema.field_with_name(first).ok()?.data_type().clone();
            let rest: Vec<Ident> = rest.iter().map(Ident::new).collect();
            field_type(Some(ty), &rest)
        }

        fn prepare(&self, sql: &str) -> Result<Prepared> {
            prepare(sql, &|t: &str, p: &[String]| self.column_type(t, p))
        }

        /// Column names and rows (`|`-separated) of the prepared query.
        async fn run(&self, sql: &str, params: Vec<ScalarValue>) -> (Vec<String>, Vec<String>) {
            let prepared = self.prepare(sql).unwrap();
            let df = self.ctx.sql(&prepared.sql).await;
            let df = df.unwrap_or_else(|e| panic!("{e}\n{}", prepared.sql));
            let batches = df.with_param_values(params).unwrap().collect().await;
            let batches = batches.unwrap_or_else(|e| panic!("{e}\n{}", prepared.sql));
            let mut names = Vec::new();
            let mut rows = Vec::new();
            for batch in &batches {
                names = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                for row in 0..batch.num_rows() {
                    let cells: Vec<String> = batch
                        .columns()
                        .iter()
                        .map(|c| match c.is_null(row) {
                            true => "NULL".to_owned(),
                            false => array_value_to_string(c, row).unwrap(),
                        })
                        .collect();
                    rows.push(cells.join("|"));
                }
            }
            (names, rows)
        }

        async fn rows(&self, sql: &str) -> Vec<String> {
            let mut rows = self.run(sql, vec![]).await.1;
            rows.sort();
            rows
        }
    }

    fn unsupported_msg(db: &Db, sql: &str) -> String {
        match db.prepare(sql) {
            Err(RewriteError::Unsupported(m)) => m,
            other => panic!("expected Unsupported for {sql}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tags_unnest_to_key_value_rows() {
        let db = Db::new().await;
        let sql = "SELECT i.id, t.key, t.value FROM clonesquad_instances AS i \
                   CROSS JOIN UNNEST(i.tags) AS t(key, value)";
        let (names, mut rows) = db.run(sql, vec![]).await;
        rows.sort();
        assert_eq!(names, ["id", "key", "value"]);
        assert_eq!(rows, ["i-1|env|prod", "i-1|team|core", "i-2|env|dev"]);
        let prepared = db.prepare(sql).unwrap();
        assert!(
            prepared.sql.contains("i.__cs_u0['key']"),
            "{}",
            prepared.sql
        );
    }

    #[tokio::test]
    async fn empty_and_null_arrays_are_dropped_like_trino() {
        let db = Db::new().await;
        let expected = ["i-1|1", "i-1|2", "i-4|3"];
        for sql in [
            "SELECT i.id, s FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes) t(s)",
            "SELECT i.id, t.s FROM clonesquad_instances AS i, UNNEST(i.sizes) AS t(s)",
            "SELECT i.id, s FROM clonesquad_instances i JOIN UNNEST(i.sizes) AS t(s) ON true",
        ] {
            assert_eq!(db.rows(sql).await, expected, "{sql}");
        }
    }

    #[tokio::test]
    async fn left_join_unnest_keeps_empty_and_null_arrays() {
        let db = Db::new().await;
        let sql = "SELECT i.id, t.s FROM clonesquad_instances i \
                   LEFT JOIN UNNEST(i.sizes) AS t(s) ON true";
        assert_eq!(
            db.rows(sql).await,
            ["i-1|1", "i-1|2", "i-2|NULL", "i-3|NULL", "i-4|3"]
        );
    }

    #[tokio::test]
    async fn chained_unnests() {
        let db = Db::new().await;
        let expected = [
            "i-1|eni-1|sg-1",
            "i-1|eni-1|sg-2",
            "i-1|eni-2|sg-3",
            "i-4|eni-4|sg-1",
        ];
        let whole = "SELECT i.id, ni.id AS eni, grp FROM clonesquad_instances AS i \
                     CROSS JOIN UNNEST(i.networkinterfaces) AS n(ni) \
                     CROSS JOIN UNNEST(ni.groups) AS g(grp)";
        assert_eq!(db.rows(whole).await, expected);
        let fields = "SELECT i.id, eni, g.grp FROM clonesquad_instances AS i \
                      CROSS JOIN UNNEST(i.networkinterfaces) AS n(eni, groups) \
                      CROSS JOIN UNNEST(groups) AS g(grp)";
        assert_eq!(db.rows(fields).await, expected);
    }

    #[tokio::test]
    async fn unnest_joined_with_other_tables() {
        let db = Db::new().await;
        let sql = "SELECT d.name, t.key, t.value FROM deployments d \
                   JOIN clonesquad_instances i ON d.account = i.account \
                   CROSS JOIN UNNEST(i.tags) AS t(key, value) WHERE t.key = 'env'";
        assert_eq!(db.rows(sql).await, ["alpha|env|dev", "alpha|env|prod"]);
        // The UNNEST before another relation, whose ON uses an unnested column.
        let sql = "SELECT i.id, m.code FROM clonesquad_instances i \
                   CROSS JOIN UNNEST(i.tags) AS t(k, v) \
                   JOIN (VALUES ('prod', 'P'), ('dev', 'D')) AS m(env, code) ON m.env = t.v";
        assert_eq!(db.rows(sql).await, ["i-1|P", "i-2|D"]);
    }

    #[tokio::test]
    async fn where_group_by_having_order_by_on_unnested_columns() {
        let db = Db::new().await;
        let sql = "SELECT key, count(*) AS n FROM clonesquad_instances i \
                   CROSS JOIN UNNEST(i.tags) AS t(key, value) \
                   WHERE t.value <> 'nope' GROUP BY key HAVING count(DISTINCT value) >= 1 \
                   ORDER BY n DESC, key";
        let (names, rows) = db.run(sql, vec![]).await;
        assert_eq!(names, ["key", "n"]);
        assert_eq!(rows, ["env|2", "team|1"]);
        // An unqualified ORDER BY name is the output column, as in Trino.
        let sql = "SELECT t.key AS value FROM clonesquad_instances i \
                   CROSS JOIN UNNEST(i.tags) AS t(key, value) ORDER BY value";
        assert_eq!(db.run(sql, vec![]).await.1, ["env", "env", "team"]);
    }

    #[tokio::test]
    async fn wildcards_hide_helper_columns() {
        let db = Db::new().await;
        let sql = "SELECT * FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes) AS t(s)";
        let (names, rows) = db.run(sql, vec![]).await;
        let all = [
            "id",
            "account",
            "tags",
            "sizes",
            "networkinterfaces",
            "placement",
            "s",
        ];
        assert_eq!(names, all);
        assert_eq!(rows.len(), 3);
        let sql =
            "SELECT i.*, t.* FROM clonesquad_instances i CROSS JOIN UNNEST(i.tags) AS t(k, v)";
        let (names, _) = db.run(sql, vec![]).await;
        assert_eq!(names[5..], ["placement", "k", "v"]);
        let msg = unsupported_msg(
            &db,
            "SELECT * FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes) AS t(s), deployments",
        );
        assert!(msg.contains("SELECT *"), "{msg}");
    }

    #[tokio::test]
    async fn nested_struct_paths_and_maps() {
        let db = Db::new().await;
        let sql = "SELECT clonesquad_instances.id, label FROM clonesquad_instances \
                   CROSS JOIN UNNEST(placement.labels) AS l(label)";
        assert_eq!(db.rows(sql).await, ["i-1|x", "i-1|y"]);
        let sql = "SELECT m.id, k, v FROM maps m CROSS JOIN UNNEST(m.attrs) AS t(k, v)";
        assert_eq!(db.rows(sql).await, ["m-1|k1|v1", "m-1|k2|v2"]);
    }

    #[tokio::test]
    async fn unnest_in_ctes_and_subqueries() {
        let db = Db::new().await;
        let sql = "WITH kv AS (SELECT i.id, t.key FROM clonesquad_instances i \
                   CROSS JOIN UNNEST(i.tags) AS t(key, value)) \
                   SELECT id FROM kv WHERE key = 'team'";
        assert_eq!(db.rows(sql).await, ["i-1"]);
        let sql = "SELECT id FROM clonesquad_instances WHERE id IN (SELECT i.id FROM \
                   clonesquad_instances i CROSS JOIN UNNEST(i.sizes) AS t(s) WHERE s > 2)";
        assert_eq!(db.rows(sql).await, ["i-4"]);
        let sql = "SELECT i.id, t.s FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes) AS t(s) \
                   WHERE EXISTS (SELECT 1 FROM deployments d WHERE d.account = i.account AND t.s > 1)";
        assert_eq!(db.rows(sql).await, ["i-1|2", "i-4|3"]);
    }

    #[tokio::test]
    async fn constant_unnests() {
        let db = Db::new().await;
        let sql = "SELECT d.name, x FROM deployments d CROSS JOIN UNNEST(ARRAY[1, 2]) AS t(x) \
                   WHERE d.account = 'acct-a'";
        assert_eq!(db.rows(sql).await, ["alpha|1", "alpha|2"]);
        assert_eq!(db.prepare(sql).unwrap().sql, sql);
        let sql = "SELECT n, s FROM UNNEST(ARRAY[named_struct('a', 1, 'b', 'x'), \
                   named_struct('a', 2, 'b', 'y')]) AS t(n, s)";
        assert_eq!(db.rows(sql).await, ["1|x", "2|y"]);
    }

    #[tokio::test]
    async fn placeholders_are_numbered_and_bound() {
        let db = Db::new().await;
        let sql = "SELECT account FROM deployments WHERE name = ? OR name = ?";
        let prepared = db.prepare(sql).unwrap();
        assert_eq!(prepared.placeholders, 2);
        assert_eq!(
            prepared.sql,
            "SELECT account FROM deployments WHERE name = $1 OR name = $2"
        );
        let params = vec![ScalarValue::from("it's"), ScalarValue::from("x' OR '1'='1")];
        assert_eq!(db.run(sql, params).await.1, ["acct-c"]);

        let sql = "SELECT i.id FROM clonesquad_instances i CROSS JOIN UNNEST(i.tags) AS t(key, value)\n\
                   WHERE t.value = ? AND i.account = ?";
        let params = vec![ScalarValue::from("prod"), ScalarValue::from("acct-a")];
        assert_eq!(db.run(sql, params).await.1, ["i-1"]);

        // Textual order wins even when the UNNEST argument moves into a derived table.
        let sql = "SELECT i.id, s FROM clonesquad_instances i \
                   CROSS JOIN UNNEST(array_slice(i.sizes, ?, 5)) AS t(s) WHERE s > ?";
        let params = vec![ScalarValue::from(2i64), ScalarValue::from(0i64)];
        assert_eq!(db.run(sql, params).await.1, ["i-1|2"]);

        let prepared = db
            .prepare("SELECT '?' AS q /* ? */ -- ?\nFROM t WHERE a = ?")
            .unwrap();
        assert_eq!(prepared.placeholders, 1);
        assert_eq!(
            prepared.sql,
            "SELECT '?' AS q /* ? */ -- ?\nFROM t WHERE a = $1"
        );
        assert_eq!(db.prepare("SELECT ?x").unwrap().sql, "SELECT $1 x");
        assert!(db.prepare("SELECT ?, $1").is_err());
    }

    #[test]
    fn text_is_unchanged_without_rewrites() {
        let sql = "select  ID,\n\t'é' from \"Deployments\" d  -- comment\n where d.x IN (1,2) ;";
        let prepared = prepare(sql, &|_, _| None).unwrap();
        assert_eq!(prepared.sql, sql);
        assert_eq!(prepared.placeholders, 0);
        assert_eq!(prepared.tables, BTreeSet::from(["deployments".to_owned()]));
    }

    #[test]
    fn exactly_one_statement() {
        let none = |_: &str, _: &[String]| None;
        assert!(matches!(
            prepare("SELECT 1; SELECT 2", &none),
            Err(RewriteError::StatementCount(2))
        ));
        assert!(matches!(
            prepare("  ", &none),
            Err(RewriteError::StatementCount(0))
        ));
        assert!(prepare("SELECT 1;", &none).is_ok());
    }

    #[test]
    fn parse_errors_carry_original_positions() {
        let none = |_: &str, _: &[String]| None;
        let err = prepare("SELECT ?, a\nFROM t WHERE ?? = 1", &none).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, RewriteError::Parse(_)));
        assert!(msg.contains("Line: 2, Column: 15"), "{msg}");
        let msg = prepare("SELECT 'open\nFROM t", &none)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("Line: 1, Column: 8"), "{msg}");
    }

    #[test]
    fn tables_of_joins_subqueries_and_ctes() {
        let sql = "WITH recent AS (SELECT * FROM Clonesquad_Instances), \
                   other AS (SELECT * FROM recent) \
                   SELECT * FROM recent r JOIN deployments d ON r.account = d.account \
                   LEFT JOIN (SELECT * FROM audit.Events) e ON e.id = r.id \
                   WHERE EXISTS (SELECT 1 FROM other o, generate_series(1, 3) g \
                   CROSS JOIN UNNEST(o.tags) AS t(tag) WHERE t.tag IS NOT NULL)";
        let prepared = prepare(sql, &|_, _| None).unwrap();
        let expected = ["audit.events", "clonesquad_instances", "deployments"];
        assert_eq!(prepared.tables, expected.map(str::to_owned).into());
    }

    #[tokio::test]
    async fn unsupported_forms_are_refused() {
        let db = Db::new().await;
        for (sql, needle) in [
            (
                "SELECT * FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes) WITH ORDINALITY AS t(s, n)",
                "ORDINALITY",
            ),
            (
                "SELECT 1 FROM clonesquad_instances i LEFT JOIN UNNEST(i.sizes) AS t(s) ON t.s > 1",
                "LEFT JOIN ... ON true",
            ),
            (
                "SELECT 1 FROM clonesquad_instances i, clonesquad_instances j CROSS JOIN UNNEST(array_concat(i.sizes, j.sizes)) AS t(s)",
                "mixing relations i, j",
            ),
            (
                "SELECT 1 FROM deployments d LEFT JOIN clonesquad_instances i ON d.account = i.account CROSS JOIN UNNEST(i.tags) AS t(k, v)",
                "outer join",
            ),
            (
                "SELECT (SELECT count(*) FROM UNNEST(i.sizes) AS t(s)) FROM clonesquad_instances i",
                "correlated",
            ),
            (
                "WITH c AS (SELECT * FROM clonesquad_instances) SELECT 1 FROM c CROSS JOIN UNNEST(c.tags) AS t(k, v)",
                "alias lists 2",
            ),
            (
                "SELECT 1 FROM clonesquad_instances i CROSS JOIN UNNEST(i.id) AS t(s)",
                "not an array",
            ),
            (
                "SELECT 1 FROM clonesquad_instances i CROSS JOIN UNNEST(i.sizes)",
                "column alias list",
            ),
            (
                "SELECT 1 FROM (clonesquad_instances i CROSS JOIN UNNEST(i.sizes) AS t(s))",
                "parenthesized",
            ),
        ] {
            let msg = unsupported_msg(&db, sql);
            assert!(msg.contains(needle), "{sql}: {msg}");
        }
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let sql = "WITH x AS (SELECT i.id, ni.id AS e, 'é?' FROM t AS i CROSS JOIN UNNEST(i.n) AS n(ni) \
                   LEFT JOIN UNNEST(ni.groups) g(grp) ON true, UNNEST(ARRAY[ROW(1, 'a')]) AS r(a, b) \
                   WHERE i.x = ? /* ? */) SELECT *, x.* FROM x ORDER BY 1 LIMIT ?;";
        for (end, _) in sql.char_indices() {
            let _ = prepare(&sql[..end], &|_, _| None);
        }
        for junk in [
            "?",
            "?1",
            "$",
            "SELECT ?abc",
            ";;",
            "SELECT * FROM UNNEST()",
            "(((((",
        ] {
            let _ = prepare(junk, &|_, _| None);
        }
    }
}
