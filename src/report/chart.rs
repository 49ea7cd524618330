//! Charts as inline SVG, drawn by us: no script, no font or image to fetch. Colours come from
//! CSS classes of the page (so light and dark themes and print apply); every chart carries a
//! `<title>` and `<desc>` for screen readers, and the page prints its numbers in a table beside it.

use std::fmt::Write as _;

pub use crate::text::xml;

/// One bar: its label, its value, and a CSS class (`bar`, `bar warn`, `bar bad`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub class: &'static str,
}

fn open(svg: &mut String, id: &str, width: u32, height: u32, title: &str, desc: &str) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        xml(title),
        xml(desc)
    );
}

/// A whole number or one decimal, for labels.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Horizontal bars, one per line (long labels stay readable).
pub fn horizontal_bars(id: &str, title: &str, bars: &[Bar]) -> String {
    let row = 26;
    let label_width = 210;
    let width = 640;
    let height = (bars.len() as u32).max(1) * row + 10;
    let (max, desc) = scale_and_text(bars);
    let mut svg = String::new();
    open(&mut svg, id, width, height, title, &desc);
    for (i, bar) in bars.iter().enumerate() {
        let y = 5 + i as u32 * row;
        let w = ((width - label_width - 60) as f64 * bar.value / max).round();
        let _ = write!(
            svg,
            r#"<text class="label" x="{}" y="{}" text-anchor="end">{}</text><rect class="{}" x="{label_width}" y="{}" width="{w}" height="{}" rx="2"/><text class="value" x="{}" y="{}">{}</text>"#,
            label_width - 8,
            y + 17,
            xml(&truncate(&bar.label, 30)),
            bar.class,
            y + 4,
            row - 8,
            label_width as f64 + w + 6.0,
            y + 17,
            number(bar.value)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical bars in order (a histogram of age bands).
pub fn histogram(id: &str, title: &str, bars: &[Bar]) -> String {
    let width = 640;
    let height = 240;
    let (top, bottom, left) = (20, 50, 10);
    let slot = (width - left * 2) as f64 / bars.len().max(1) as f64;
    let (max, desc) = scale_and_text(bars);
    let mut svg = String::new();
    open(&mut svg, id, width, height, title, &desc);
    let plot = (height - top - bottom) as f64;
    for (i, bar) in bars.iter().enumerate() {
        let h = (plot * bar.value / max).round();
        let x = left as f64 + slot * i as f64;
        let y = top as f64 + plot - h;
        let _ = write!(
            svg,
            r#"<rect class="{}" x="{:.1}" y="{y}" width="{:.1}" height="{h}" rx="2"/><text class="value" x="{:.1}" y="{}" text-anchor="middle">{}</text><text class="label" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            bar.class,
            x + slot * 0.15,
            slot * 0.7,
            x + slot / 2.0,
            y - 4.0,
            number(bar.value),
            x + slot / 2.0,
            height - bottom + 18,
            xml(&bar.label)
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{left}" y1="{}" x2="{}" y2="{}"/></svg>"#,
        height - bottom,
        width - left,
        height - bottom
    );
    svg
}

/// One cell of a heat map: its row and column labels, its value and the share that is good.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub row: String,
    pub column: String,
    pub value: f64,
    /// 0.0 to 1.0: the part of `value` that is healthy (fresh exports); shades the cell.
    pub good: f64,
}

/// Rows × columns, each cell shaded by its healthy share and labelled with its value.
pub fn heat_map(
    id: &str,
    title: &str,
    rows: &[String],
    columns: &[String],
    cells: &[Cell],
) -> String {
    let (label_width, head, cell_w, cell_h) = (230, 60, 90, 28);
    let width = label_width + cell_w * columns.len().max(1) as u32 + 10;
    let height = head + cell_h * rows.len().max(1) as u32 + 10;
    let desc = cells
        .iter()
        .map(|c| {
            format!(
                "{} in {}: {} ({}% fresh)",
                c.row,
                c.column,
                number(c.value),
                (c.good * 100.0).round()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut svg = String::new();
    open(&mut svg, id, width, height, title, &desc);
    for (j, column) in columns.iter().enumerate() {
        let x = label_width + cell_w * j as u32 + cell_w / 2;
        let _ = write!(
            svg,
            r#"<text class="label" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            head - 12,
            xml(&truncate(column, 14))
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = head + cell_h * i as u32;
        let _ = write!(
            svg,
            r#"<text class="label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_width - 8,
            y + cell_h / 2 + 5,
            xml(&truncate(row, 32))
        );
        for (j, column) in columns.iter().enumerate() {
            let x = label_width + cell_w * j as u32;
            match cells.iter().find(|c| &c.row == row && &c.column == column) {
                Some(cell) => {
                    // Five shades from bad to good, so the map reads at a glance.
                    let level = (cell.good.clamp(0.0, 1.0) * 4.0).round() as u32;
                    let _ = write!(
                        svg,
                        r#"<rect class="heat h{level}" x="{}" y="{}" width="{}" height="{}" rx="3"/><text class="cell" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                        x + 2,
                        y + 2,
                        cell_w - 4,
                        cell_h - 4,
                        x + cell_w / 2,
                        y + cell_h / 2 + 5,
                        number(cell.value)
                    );
                }
                None => {
                    let _ = write!(
                        svg,
                        r#"<rect class="heat empty" x="{}" y="{}" width="{}" height="{}" rx="3"/>"#,
                        x + 2,
                        y + 2,
                        cell_w - 4,
                        cell_h - 4
                    );
                }
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A series of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub class: &'static str,
    /// One per x label; `None` is a gap in the line.
    pub points: Vec<Option<f64>>,
}

/// Lines over shared x labels (dates), oldest first.
pub fn lines(id: &str, title: &str, x_labels: &[String], series: &[Series]) -> String {
    let (width, height) = (640, 220);
    let (top, bottom, left, right) = (20, 40, 40, 20);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = x_labels.len().max(1);
    let x = |i: usize| {
        left as f64
            + if n == 1 {
                0.0
            } else {
                (width - left - right) as f64 * i as f64 / (n - 1) as f64
            }
    };
    let y = |v: f64| top as f64 + (height - top - bottom) as f64 * (1.0 - v / max);
    let desc = series
        .iter()
        .map(|s| {
            format!(
                "{}: {}",
                s.name,
                s.points
                    .iter()
                    .map(|p| p.map_or_else(|| "no value".to_string(), number))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut svg = String::new();
    open(&mut svg, id, width, height, title, &desc);
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{left}" y1="{}" x2="{}" y2="{}"/><text class="label" x="{}" y="{}" text-anchor="end">{}</text>"#,
        height - bottom,
        width - right,
        height - bottom,
        left - 6,
        top + 5,
        number(max)
    );
    for (k, s) in series.iter().enumerate() {
        // Runs of consecutive values are lines; a lone value is a dot.
        let mut runs: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
        for (i, v) in s.points.iter().enumerate() {
            match (v, runs.last_mut()) {
                (Some(v), Some(run)) => run.push((i, *v)),
                _ => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|r| !r.is_empty()) {
            if let [(i, v)] = run.as_slice() {
                let _ = write!(
                    svg,
                    r#"<circle class="{}" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                    s.class,
                    x(*i),
                    y(*v)
                );
            } else {
                let points: Vec<String> = run
                    .iter()
                    .map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v)))
                    .collect();
                let _ = write!(
                    svg,
                    r#"<polyline class="{}" fill="none" points="{}"/>"#,
                    s.class,
                    points.join(" ")
                );
            }
        }
        let _ = write!(
            svg,
            r#"<text class="legend {}" x="{}" y="{}">{}</text>"#,
            s.class,
            left + 10 + k as u32 * 170,
            height - 8,
            xml(&s.name)
        );
    }
    if let (Some(first), Some(last)) = (x_labels.first(), x_labels.last()) {
        let _ = write!(
            svg,
            r#"<text class="label" x="{left}" y="{}">{}</text><text class="label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            height - bottom + 16,
            xml(first),
            width - right,
            height - bottom + 16,
            xml(last)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The largest value of `bars` (at least 1, the scale's top) and the chart's text alternative.
fn scale_and_text(bars: &[Bar]) -> (f64, String) {
    let max = bars
        .iter()
        .map(|b| b.value)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let desc = bars
        .iter()
        .map(|b| format!("{}: {}", b.label, number(b.value)))
        .collect::<Vec<_>>()
        .join("; ");
    (max, desc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_charts_say_what_they_show() {
        let svg = horizontal_bars(
            "v",
            "Versions",
            &[
                Bar {
                    label: "v0.27.1".into(),
                    value: 3.0,
                    class: "bar",
                },
                Bar {
                    label: "unknown (\"<script>\")".into(),
                    value: 1.0,
                    class: "bar warn",
                },
            ],
        );
        assert!(svg.contains("<title id=\"v-t\">Versions</title>"));
        assert!(svg.contains("v0.27.1: 3; unknown (&quot;&lt;script&gt;&quot;): 1"));
        assert!(!svg.contains("<script>"));
        let map = heat_map(
            "m",
            "Coverage",
            &["Root/Prod".into()],
            &["eu-west-1".into(), "us-east-1".into()],
            &[Cell {
                row: "Root/Prod".into(),
                column: "eu-west-1".into(),
                value: 4.0,
                good: 0.5,
            }],
        );
        assert!(map.contains("class=\"heat h2\""));
        assert!(map.contains("class=\"heat empty\""));
        let history = lines(
            "h",
            "Trend",
            &["2026-11-25".into(), "2026-11-26".into()],
            &[Series {
                name: "deployments".into(),
                class: "s1",
                points: vec![Some(3.0), Some(4.0)],
            }],
        );
        assert!(history.contains("<polyline class=\"s1\""));
    }
}
