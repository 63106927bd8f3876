//! `--tls`: the receiver's certificate and the TLS side of its connections.
//!
//! With `--tls-cert` and `--tls-key` the receiver uses that certificate
//! (e.g. from your own CA). Without them it creates a self-signed one on
//! first start, keeps it in `--tls-dir` so that its fingerprint stays the
//! same across restarts, and logs the fingerprint that senders pin with
//! `--tls-fingerprint`. Handshakes run in the connection's task with the
//! same `--idle-timeout` as any message, so a peer that stalls a handshake
//! is dropped like one that stalls a frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use framewire_proto::auth::certificate_fingerprint;
use futures_rustls::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CERTIFICATE_FILE: &str = "receiver-cert.pem";
const KEY_FILE: &str = "receiver-key.pem";

/// What the receiver presents to senders.
pub struct TlsIdentity {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the certificate, for `--tls-fingerprint` on senders.
    pub fingerprint: String,
    /// Where the certificate comes from, for the log.
    pub origin: String,
}

/// Where a self-signed certificate is kept when `--tls-dir` is not given:
/// systemd's state directory, else on Windows `%APPDATA%\framewire`, else
/// `$XDG_CONFIG_HOME/framewire`, else `~/.config/framewire`.
pub fn default_directory() -> PathBuf {
    if let Some(state) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(state);
    }
    if cfg!(windows)
        && let Some(appdata) = std::env::var_os("APPDATA")
    {
        return PathBuf::from(appdata).join("framewire");
    }
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME") {
        return PathBuf::from(config).join("framewire");
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config/framewire"))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads `--tls-cert`/`--tls-key`, or the self-signed certificate in
/// `directory`, creating it on first use.
pub fn load_or_create(
    certificate: Option<&Path>,
    key: Option<&Path>,
    directory: &Path,
) -> anyhow::Result<TlsIdentity> {
    let (certificate_path, key_path, origin) = match (certificate, key) {
        (Some(certificate), Some(key)) => (
            certificate.to_owned(),
            key.to_owned(),
            format!("certificate {}", certificate.display()),
        ),
        (None, None) => {
            let certificate = directory.join(CERTIFICATE_FILE);
            let key = directory.join(KEY_FILE);
            let origin = if certificate.exists() && key.exists() {
                format!("self-signed certificate {}", certificate.display())
            } else {
                create_self_signed(directory, &certificate, &key)?;
                format!("new self-signed certificate {}", certificate.display())
            };
            (certificate, key, origin)
        }
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certificate_path)
        .and_then(|certificates| certificates.collect())
        .with_context(|| {
            format!(
                "cannot read certificates from {}",
                certificate_path.display()
            )
        })?;
    let Some(leaf) = chain.first() else {
        bail!("{} holds no certificate", certificate_path.display());
    };
    let fingerprint = certificate_fingerprint(leaf);
    let private_key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("cannot read a private key from {}", key_path.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .context("the certificate and the key do not go together")?;
    // Senders never read: unsolicited session tickets would sit unread in
    // their socket and turn their clean close into a reset.
    config.send_tls13_tickets = 0;
    Ok(TlsIdentity {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint,
        origin,
    })
}

fn create_self_signed(directory: &Path, certificate: &Path, key: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    let names: Vec<String> = ["framewire-receiver".to_owned(), host]
        .into_iter()
        .filter(|name| !name.is_empty())
        .collect();
    let generated = rcgen::generate_simple_self_signed(names)
        .context("cannot create a self-signed certificate")?;
    std::fs::write(certificate, generated.cert.pem())
        .with_context(|| format!("cannot write {}", certificate.display()))?;
    write_private(key, generated.key_pair.serialize_pem().as_bytes())
        .with_context(|| format!("cannot write {}", key.display()))?;
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_created_once_and_then_reused() {
        let directory =
            std::env::temp_dir().join(format!("framewire-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let first = load_or_create(None, None, &directory).unwrap();
        assert!(
            first.origin.starts_with("new self-signed"),
            "{}",
            first.origin
        );
        let again = load_or_create(None, None, &directory).unwrap();
        assert_eq!(
            again.fingerprint, first.fingerprint,
            "same identity after a restart"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(directory.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is private");
        }
        let error = load_or_create(Some(&directory.join(CERTIFICATE_FILE)), None, &directory)
            .err()
            .unwrap();
        assert!(error.to_string().contains("go together"));
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
