//! `sentrie keygen --out NAME`: a new ed25519 key pair for signing compiled packs, as
//! `NAME.key` (PKCS#8 PEM, readable by its owner only) and `NAME.pub` (public key PEM).

use std::io::Write;
use std::path::{Path, PathBuf};

use sentrie_artifact::SigningKey;

use super::{error, EXIT_FAIL, EXIT_OK};

pub fn run(out: &Path, force: bool) -> u8 {
    let with = |ext: &str| -> PathBuf {
        let mut name = out.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (private, public) = (with(".key"), with(".pub"));
    if !force {
        if let Some(p) = [&private, &public].into_iter().find(|p| p.exists()) {
            error(&format!(
                "`{}` exists; choose another name or pass --force to replace it",
                p.display()
            ));
            return EXIT_FAIL;
        }
    }
    let result = SigningKey::generate().and_then(|key| {
        let pem = key.to_pem()?;
        let public_pem = key.public().to_pem()?;
        Ok((key.public().fingerprint(), pem, public_pem))
    });
    let (fingerprint, pem, public_pem) = match result {
        Ok(r) => r,
        Err(e) => {
            error(&e.to_string());
            return EXIT_FAIL;
        }
    };
    if let Err(e) = write_private(&private, pem.as_bytes()) {
        error(&format!("cannot write `{}`: {e}", private.display()));
        return EXIT_FAIL;
    }
    if let Err(e) = super::compile::write_atomically(&public, public_pem.as_bytes()) {
        error(&format!("cannot write `{}`: {e}", public.display()));
        return EXIT_FAIL;
    }
    eprintln!(
        "wrote the private key to `{}` and the public key to `{}` (key {fingerprint})",
        private.display(),
        public.display()
    );
    EXIT_OK
}

/// Writes the private key so that only its owner can read it, from the first byte on.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
