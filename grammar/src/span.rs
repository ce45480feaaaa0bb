//! Source positions: `FileId`, byte `Span`s and the `SourceMap` that turns them into
//! `file:line:col` only when a diagnostic is rendered.

use std::sync::Arc;

/// Index of a source file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one file. Line and column are computed on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: clamp(start),
            end: clamp(end),
        }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One source file: its display path, text and line starts.
#[derive(Debug)]
pub struct SourceFile {
    pub path: String,
    pub text: Arc<str>,
    line_starts: Vec<u32>,
    /// Every character is one byte: columns are byte distances.
    ascii: bool,
}

impl SourceFile {
    pub fn new(path: String, text: Arc<str>) -> SourceFile {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(clamp(i + 1));
            }
        }
        SourceFile {
            path,
            ascii: text.is_ascii(),
            text,
            line_starts,
        }
    }

    /// The byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset(&self, line: u32, col: u32) -> u32 {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1) as usize) else {
            return clamp(self.text.len());
        };
        let rest = &self.text[start as usize..];
        let within: usize = rest
            .chars()
            .take(col.saturating_sub(1) as usize)
            .take_while(|c| *c != '\n')
            .map(char::len_utf8)
            .sum();
        start + clamp(within)
    }

    /// 1-based line and column (column counted in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let offset = offset.min(clamp(self.text.len()));
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        if self.ascii {
            return (line as u32 + 1, clamp(offset as usize - start + 1));
        }
        let mut end = offset as usize;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line as u32 + 1, col as u32)
    }
}

/// All files of a pack, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, path: String, text: Arc<str>) -> FileId {
        self.files.push(SourceFile::new(path, text));
        FileId(clamp(self.files.len() - 1))
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(clamp(i)), f))
    }

    /// `path:line:col` of the start of a span.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let (line, col) = f.line_col(span.start);
                format!("{}:{}:{}", f.path, line, col)
            }
            None => "<unknown>".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines and columns (in characters) at every byte offset, for text with and without
    /// multi-byte characters, match counting characters from the start of the text.
    #[test]
    fn line_col_counts_characters_at_every_offset() {
        for text in ["ab\ncd\n\nefg", "rule r = \"é\"\n  x ∈ y\n😀z\n", ""] {
            let f = SourceFile::new("f".into(), Arc::from(text));
            for offset in 0..=text.len() + 2 {
                let at = offset.min(text.len());
                let mut end = at;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let before = &text[..end];
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let col = before[line_start..].chars().count() + 1;
                assert_eq!(
                    f.line_col(offset as u32),
                    (line as u32, col as u32),
                    "{text:?} at {offset}"
                );
            }
        }
    }
}
