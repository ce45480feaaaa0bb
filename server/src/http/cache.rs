//! The local copy of the last good pack fetched from each remote origin (`--cache-dir`), so
//! that a server restarted while the origin is down still serves. One pair of files per URL,
//! named after the SHA-256 of the URL: `<key>.pack` (the compiled pack as fetched) and
//! `<key>.etag`. Both are written to a temporary file and renamed, so a crash never leaves a
//! half-written pack; a cached pack is checked (and its signature verified) like a fetched
//! one before it is served.

use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Cache {
    dir: PathBuf,
}

/// A cached pack and the ETag it was fetched with.
pub struct Entry {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, url: &str, ext: &str) -> PathBuf {
        let mut key = sentrie_artifact::sha256_hex(url.as_bytes());
        key.truncate(32);
        self.dir.join(format!("{key}.{ext}"))
    }

    /// The cached pack for `url`, if any.
    pub fn read(&self, url: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.file(url, "pack")).ok()?;
        let etag = std::fs::read_to_string(self.file(url, "etag"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Some(Entry { bytes, etag })
    }

    /// Stores the pack last activated from `url`.
    pub fn write(&self, url: &str, bytes: &[u8], etag: Option<&str>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        // The ETag goes first: a pack with a stale ETag is only fetched once more.
        write_atomically(&self.file(url, "etag"), etag.unwrap_or("").as_bytes())?;
        write_atomically(&self.file(url, "pack"), bytes)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The default cache directory: `$XDG_CACHE_HOME/sentrie`, `$HOME/.cache/sentrie`, or
/// `sentrie-cache` in the temporary directory.
pub fn default_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .map(|d| d.join("sentrie"))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("sentrie")))
        .unwrap_or_else(|| std::env::temp_dir().join("sentrie-cache"))
}

#[cfg(test)]
mod tests {
    use super::Cache;

    #[test]
    fn entries_round_trip_per_url() {
        let dir = std::env::temp_dir().join(format!("sentrie-cache-test-{}", std::process::id()));
        let cache = Cache::new(dir.clone());
        assert!(cache.read("s3://b/k").is_none());
        cache
            .write("s3://b/k", b"pack one", Some("\"e1\""))
            .unwrap();
        cache.write("s3://b/other", b"pack two", None).unwrap();
        let e = cache.read("s3://b/k").unwrap();
        assert_eq!(
            (e.bytes.as_slice(), e.etag.as_deref()),
            (&b"pack one"[..], Some("\"e1\""))
        );
        let e = cache.read("s3://b/other").unwrap();
        assert_eq!((e.bytes.as_slice(), e.etag), (&b"pack two"[..], None));
        let _ = std::fs::remove_dir_all(dir);
    }
}
