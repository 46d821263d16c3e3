//! Why a broker's TLS certificate was refused. librdkafka reports only "certificate verify
//! failed"; [`verify_reason`] makes one TLS handshake of its own, with the same CA and the
//! same OpenSSL, and reads OpenSSL's verification result ("certificate has expired", "unable
//! to get local issuer certificate", ...), so the startup error can name the cause.

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509VerifyResult;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// OpenSSL's reason for refusing the certificate of the first broker in `bootstrap`
/// (`host:port,...`) when verified against `cafile` (or the system's CAs); `None` when it
/// verifies, or when no handshake could be made.
pub(super) fn verify_reason(
    bootstrap: &str,
    cafile: Option<&Path>,
    timeout: Duration,
) -> Option<String> {
    let first = bootstrap.split(',').next()?;
    let (host, _) = first.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = first.to_socket_addrs().ok()?.next()?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).ok()?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    tcp.set_write_timeout(Some(timeout)).ok()?;
    let mut builder = SslConnector::builder(SslMethod::tls_client()).ok()?;
    match cafile {
        Some(p) => builder.set_ca_file(p).ok()?,
        None => builder.set_default_verify_paths().ok()?,
    }
    // Verification still runs and records its result; the handshake just goes on.
    builder.set_verify(SslVerifyMode::NONE);
    let config = builder.build().configure().ok()?.verify_hostname(false);
    let stream = config.connect(host, tcp).ok()?;
    let result = stream.ssl().verify_result();
    if result == X509VerifyResult::OK {
        return None;
    }
    let mut reason = result.error_string().to_string();
    if let Some(cert) = stream.ssl().peer_certificate() {
        reason.push_str(&format!(
            "; the broker's certificate is valid from {} until {}",
            cert.not_before(),
            cert.not_after()
        ));
    }
    Some(reason)
}
