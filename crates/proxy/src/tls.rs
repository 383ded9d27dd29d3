//! TLS on both legs, with rustls: the proxy terminates the client's TLS with its own
//! certificate and opens its own TLS session to the server.
//!
//! - Client leg ([`ClientTlsMode`]): `disable` answers `N` to `SSLRequest` (the server's
//!   answer when it has no TLS, so a client with `sslmode=require` fails as it would there,
//!   never silently downgraded); `allow` answers `S` and also accepts plaintext clients;
//!   `require` answers `S` and refuses a plaintext startup with the server's own
//!   error (`28000`). `GSSENCRequest` is always answered `N`, as a server built without GSS.
//! - Server leg ([`UpstreamTlsMode`]), like libpq's `sslmode`: `disable`, `prefer` (TLS when
//!   the server offers it, unverified), `require` (TLS or fail, unverified), `verify-ca`
//!   (chain checked against the CA file), `verify-full` (chain and host name). A client
//!   certificate can be presented to the server.
//! - Authentication passes through untouched inside the sessions. SCRAM channel binding
//!   (`SCRAM-SHA-256-PLUS`) binds to the certificate of the TLS session the client sees,
//!   which is the proxy's, not the server's; see docs/production.md for client settings.
//! - [`TlsState::reload`] re-reads the certificate files (SIGHUP): new handshakes use the new
//!   material, open connections keep their sessions.

// This module reads untrusted wire bytes: no input may panic it (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};
use rustls::{SignatureScheme, SupportedProtocolVersion};

/// Whether clients may (or must) speak TLS to the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientTlsMode {
    /// Answer `N` to `SSLRequest`.
    #[default]
    Disable,
    /// Offer TLS; plaintext clients are served too.
    Allow,
    /// Offer TLS; plaintext clients are refused.
    Require,
}

/// How the proxy connects to the server (libpq's `sslmode` values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamTlsMode {
    #[default]
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for ClientTlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disable" => Ok(ClientTlsMode::Disable),
            "allow" => Ok(ClientTlsMode::Allow),
            "require" => Ok(ClientTlsMode::Require),
            _ => Err(format!(
                "unknown TLS mode {s:?} (expected disable, allow or require)"
            )),
        }
    }
}

impl FromStr for UpstreamTlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disable" => Ok(UpstreamTlsMode::Disable),
            "prefer" => Ok(UpstreamTlsMode::Prefer),
            "require" => Ok(UpstreamTlsMode::Require),
            "verify-ca" => Ok(UpstreamTlsMode::VerifyCa),
            "verify-full" => Ok(UpstreamTlsMode::VerifyFull),
            _ => Err(format!(
                "unknown upstream TLS mode {s:?} (expected disable, prefer, require, \
                 verify-ca or verify-full)"
            )),
        }
    }
}

/// Files and modes of both legs, as configured.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    pub client_mode: ClientTlsMode,
    /// PEM certificate chain and key the proxy presents to clients.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub upstream_mode: UpstreamTlsMode,
    /// PEM CA certificates that sign the server's certificate (verify-ca, verify-full).
    pub upstream_ca: Option<PathBuf>,
    /// PEM client certificate and key presented to the server.
    pub upstream_cert: Option<PathBuf>,
    pub upstream_key: Option<PathBuf>,
    /// Name checked against the server's certificate in verify-full (default: the host
    /// part of the upstream address).
    pub upstream_server_name: Option<String>,
}

/// The loaded TLS material, swapped whole on reload.
pub(crate) struct Material {
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    pub connector: Option<tokio_rustls::TlsConnector>,
}

/// The configuration and the current material; shared by all connections.
pub struct TlsState {
    config: TlsConfig,
    server_name: ServerName<'static>,
    material: RwLock<Arc<Material>>,
}

/// A TLS file or setting that cannot be used, with the file's name.
#[derive(Debug)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e.0)
    }
}

