//! Source files, positions and the line index used to turn byte offsets into line/column.

use std::path::PathBuf;

/// Index of a loaded file in [`Program::files`](crate::Program::files) (and in the loader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

impl FileId {
    /// The id as a `usize` index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A region of a source file: byte offsets plus the 1-based line and column (in characters)
/// of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// File the region is in.
    pub file: FileId,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: u32,
    /// 1-based column of `start`, counted in characters.
    pub col: u32,
}

/// Byte offsets of line starts, for offset → (line, column) lookups in O(log n).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and character column of byte `offset` (clamped to the text).
    pub(crate) fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = text.get(start..offset).map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }

    /// Text of 1-based `line`, without its line terminator.
    pub(crate) fn line_text<'t>(&self, text: &'t str, line: u32) -> &'t str {
        let idx = (line as usize).saturating_sub(1);
        let Some(&start) = self.starts.get(idx) else {
            return "";
        };
        let end = self.starts.get(idx + 1).copied().unwrap_or(text.len());
        let s = text.get(start..end).unwrap_or("");
        s.trim_end_matches(['\n', '\r'])
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A file's text with its display path, as held by the loader.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    pub(crate) lines: LineIndex,
}

impl Source {
    pub(crate) fn new(path: PathBuf, text: String) -> Source {
        let lines = LineIndex::new(&text);
        Source { path, text, lines }
    }

    /// A span for the byte range `start..end` of this file.
    pub(crate) fn span(&self, file: FileId, start: usize, end: usize) -> Span {
        let (line, col) = self.lines.line_col(&self.text, start);
        Span {
            file,
            start,
            end,
            line,
            col,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\r\ncé d\nx";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_col(text, 0), (1, 1));
        assert_eq!(idx.line_col(text, 4), (2, 1));
        // 'é' is two bytes: "d" is at byte 8, character column 4.
        assert_eq!(idx.line_col(text, 8), (2, 4));
        assert_eq!(idx.line_col(text, 10), (3, 1));
        assert_eq!(idx.line_col(text, 999), (3, 2));
        assert_eq!(idx.line_text(text, 1), "ab");
        assert_eq!(idx.line_text(text, 2), "cé d");
        assert_eq!(idx.line_text(text, 3), "x");
        assert_eq!(idx.line_text(text, 9), "");
    }
}
