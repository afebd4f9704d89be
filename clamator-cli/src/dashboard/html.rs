//! HTML and SVG, written by hand: every text that came from Redis (names, ids, params,
//! errors) goes through [`esc`], the one way text enters a page. No inline script or style
//! anywhere (the Content-Security-Policy forbids both): behaviour is `assets/app.js`,
//! looks are `assets/style.css`, and charts are SVG drawn here with presentation attributes.

use std::fmt::Write as _;

use serde_json::Value;

use crate::output;

/// `text` safe in HTML text and in quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Server-sent events cannot carry a carriage return.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment, percent-encoded (names are checked before they get here; ids and
/// anything else still cannot break out of the URL).
pub(crate) fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole page: `title`, the navigation, `body` (already HTML).
pub(crate) fn page(title: &str, prefix: &str, writes: bool, body: &str) -> String {
    let mode = if prefix.is_empty() {
        ""
    } else if writes {
        "<span class=\"mode writes\">writes allowed</span>"
    } else {
        "<span class=\"mode\">read-only</span>"
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · clamator</title>\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\
         <script src=\"/assets/app.js\" defer></script></head>\
         <body><header><a class=\"home\" href=\"/\">clamator</a> {prefix} {mode}</header>\
         <main>{body}</main></body></html>\n",
        title = esc(title),
        prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!(
                "<span class=\"prefix\">prefix <code>{}</code></span>",
                esc(prefix)
            )
        },
    )
}

/// A number or `-`.
pub(crate) fn num(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// Milliseconds as `1.2s`, `3m10s`, or `-`.
pub(crate) fn age(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), output::millis)
}

/// `values` in at most `n` buckets, each the largest of its run (a gap when the whole run
/// is one), so a chart never draws more points than it has room for and a spike survives.
fn downsample(values: &[Option<f64>], n: usize) -> Vec<Option<f64>> {
    if values.len() <= n || n == 0 {
        return values.to_vec();
    }
    (0..n)
        .map(|i| {
            let (from, to) = (i * values.len() / n, (i + 1) * values.len() / n);
            values[from..to.max(from + 1)]
                .iter()
                .flatten()
                .copied()
                .reduce(f64::max)
        })
        .collect()
}

/// A small line chart of `values` (oldest first; `None` is a gap), `w`×`h` pixels, with the
/// largest value as its label. The newest value is the last point, on the right edge; a
/// long history is drawn as at most one point per two pixels.
pub(crate) fn sparkline(values: &[Option<f64>], w: u32, h: u32, label: &str) -> String {
    let sampled = downsample(values, (w / 2) as usize);
    let values = sampled.as_slice();
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let n = values.len().max(2) - 1;
    let (wf, hf) = (f64::from(w), f64::from(h));
    let mut paths = String::new();
    let mut run = String::new();
    for (i, v) in values.iter().enumerate() {
        match v.filter(|v| v.is_finite()) {
            Some(v) => {
                let x = i as f64 * wf / n as f64;
                let y = if max > 0.0 {
                    hf - 1.0 - (v / max) * (hf - 2.0)
                } else {
                    hf - 1.0
                };
                let _ = write!(run, "{x:.1},{y:.1} ");
            }
            None => flush(&mut paths, &mut run),
        }
    }
    flush(&mut paths, &mut run);
    format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-label=\"{label}\" data-points=\"{count}\">\
         <title>{label}: max {max}</title>{paths}</svg>",
        label = esc(label),
        count = values.iter().flatten().count(),
        max = num(Some(max)),
    )
}

fn flush(paths: &mut String, run: &mut String) {
    if !run.is_empty() {
        let _ = write!(
            paths,
            "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"{}\"/>",
            run.trim_end()
        );
        run.clear();
    }
}

/// The most of a JSON document a page shows.
pub(crate) const MAX_SHOWN_BYTES: usize = 256 << 10;

/// `value` pretty-printed in a `<pre>`, cut at [`MAX_SHOWN_BYTES`] with a note of its size.
pub(crate) fn json_block(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    text_block(&text)
}

/// `text` in a `<pre>`, cut at [`MAX_SHOWN_BYTES`] with a note of its size.
pub(crate) fn text_block(text: &str) -> String {
    if text.len() <= MAX_SHOWN_BYTES {
        return format!("<pre>{}</pre>", esc(text));
    }
    let mut cut = MAX_SHOWN_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "<pre>{}</pre><p class=\"note\">… {} bytes in all; the first {} KiB are shown.</p>",
        esc(&text[..cut]),
        text.len(),
        MAX_SHOWN_BYTES >> 10
    )
}

/// A table: header cells (plain text) and rows of cells (already HTML).
pub(crate) fn table(class: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table class=\"{}\"><thead><tr>", esc(class));
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A POST form with the CSRF token, hidden `fields`, and one button.
pub(crate) fn form(
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    extra: &str,
    button: &str,
) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"{}\" class=\"action\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(action),
        esc(csrf)
    );
    for (k, v) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        );
    }
    let _ = write!(
        out,
        "{extra}<button type=\"submit\">{}</button></form>",
        esc(button)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_from_redis_cannot_become_markup() {
        let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'";
        let e = esc(hostile);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert_eq!(esc("a&b\r"), "a&amp;b&#13;");
        assert_eq!(seg("1-0/../x y"), "1-0%2F..%2Fx%20y");
        let page = page(hostile, hostile, false, "");
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        let block = json_block(&json!({"m": hostile}));
        assert!(!block.contains("<img"));
    }

    #[test]
    fn sparklines_scale_to_the_largest_value_and_break_at_gaps() {
        let svg = sparkline(&[Some(0.0), Some(5.0), None, Some(10.0)], 30, 12, "in/s");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("data-points=\"3\""));
        assert!(svg.contains("max 10"));
        // The largest value touches the top, zero the bottom.
        assert!(svg.contains("30.0,1.0"), "{svg}");
        assert!(svg.contains("0.0,11.0"), "{svg}");
        let empty = sparkline(&[], 30, 12, "x");
        assert!(!empty.contains("<polyline"));
        // A long history: at most one point per two pixels, and the spike is kept.
        let mut long = vec![Some(1.0); 1000];
        long[500] = Some(50.0);
        let svg = sparkline(&long, 120, 24, "x");
        assert!(svg.contains("data-points=\"60\""), "{svg}");
        assert!(svg.contains("max 50"), "{svg}");
        assert_eq!(
            downsample(&[Some(1.0), None, None, None], 2),
            [Some(1.0), None]
        );
    }

    #[test]
    fn big_documents_are_cut() {
        let big = "é".repeat(MAX_SHOWN_BYTES);
        let shown = text_block(&big);
        assert!(shown.len() < big.len());
        assert!(shown.contains("bytes in all"));
    }
}
