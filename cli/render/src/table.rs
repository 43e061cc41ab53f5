//! Column layout for text tables: pads cells by their visible width, then paints
//! them, so colour codes never push columns out of line.
//!
//! Knows nothing about health data; callers build the cells.

use super::style::{Paint, Style};

/// One table cell: its visible text and how to paint it.
pub(crate) struct Cell {
    pub text: String,
    pub paint: Paint,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            paint: Paint::Plain,
        }
    }

    pub fn painted(text: impl Into<String>, paint: Paint) -> Self {
        Self {
            text: text.into(),
            paint,
        }
    }
}

/// Visible width in characters (box-drawing and `µ` are one column each).
pub(crate) fn width(text: &str) -> usize {
    text.chars().count()
}

/// Pads `text` with spaces to `cols` visible columns.
pub(crate) fn pad(text: &str, cols: usize) -> String {
    let mut out = text.to_owned();
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(width(text))));
    out
}

/// Renders rows under dimmed headers, each line prefixed with `indent`. The last
/// column is not padded, so lines carry no trailing spaces.
pub(crate) fn table(indent: &str, headers: &[&str], rows: &[Vec<Cell>], style: &Style) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(&cell.text));
            }
        }
    }
    let last = headers.len().saturating_sub(1);
    let mut out = String::new();
    let header_line: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let text = if i == last {
                (*h).to_owned()
            } else {
                pad(h, widths[i])
            };
            style.paint(Paint::Dim, &text)
        })
        .collect();
    out.push_str(indent);
    out.push_str(header_line.join("  ").trim_end());
    out.push('\n');
    out.push_str(&body(indent, &widths, rows, style));
    out
}

/// Renders rows without headers, columns aligned across the rows: for lists
/// such as a fault's evidence, where headers would be noise.
pub(crate) fn aligned(indent: &str, rows: &[Vec<Cell>], style: &Style) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width(&cell.text)),
                None => widths.push(width(&cell.text)),
            }
        }
    }
    body(indent, &widths, rows, style)
}

/// The rows of a table, padded to `widths`; the last column is not padded.
fn body(indent: &str, widths: &[usize], rows: &[Vec<Cell>], style: &Style) -> String {
    let last = widths.len().saturating_sub(1);
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .take(widths.len())
            .enumerate()
            .map(|(i, cell)| {
                let text = if i == last {
                    cell.text.clone()
                } else {
                    pad(&cell.text, widths[i])
                };
                // Paint only the visible text, then re-add the padding outside
                // the escape codes.
                let visible = text.trim_end();
                let trailing = &text[visible.len()..];
                format!("{}{trailing}", style.paint(cell.paint, visible))
            })
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_colour_on() {
        use vigil_proto::v1::HealthState;
        let rows = vec![
            vec![
                Cell::plain("a"),
                Cell::painted("healthy", Paint::State(HealthState::Healthy)),
                Cell::plain("x"),
            ],
            vec![
                Cell::plain("longer"),
                Cell::painted("unknown", Paint::State(HealthState::Unknown)),
                Cell::plain("y"),
            ],
        ];
        let plain = table("", &["ID", "STATE", "N"], &rows, &Style::plain());
        assert_eq!(
            plain,
            "ID      STATE    N\na       healthy  x\nlonger  unknown  y\n"
        );
        let coloured = table("", &["ID", "STATE", "N"], &rows, &Style::coloured());
        let stripped = crate::strip_ansi(&coloured);
        assert_eq!(stripped, plain);
    }

    #[test]
    fn aligned_rows_have_no_header_and_no_trailing_spaces() {
        let rows = vec![
            vec![Cell::plain("✗"), Cell::plain("spoke-a"), Cell::plain("x")],
            vec![Cell::plain("✗"), Cell::plain("hub"), Cell::plain("")],
        ];
        assert_eq!(
            aligned("  ", &rows, &Style::plain()),
            "  ✗  spoke-a  x\n  ✗  hub\n"
        );
        assert_eq!(aligned("", &[], &Style::plain()), "");
    }
}
