//! Documentation comments: the `/** ... */` or `//` lines right above a declaration, and a
//! comment on the same line after it (`1 optional int port; // listening port`).
//!
//! Comments are skipped by the grammar, so they are recovered from the source text around a
//! declaration's span. Best effort: never fails, never panics.

/// The documentation of the declaration at `start..end`: leading comment, then trailing
/// comment, joined by a newline. `None` when neither exists.
pub(crate) fn doc_for(text: &str, start: usize, end: usize) -> Option<String> {
    let parts: Vec<String> = [leading(text, start), trailing(text, end)]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("\n"))
    }
}

/// Start of the line containing `offset`.
fn line_start(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// The comment block or run of `//` lines immediately above `start` (at most one line break
/// between them; the comment must begin its line).
fn leading(text: &str, start: usize) -> Option<String> {
    let this_line = line_start(text, start);
    if !text.get(this_line..start)?.trim().is_empty() {
        return None;
    }
    let before = text.get(..this_line)?;
    let trimmed = before.trim_end();
    // A blank line between comment and declaration detaches the comment.
    if before[trimmed.len()..].matches('\n').count() > 1 {
        return None;
    }
    if trimmed.ends_with("*/") {
        let open = trimmed.rfind("/*")?;
        let open_line = line_start(trimmed, open);
        if !trimmed.get(open_line..open)?.trim().is_empty() {
            return None;
        }
        let body = trimmed.get(open + 2..trimmed.len() - 2)?;
        return clean_block(body);
    }
    let mut lines = Vec::new();
    let mut rest = trimmed;
    loop {
        let ls = line_start(rest, rest.len());
        let line = rest.get(ls..)?.trim();
        match line.strip_prefix("//") {
            Some(c) => lines.push(c.trim_start_matches('/').trim().to_owned()),
            None => break,
        }
        if ls == 0 {
            break;
        }
        rest = rest.get(..ls - 1)?;
    }
    lines.reverse();
    join_nonempty(lines)
}

/// A `//` or single-line `/* */` comment after `end` on the same line, skipping one `;` or `,`.
fn trailing(text: &str, end: usize) -> Option<String> {
    let rest = text.get(end..)?;
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let mut line = line.trim_start_matches([' ', '\t']);
    if let Some(r) = line.strip_prefix([';', ',']) {
        line = r.trim_start_matches([' ', '\t']);
    }
    if let Some(c) = line.strip_prefix("//") {
        return join_nonempty(vec![c.trim_start_matches('/').trim().to_owned()]);
    }
    if let Some(c) = line.strip_prefix("/*") {
        let body = &c[..c.find("*/")?];
        return clean_block(body);
    }
    None
}

/// The lines of a block comment body with the leading `*` decoration removed.
fn clean_block(body: &str) -> Option<String> {
    let body = body.strip_prefix('*').unwrap_or(body);
    let lines = body
        .lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix('*').unwrap_or(l).trim().to_owned()
        })
        .collect();
    join_nonempty(lines)
}

/// Joins lines, dropping empty lines at both ends; `None` if nothing is left.
fn join_nonempty(lines: Vec<String>) -> Option<String> {
    let first = lines.iter().position(|l| !l.is_empty())?;
    let last = lines.iter().rposition(|l| !l.is_empty())?;
    Some(lines[first..=last].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_of(text: &str, item: &str) -> Option<String> {
        let start = text.find(item).unwrap();
        doc_for(text, start, start + item.len())
    }

    #[test]
    fn block_comment_above() {
        let t = "x;\n    /**\n     * The port.\n     * In host order.\n     */\n    1 require int port;\n";
        assert_eq!(
            doc_of(t, "1 require int port;").as_deref(),
            Some("The port.\nIn host order.")
        );
    }

    #[test]
    fn line_comments_above_and_trailing() {
        let t = "a;\n// first\n/// second\n1 optional int x; // after\n";
        assert_eq!(
            doc_of(t, "1 optional int x;").as_deref(),
            Some("first\nsecond\nafter")
        );
    }

    #[test]
    fn trailing_comment_of_previous_line_is_not_leading() {
        let t = "0 optional int a; /* of a */\n1 optional int b;\n";
        assert_eq!(doc_of(t, "1 optional int b;"), None);
        assert_eq!(doc_of(t, "0 optional int a;").as_deref(), Some("of a"));
    }

    #[test]
    fn blank_line_detaches() {
        let t = "// header\n\nstruct S";
        assert_eq!(doc_of(t, "struct S"), None);
    }

    #[test]
    fn enumerator_after_comma() {
        let t = "A = 1, // first\nB";
        assert_eq!(doc_of(t, "A = 1").as_deref(), Some("first"));
    }

    #[test]
    fn odd_input_does_not_panic() {
        for t in ["", "*/", "/*", "//", "é*/x", "\n\n*/\nx"] {
            for i in 0..=t.len() {
                let _ = doc_for(t, i, t.len());
                let _ = doc_for(t, i, i);
            }
        }
    }
}
