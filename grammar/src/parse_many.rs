//! Parsing the files of a pack on several threads. Files parse independently (a parser and
//! its context per file), so large packs are split among the machine's cores; the results
//! come back in the order of the files, exactly as one thread would give them.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ast::File;
use crate::diagnostic::Diagnostic;
use crate::parser::parse_file;
use crate::span::FileId;

/// Below this many bytes of source in all, one thread parses everything (starting threads
/// costs more than it saves).
const PARALLEL_BYTES: usize = 256 * 1024;

/// At most this many parsing threads.
const MAX_THREADS: usize = 8;

/// The stack of a parsing thread, as large as a main thread's: deeply nested source is
/// refused by the parser's own limits, not by the thread it happens to run on.
const STACK_BYTES: usize = 8 << 20;

type Parsed = (Option<File>, Vec<Diagnostic>);

/// [`parse_file`] for each of `files`, in their order.
pub fn parse_files(files: &[(FileId, &str)]) -> Vec<Parsed> {
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(files.len());
    if bytes < PARALLEL_BYTES || threads < 2 {
        return files.iter().map(|(id, t)| parse_file(*id, t)).collect();
    }
    // Each thread takes the next file not yet taken, so a few large files do not leave the
    // other threads idle.
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((id, text)) = files.get(i) else {
                return done;
            };
            done.push((i, parse_file(*id, text)));
        }
    };
    let mut results: Vec<(usize, Parsed)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        // This thread works too; a helper that could not start leaves its share to the rest.
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(mut part) => all.append(&mut part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, parsed)| parsed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many files, some with errors, parsed on threads: the same trees and diagnostics, in
    /// the same order, as parsing them one by one.
    #[test]
    fn threads_give_what_one_thread_gives() {
        let texts: Vec<String> = (0..300)
            .map(|i| {
                let body = if i % 37 == 0 {
                    "rule r = ("
                } else {
                    "rule r = 1 + 2"
                };
                format!(
                    "namespace n{i}\npolicy p {{\n  {body}\n{}}}\n",
                    "  // a comment line of padding\n".repeat(i % 200)
                )
            })
            .collect();
        let files: Vec<(FileId, &str)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (FileId(i as u32), t.as_str()))
            .collect();
        assert!(files.iter().map(|(_, t)| t.len()).sum::<usize>() >= PARALLEL_BYTES);
        let many = parse_files(&files);
        assert_eq!(many.len(), files.len());
        for ((id, text), (tree, diags)) in files.iter().zip(&many) {
            let (one_tree, one_diags) = parse_file(*id, text);
            assert_eq!(tree, &one_tree);
            assert_eq!(diags, &one_diags);
        }
        assert!(many.iter().any(|(_, d)| !d.is_empty()));
    }
}
