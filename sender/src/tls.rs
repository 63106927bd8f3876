//! `--tls`: the sender's side of an encrypted connection.
//!
//! The receiver is trusted either by pinning its certificate's SHA-256
//! fingerprint (`--tls-fingerprint`, as the receiver logs it; the usual way
//! with its self-signed certificate) or through a CA certificate
//! (`--tls-ca`, for receivers with a certificate from your own CA, checked
//! against the host name in `--connect`). A pinned certificate must still
//! prove it holds its key in the handshake; only the CA chain check is
//! replaced by the pin.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use framewire_proto::auth::{certificate_digest, parse_fingerprint};
use futures_rustls::TlsConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How to connect with TLS: the configured connector and the name the
/// receiver's certificate is checked against.
#[derive(Clone)]
pub struct TlsClient {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

/// Builds the client for `address` (HOST:PORT) from `--tls-fingerprint` or `--tls-ca`.
pub fn client(
    address: &str,
    fingerprint: Option<&str>,
    ca: Option<&Path>,
) -> anyhow::Result<TlsClient> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let server_name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("'{host}' is not a host name or address for TLS"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup failed")?;
    let config = match (fingerprint, ca) {
        (Some(fingerprint), None) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                digest: parse_fingerprint(fingerprint)?,
                provider,
            }))
            .with_no_client_auth(),
        (None, Some(ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("cannot read {}", ca.display()))?
            {
                let certificate =
                    certificate.with_context(|| format!("cannot read {}", ca.display()))?;
                roots
                    .add(certificate)
                    .with_context(|| format!("{} holds an unusable certificate", ca.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (Some(_), Some(_)) => bail!("give --tls-fingerprint or --tls-ca, not both"),
        (None, None) => {
            bail!("--tls needs --tls-fingerprint (the receiver logs it when it starts) or --tls-ca")
        }
    };
    Ok(TlsClient {
        connector: TlsConnector::from(Arc::new(config)),
        server_name,
    })
}

/// Trusts exactly the certificate with this SHA-256 digest.
#[derive(Debug)]
struct PinnedCertificate {
    digest: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if certificate_digest(end_entity) == self.digest {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the receiver's certificate has fingerprint {}, not the one given with --tls-fingerprint",
                framewire_proto::auth::certificate_fingerprint(end_entity)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_anchor_is_required_and_single() {
        let pin = "AB:".repeat(31) + "AB";
        assert!(client("receiver.local:12345", Some(&pin), None).is_ok());
        assert!(client("[::1]:12345", Some(&pin), None).is_ok());
        let error = client("receiver:1", None, None).err().unwrap().to_string();
        assert!(error.contains("--tls-fingerprint"), "{error}");
        let error = client("receiver:1", Some("xyz"), None)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("not a certificate fingerprint"), "{error}");
    }
}
