//! The server key: the root of every keyed hash and (later) of sealed TOTP secrets.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::Zeroize;

use super::keyed_hash;

pub const KEY_FILE_NAME: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("NIDAN_SECRET_KEY must be base64 of exactly 32 bytes")]
    BadEnvKey,
    #[error("key file {0} must hold base64 of exactly 32 bytes")]
    BadKeyFile(PathBuf),
    #[error("cannot read or create key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct ServerKey([u8; 32]);

impl ServerKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_base64(text: &str) -> Option<Self> {
        let mut decoded = STANDARD.decode(text.trim()).ok()?;
        let key = <[u8; 32]>::try_from(decoded.as_slice()).ok().map(Self);
        decoded.zeroize();
        key
    }

    /// `NIDAN_SECRET_KEY` when given; otherwise `<data_dir>/secret.key`, created 0600 when missing.
    pub fn load(env_value: Option<&str>, data_dir: &Path) -> Result<Self, KeyError> {
        if let Some(text) = env_value {
            return Self::from_base64(text).ok_or(KeyError::BadEnvKey);
        }
        let path = data_dir.join(KEY_FILE_NAME);
        let io_err = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text).ok_or_else(|| KeyError::BadKeyFile(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut file = create_private_file(&path).map_err(io_err)?;
                writeln!(file, "{}", STANDARD.encode(key.0)).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                Ok(key)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// A value that identifies the key without revealing it; stored in the database.
    pub fn fingerprint(&self) -> String {
        hex(&keyed_hash(&self.0, b"nidan key fingerprint v1"))
    }

    /// An independent subkey per purpose, so that no two uses share key material.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        keyed_hash(&self.0, format!("nidan subkey v1: {purpose}").as_bytes())
    }
}

impl Drop for ServerKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerKey::load(None, dir.path()).unwrap();
        let again = ServerKey::load(None, dir.path()).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn env_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ServerKey::load(Some("c2hvcnQ="), dir.path()),
            Err(KeyError::BadEnvKey)
        ));
        let good = STANDARD.encode([1u8; 32]);
        let key = ServerKey::load(Some(&good), dir.path()).unwrap();
        assert_eq!(
            key.fingerprint(),
            ServerKey::from_bytes([1u8; 32]).fingerprint()
        );
        assert!(
            !dir.path().join(KEY_FILE_NAME).exists(),
            "env key writes no file"
        );
    }

    #[test]
    fn subkeys_differ_by_purpose_and_debug_is_redacted() {
        let key = ServerKey::from_bytes([9u8; 32]);
        assert_ne!(key.derive("csrf"), key.derive("backup-codes"));
        assert_eq!(format!("{key:?}"), "ServerKey(<redacted>)");
        assert_ne!(
            key.fingerprint(),
            ServerKey::from_bytes([8u8; 32]).fingerprint()
        );
    }
}