impl TlsState {
    /// Loads every file now, so a bad path or key fails at start with its name.
    pub fn new(config: TlsConfig, upstream: &str) -> Result<TlsState, TlsError> {
        let host = config
            .upstream_server_name
            .clone()
            .unwrap_or_else(|| upstream_host(upstream).to_owned());
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| TlsError(format!("upstream server name {host:?}: {e}")))?;
        let material = load(&config)?;
        Ok(TlsState {
            config,
            server_name,
            material: RwLock::new(Arc::new(material)),
        })
    }

    pub fn client_mode(&self) -> ClientTlsMode {
        self.config.client_mode
    }

    pub fn upstream_mode(&self) -> UpstreamTlsMode {
        self.config.upstream_mode
    }

    pub(crate) fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }

    pub(crate) fn current(&self) -> Arc<Material> {
        self.material
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads the certificate files. On error the old material stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let material = load(&self.config)?;
        *self
            .material
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(material);
        Ok(())
    }
}

/// `db.internal` from `db.internal:5432`, `::1` from `[::1]:5432`.
fn upstream_host(upstream: &str) -> &str {
    if let Some(rest) = upstream.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    upstream.rsplit_once(':').map_or(upstream, |(host, _)| host)
}

/// ring: a small C/asm build, where aws-lc-rs needs cmake and minutes on two cores. (rustls
/// marks ring's provider deprecated only for lacking post-quantum key exchange.)
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&SupportedProtocolVersion] = rustls::DEFAULT_VERSIONS;

fn load(config: &TlsConfig) -> Result<Material, TlsError> {
    let acceptor = match config.client_mode {
        ClientTlsMode::Disable => None,
        ClientTlsMode::Allow | ClientTlsMode::Require => {
            let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
                return Err(TlsError(
                    "--tls-mode allow/require needs --tls-cert and --tls-key".into(),
                ));
            };
            let server = ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(VERSIONS)
                .map_err(|e| TlsError(format!("TLS setup: {e}")))?
                .with_no_client_auth()
                .with_single_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| {
                    TlsError(format!(
                        "{} and {} do not form a usable certificate and key: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
        }
    };
    let connector = match config.upstream_mode {
        UpstreamTlsMode::Disable => None,
        mode => Some(tokio_rustls::TlsConnector::from(Arc::new(client_config(
            config, mode,
        )?))),
    };
    Ok(Material {
        acceptor,
        connector,
    })
}

fn client_config(config: &TlsConfig, mode: UpstreamTlsMode) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError(format!("TLS setup: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        UpstreamTlsMode::VerifyCa | UpstreamTlsMode::VerifyFull => {
            let Some(ca) = &config.upstream_ca else {
                return Err(TlsError(
                    "--upstream-tls verify-ca/verify-full needs --upstream-ca".into(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError(format!("{}: {e}", ca.display())))?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError(format!("{}: {e}", ca.display())))?;
            Arc::new(Verify {
                webpki,
                check_name: mode == UpstreamTlsMode::VerifyFull,
            })
        }
        _ => Arc::new(NoVerify(provider())),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&config.upstream_cert, &config.upstream_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| TlsError(format!("{}: {e}", cert.display()))),
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(TlsError(
            "--upstream-cert and --upstream-key go together".into(),
        )),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            TlsError(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        TlsError(format!(
            "cannot read a private key from {}: {e}",
            path.display()
        ))
    })
}

/// verify-ca and verify-full: the chain must lead to the CA file; verify-full also checks
/// the name.
#[derive(Debug)]
struct Verify {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verify {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// prefer and require: encrypted, not authenticated (libpq's meaning of those modes). The
/// handshake signatures are still checked, so the session is bound to the key presented.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_hosts_split() {
        assert_eq!("verify-full".parse(), Ok(UpstreamTlsMode::VerifyFull));
        assert_eq!("require".parse(), Ok(ClientTlsMode::Require));
        assert!("verify".parse::<UpstreamTlsMode>().is_err());
        assert_eq!(upstream_host("db.internal:5432"), "db.internal");
        assert_eq!(upstream_host("[::1]:5432"), "::1");
        assert_eq!(upstream_host("127.0.0.1:5432"), "127.0.0.1");
    }

    #[test]
    fn missing_files_are_named() {
        let config = TlsConfig {
            client_mode: ClientTlsMode::Require,
            cert: Some("/nonexistent/cert.pem".into()),
            key: Some("/nonexistent/key.pem".into()),
            ..TlsConfig::default()
        };
        let error = TlsState::new(config, "127.0.0.1:5432")
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/cert.pem"), "{error}");
        let config = TlsConfig {
            client_mode: ClientTlsMode::Allow,
            ..TlsConfig::default()
        };
        assert!(TlsState::new(config, "127.0.0.1:5432").is_err());
    }
}
