//! API authentication (`--auth-token-file`): decision endpoints (`/decision`, `/decisions`,
//! `/authz`) require `Authorization: Bearer TOKEN` with one of the file's tokens (one per
//! line; surrounding whitespace, empty lines and `#` comments ignored). Tokens are kept as
//! SHA-256 digests and compared without early exit; the file is read again on SIGHUP.

use std::path::{Path, PathBuf};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

/// The accepted tokens, reloadable.
pub struct Tokens {
    path: PathBuf,
    digests: ArcSwap<Vec<[u8; 32]>>,
}

impl Tokens {
    /// Reads the token file; an unreadable file or one with no token is an error.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let digests = read(path)?;
        Ok(Tokens {
            path: path.to_path_buf(),
            digests: ArcSwap::from_pointee(digests),
        })
    }

    /// Reads the file again; on failure the current tokens stay and the error is returned.
    pub fn reload(&self) -> Result<usize, String> {
        let digests = read(&self.path)?;
        let n = digests.len();
        self.digests.store(std::sync::Arc::new(digests));
        Ok(n)
    }

    /// Whether an `Authorization` header value carries an accepted bearer token.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(token) = strip_bearer(value) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(token).into();
        // Every stored digest is compared in full, so timing says nothing about which.
        self.digests
            .load()
            .iter()
            .fold(false, |found, d| found | equal(d, &presented))
    }
}

fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii())
        .filter(|t| !t.is_empty())
}

fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn read(path: &Path) -> Result<Vec<[u8; 32]>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token file `{}`: {e}", path.display()))?;
    let digests: Vec<[u8; 32]> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|t| Sha256::digest(t.as_bytes()).into())
        .collect();
    if digests.is_empty() {
        return Err(format!(
            "the token file `{}` holds no token",
            path.display()
        ));
    }
    Ok(digests)
}

/// The answer to a decision request without an accepted bearer token.
pub fn unauthorized(present: bool, rid: &str) -> actix_web::HttpResponse {
    let detail = if present {
        "the bearer token is not accepted"
    } else {
        "this endpoint requires Authorization: Bearer TOKEN"
    };
    let mut res = super::problem::problem(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "Unauthorized",
        detail,
        rid,
    );
    res.headers_mut().insert(
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer realm=\"sentrie\""),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::Tokens;

    #[test]
    fn bearer_tokens_from_the_file_and_nothing_else() {
        let path = std::env::temp_dir().join(format!("sentrie-tokens-{}", std::process::id()));
        std::fs::write(&path, "# ops\n  alpha-1  \n\nbeta-2\n").unwrap();
        let t = Tokens::load(&path).unwrap();
        assert!(t.accepts(Some(b"Bearer alpha-1")));
        assert!(t.accepts(Some(b"bearer  beta-2 ")));
        assert!(!t.accepts(Some(b"Bearer alpha")));
        assert!(!t.accepts(Some(b"Basic alpha-1")));
        assert!(!t.accepts(Some(b"Bearer ")));
        assert!(!t.accepts(Some(b"# ops")));
        assert!(!t.accepts(None));
        std::fs::write(&path, "gamma\n").unwrap();
        assert_eq!(t.reload(), Ok(1));
        assert!(t.accepts(Some(b"Bearer gamma")) && !t.accepts(Some(b"Bearer alpha-1")));
        std::fs::write(&path, "\n# none\n").unwrap();
        assert!(t.reload().is_err());
        assert!(t.accepts(Some(b"Bearer gamma")));
        let _ = std::fs::remove_file(path);
    }
}
