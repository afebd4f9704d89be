//! Writing to the terminal: plain tables for people, one JSON document for `--json`, and the
//! durations both read and write.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

/// Writes `text` and a newline to stdout, for people: control characters (ESC, BEL, a
/// carriage return, …, which ids, method names and payloads from the wire may carry) are
/// shown escaped, so nothing a caller sent can move the cursor, change colours or retitle the
/// operator's terminal. A closed pipe (`clamator tail | head`) ends the process quietly
/// instead of panicking as `println!` would.
pub(crate) fn line(text: &str) {
    raw_line(&visible(text));
}

/// `text` with every control character but the newline and the tab escaped (`\u{1b}`).
pub(crate) fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Clears a terminal for the next screen of a watch (`stat --watch`): the one escape
/// sequence the CLI itself writes.
pub(crate) fn clear_screen() {
    raw_line("\x1b[2J\x1b[H");
}

/// Writes `text` as it is (JSON, whose serializer already escapes control characters).
fn raw_line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Writes `text` and a newline to stderr, control characters escaped as by [`line()`].
pub(crate) fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", visible(text));
}

/// A JSON value as a table cell: a string as it is, `-` for null, anything else as JSON.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints `value` as one compact JSON document on one line.
pub(crate) fn json(value: &Value) {
    raw_line(&value.to_string());
}

/// Prints `value` indented, for people (escaped as by [`line()`]: JSON leaves DEL and the C1
/// controls as they are, and some terminals act on those).
pub(crate) fn pretty(value: &Value) {
    line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// A table of left-aligned columns separated by two spaces.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row; control characters in a cell are escaped (see [`line()`]) before the
    /// columns are measured.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| visible(&c).into_owned())
                .collect(),
        );
    }

    /// Whether only the header is there.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    /// The table as text, one line per row, without trailing spaces.
    pub(crate) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut text = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let pad = widths.get(i).copied().unwrap_or(0);
                text.extend(std::iter::repeat_n(
                    ' ',
                    pad.saturating_sub(cell.chars().count()),
                ));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out.pop();
        out
    }

    /// Prints the table.
    pub(crate) fn print(&self) {
        line(&self.render());
    }
}

/// Milliseconds for people: `850ms`, `12.3s`, `4m05s`, `2h10m`, `3d04h`.
pub(crate) fn millis(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        3_600_000..=86_399_999 => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
        _ => format!("{}d{:02}h", ms / 86_400_000, ms / 3_600_000 % 24),
    }
}

/// `text` cut to `max` characters, with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A duration as `5s`, `500ms`, `1.5s`, `2m`, `1h`, or a bare number of milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a duration (500ms, 5s, 1.5s, 2m, 1h, or milliseconds)");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(bad()),
    };
    let ms = n * scale;
    if !ms.is_finite() || !(0.0..=1e15).contains(&ms) {
        return Err(bad());
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

/// Milliseconds since the Unix epoch by this machine's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A time in milliseconds since the Unix epoch as RFC 3339 in UTC, to the second:
/// `2026-12-07T17:43:03Z`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar, in eras of
    // 400 years, each 146,097 days long, counted from 0000-03-01).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The milliseconds part of a stream entry id (`1700000000000-0`).
pub(crate) fn id_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_utc() {
        use super::utc;
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_665_383_999), "2026-12-07T17:43:03Z");
        assert_eq!(utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(utc(4_107_542_400_000), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn control_characters_from_the_wire_are_shown_escaped() {
        assert_eq!(visible("inv.reserve"), "inv.reserve");
        assert_eq!(visible("a\x1b[31mb\x07"), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(visible("csi\u{9b}2J del\u{7f}"), "csi\\u{9b}2J del\\u{7f}");
        assert_eq!(visible("two\nlines\tand a tab"), "two\nlines\tand a tab");
        let mut t = Table::new(&["ID"]);
        t.row(vec!["\x1b]0;pwned\x07".to_owned()]);
        assert!(!t.render().contains('\x1b'), "{}", t.render());
    }

    use super::*;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "-1s", "5 parsecs", "1e400", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_written_for_people() {
        assert_eq!(millis(850), "850ms");
        assert_eq!(millis(12_345), "12.3s");
        assert_eq!(millis(245_000), "4m05s");
        assert_eq!(millis(7_800_000), "2h10m");
        assert_eq!(millis(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
    }

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["xyz".into(), "1".into()]);
        assert_eq!(t.render(), "A    LONGER\nxyz  1");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(id_ms("1700000000000-3"), Some(1_700_000_000_000));
    }
}
