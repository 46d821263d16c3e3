//! Broker credentials in Faust's shapes (`broker_credentials`): [`SSLCredentials`],
//! [`SASLCredentials`] (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), [`GSSAPICredentials`] (Kerberos)
//! and [`OAuthCredentials`] (OAUTHBEARER with a token provider), turned into the librdkafka
//! properties every Kafka client of the app gets (producers, consumers and the admin client).
//!
//! `security.protocol` follows from what is given, as in Faust: TLS credentials (or a
//! `kafka+ssl://` broker URL) mean `SSL`; SASL credentials mean `SASL_PLAINTEXT`, or `SASL_SSL`
//! when they carry TLS credentials too (or the URL is `kafka+ssl://`).
//!
//! ```
//! use faust_runtime::transport::credentials::{
//!     kafka_properties, Credentials, SASLCredentials, SASLMechanism, SSLCredentials,
//! };
//!
//! let creds: Credentials = SASLCredentials::new(SASLMechanism::ScramSha512, "app", "s3cret")
//!     .with_ssl(SSLCredentials::new())
//!     .into();
//! let props = kafka_properties(Some(&creds), false).unwrap();
//! assert!(props.contains(&("security.protocol", "SASL_SSL".to_string())));
//! assert!(props.contains(&("sasl.mechanisms", "SCRAM-SHA-512".to_string())));
//! // Secrets never show in Debug output.
//! assert!(!format!("{creds:?}").contains("s3cret"));
//! ```
//!
//! Each kind, as an app gives it (`App::builder(..).broker_credentials(..)`):
//!
//! ```
//! use faust_runtime::transport::credentials::*;
//! use std::time::{Duration, SystemTime};
//!
//! # let dir = std::env::temp_dir().join(format!("faust-doc-creds-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # for f in ["ca.pem", "client.pem", "client.key", "app.keytab"] { std::fs::write(dir.join(f), "").unwrap(); }
//! // TLS with a private CA and a client certificate whose key is encrypted.
//! let tls = SSLCredentials::new()
//!     .cafile(dir.join("ca.pem"))
//!     .client_cert(dir.join("client.pem"), dir.join("client.key"))
//!     .key_password("key password");
//! // SCRAM over TLS with the system's CAs.
//! let scram = SASLCredentials::new(SASLMechanism::ScramSha512, "orders", "secret")
//!     .with_ssl(SSLCredentials::new());
//! // Kerberos with a keytab.
//! let kerberos = GSSAPICredentials::new().keytab("orders@EXAMPLE.COM", dir.join("app.keytab"));
//! // OAUTHBEARER: called at start and before each token expires.
//! let oauth = OAuthCredentials::new(|| -> Result<OAuthToken, faust_runtime::BoxError> {
//!     Ok(OAuthToken {
//!         value: "token from the identity provider".into(),
//!         principal: "orders".into(),
//!         expires_at: SystemTime::now() + Duration::from_secs(3600),
//!     })
//! });
//! let protocol = |c: Credentials| kafka_properties(Some(&c), false).unwrap()[0].1.clone();
//! assert_eq!(protocol(tls.into()), "SSL");
//! assert_eq!(protocol(scram.into()), "SASL_SSL");
//! assert_eq!(protocol(kerberos.into()), "SASL_PLAINTEXT");
//! assert_eq!(protocol(oauth.into()), "SASL_PLAINTEXT");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Parts that are missing or inconsistent (a username without a password, a client certificate
//! without its key, a CA file that does not exist) are a [`crate::Error::Config`] when the
//! transport is created, naming what is missing.

use crate::error::{BoxError, Error, Result};
use crate::redact::Secret;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// URL scheme of a Kafka broker reached over TLS (`kafka+ssl://host:port`).
pub const KAFKA_SSL_SCHEME: &str = "kafka+ssl://";

/// Whether `url` names a Kafka broker (`kafka://` or `kafka+ssl://`).
pub fn is_kafka_url(url: &str) -> bool {
    let u = url.trim();
    u.starts_with("kafka://") || u.starts_with(KAFKA_SSL_SCHEME)
}

/// Whether the broker URL asks for TLS (`kafka+ssl://`).
pub fn url_wants_tls(url: &str) -> bool {
    url.trim().starts_with(KAFKA_SSL_SCHEME)
}

/// What the app authenticates with (Faust's `broker_credentials`).
#[derive(Clone, Debug)]
pub enum Credentials {
    /// TLS only (`security.protocol=SSL`), with or without a client certificate.
    Ssl(SSLCredentials),
    /// SASL with a username and password.
    Sasl(SASLCredentials),
    /// SASL GSSAPI (Kerberos).
    Gssapi(GSSAPICredentials),
    /// SASL OAUTHBEARER with a token provider.
    OAuth(OAuthCredentials),
}

impl From<SSLCredentials> for Credentials {
    fn from(c: SSLCredentials) -> Self {
        Credentials::Ssl(c)
    }
}
impl From<SASLCredentials> for Credentials {
    fn from(c: SASLCredentials) -> Self {
        Credentials::Sasl(c)
    }
}
impl From<GSSAPICredentials> for Credentials {
    fn from(c: GSSAPICredentials) -> Self {
        Credentials::Gssapi(c)
    }
}
impl From<OAuthCredentials> for Credentials {
    fn from(c: OAuthCredentials) -> Self {
        Credentials::OAuth(c)
    }
}

impl Credentials {
    /// The TLS part: all of it for [`Credentials::Ssl`], the optional one of the SASL kinds.
    pub fn ssl(&self) -> Option<&SSLCredentials> {
        match self {
            Credentials::Ssl(s) => Some(s),
            Credentials::Sasl(c) => c.ssl.as_ref(),
            Credentials::Gssapi(c) => c.ssl.as_ref(),
            Credentials::OAuth(c) => c.ssl.as_ref(),
        }
    }

    fn ssl_slot(&mut self) -> Option<&mut Option<SSLCredentials>> {
        match self {
            Credentials::Ssl(_) => None,
            Credentials::Sasl(c) => Some(&mut c.ssl),
            Credentials::Gssapi(c) => Some(&mut c.ssl),
            Credentials::OAuth(c) => Some(&mut c.ssl),
        }
    }

    /// The secret values these credentials hold (the SASL password, the key password), for
    /// masking them wherever text is printed.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Credentials::Sasl(c) = self {
            out.push(c.password.expose().to_string());
        }
        if let Some(pw) = self.ssl().and_then(|s| s.password.as_ref()) {
            out.push(pw.expose().to_string());
        }
        out
    }

    /// The token provider of OAUTHBEARER credentials.
    pub fn token_provider(&self) -> Option<&Arc<dyn TokenProvider>> {
        match self {
            Credentials::OAuth(c) => Some(&c.oauth_cb),
            _ => None,
        }
    }
}

/// TLS settings (Faust's `SSLCredentials`): the CA to verify the brokers with, an optional
/// client certificate with its key (and the key's password), and hostname verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SSLCredentials {
    /// PEM file of the CA (or bundle) that signed the brokers' certificates
    /// (`ssl.ca.location`); `None` uses the system's CAs.
    pub cafile: Option<PathBuf>,
    /// PEM file of the client certificate (`ssl.certificate.location`), for brokers that
    /// require TLS client authentication. Needs [`SSLCredentials::keyfile`].
    pub certfile: Option<PathBuf>,
    /// PEM file of the client certificate's private key (`ssl.key.location`).
    pub keyfile: Option<PathBuf>,
    /// Password of an encrypted [`SSLCredentials::keyfile`] (`ssl.key.password`).
    pub password: Option<Secret>,
    /// Whether the broker's certificate must name the host connected to (Python's
    /// `check_hostname`; librdkafka's `ssl.endpoint.identification.algorithm=https`). On by
    /// default.
    pub check_hostname: bool,
}

impl Default for SSLCredentials {
    fn default() -> Self {
        SSLCredentials {
            cafile: None,
            certfile: None,
            keyfile: None,
            password: None,
            check_hostname: true,
        }
    }
}

impl SSLCredentials {
    /// TLS with the system's CAs and hostname verification, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies the brokers with the CA in this PEM file.
    pub fn cafile(mut self, path: impl Into<PathBuf>) -> Self {
        self.cafile = Some(path.into());
        self
    }

    /// Authenticates with this client certificate and key (PEM files).
    pub fn client_cert(
        mut self,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> Self {
        self.certfile = Some(certfile.into());
        self.keyfile = Some(keyfile.into());
        self
    }

    /// The password of an encrypted key file.
    pub fn key_password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Turns hostname verification on or off.
    pub fn check_hostname(mut self, on: bool) -> Self {
        self.check_hostname = on;
        self
    }

    fn check(&self) -> Result<()> {
        let what = "SSLCredentials";
        match (&self.certfile, &self.keyfile) {
            (Some(_), None) => {
                return Err(Error::config(format!(
                    "{what}: certfile is given but keyfile (the client certificate's private key) is missing"
                )))
            }
            (None, Some(_)) => {
                return Err(Error::config(format!(
                    "{what}: keyfile is given but certfile (the client certificate) is missing"
                )))
            }
            _ => {}
        }
        if self.password.is_some() && self.keyfile.is_none() {
            return Err(Error::config(format!(
                "{what}: a key password is given but keyfile is missing"
            )));
        }
        if self.password.as_ref().is_some_and(Secret::is_empty) {
            return Err(Error::config(format!("{what}: the key password is empty")));
        }
        for (field, path) in [
            ("cafile", &self.cafile),
            ("certfile", &self.certfile),
            ("keyfile", &self.keyfile),
        ] {
            if let Some(p) = path {
                check_file(what, field, p)?;
            }
        }
        Ok(())
    }

    fn properties(&self, out: &mut Vec<(&'static str, String)>) {
        if let Some(p) = &self.cafile {
            out.push(("ssl.ca.location", p.display().to_string()));
        }
        if let Some(p) = &self.certfile {
            out.push(("ssl.certificate.location", p.display().to_string()));
        }
        if let Some(p) = &self.keyfile {
            out.push(("ssl.key.location", p.display().to_string()));
        }
        if let Some(pw) = &self.password {
            out.push(("ssl.key.password", pw.expose().to_string()));
        }
        out.push((
            "ssl.endpoint.identification.algorithm",
            if self.check_hostname { "https" } else { "none" }.to_string(),
        ));
    }
}

fn check_file(what: &str, field: &str, path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::config(format!(
            "{what}: {field} '{}' is not a file",
            path.display()
        ))),
        Err(e) => Err(Error::config(format!(
            "{what}: {field} '{}' cannot be read: {e}",
            path.display()
        ))),
    }
}

/// SASL mechanisms that authenticate with a username and password (Faust's `SASLMechanism`;
/// GSSAPI and OAUTHBEARER have their own credential types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SASLMechanism {
    /// `PLAIN`: the password is sent as is, so use it over TLS. Faust's default.
    #[default]
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SASLMechanism {
    /// The name Kafka and librdkafka use (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SASLMechanism::Plain => "PLAIN",
            SASLMechanism::ScramSha256 => "SCRAM-SHA-256",
            SASLMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a mechanism name as Kafka or Faust spells it (`SCRAM-SHA-256`, `SCRAM_SHA_256`,
    /// any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => Ok(SASLMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SASLMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SASLMechanism::ScramSha512),
            _ => Err(Error::config(format!(
                "unknown SASL mechanism '{s}' (expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or OAUTHBEARER)"
            ))),
        }
    }
}

impl fmt::Display for SASLMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SASL with a username and password (Faust's `SASLCredentials`); over TLS when
/// [`SASLCredentials::ssl`] is set (`SASL_SSL`), else in plain text (`SASL_PLAINTEXT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SASLCredentials {
    /// The mechanism.
    pub mechanism: SASLMechanism,
    /// Username (`sasl.username`).
    pub username: String,
    /// Password (`sasl.password`).
    pub password: Secret,
    /// TLS settings, for `SASL_SSL`.
    pub ssl: Option<SSLCredentials>,
}

impl SASLCredentials {
    /// Credentials for `mechanism` without TLS (add it with [`SASLCredentials::with_ssl`]).
    pub fn new(
        mechanism: SASLMechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        SASLCredentials {
            mechanism,
            username: username.into(),
            password: password.into(),
            ssl: None,
        }
    }

    /// Authenticates over TLS (`SASL_SSL`).
    pub fn with_ssl(mut self, ssl: SSLCredentials) -> Self {
        self.ssl = Some(ssl);
        self
    }
}

/// SASL GSSAPI, i.e. Kerberos (Faust's `GSSAPICredentials`). librdkafka runs `kinit` with the
/// keytab and principal when both are given, else it uses the ticket cache of the process.
/// Needs a librdkafka built with Cyrus SASL (the `gssapi` feature of faust-runtime).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GSSAPICredentials {
    /// Kerberos service name of the brokers (`sasl.kerberos.service.name`, Faust's
    /// `kerberos_service_name`, default `kafka`).
    pub kerberos_service_name: String,
    /// This client's Kerberos principal (`sasl.kerberos.principal`).
    pub principal: Option<String>,
    /// Keytab file for the principal (`sasl.kerberos.keytab`).
    pub keytab: Option<PathBuf>,
    /// TLS settings, for `SASL_SSL`.
    pub ssl: Option<SSLCredentials>,
}

impl Default for GSSAPICredentials {
    fn default() -> Self {
        GSSAPICredentials {
            kerberos_service_name: "kafka".into(),
            principal: None,
            keytab: None,
            ssl: None,
        }
    }
}

impl GSSAPICredentials {
    /// Service name `kafka`, the process's ticket cache, no TLS.
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs in as `principal` with the keys in `keytab`.
    pub fn keytab(mut self, principal: impl Into<String>, keytab: impl Into<PathBuf>) -> Self {
        self.principal = Some(principal.into());
        self.keytab = Some(keytab.into());
        self
    }

    /// The brokers' Kerberos service name.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.kerberos_service_name = name.into();
        self
    }

    /// Authenticates over TLS (`SASL_SSL`).
    pub fn with_ssl(mut self, ssl: SSLCredentials) -> Self {
        self.ssl = Some(ssl);
        self
    }
}

/// An OAUTHBEARER token from a [`TokenProvider`].
#[derive(Clone, Debug)]
pub struct OAuthToken {
    /// The token itself.
    pub value: Secret,
    /// The Kafka principal the token stands for.
    pub principal: String,
    /// When the token expires. librdkafka asks for a new one when 80% of its lifetime is over.
    pub expires_at: SystemTime,
}

/// Gives OAUTHBEARER tokens (Faust's `oauth_cb`, an `AbstractTokenProvider`). Called by the
/// Kafka client when it first connects and again before each token expires, on a client
/// thread: it may block (an HTTP call to the identity provider), but not on the async runtime
/// of the app. Any closure `Fn() -> Result<OAuthToken, BoxError>` is one.
pub trait TokenProvider: Send + Sync + 'static {
    /// A fresh token, or why there is none (reported as a broker error, and asked again).
    fn token(&self) -> std::result::Result<OAuthToken, BoxError>;
}

impl<F> TokenProvider for F
where
    F: Fn() -> std::result::Result<OAuthToken, BoxError> + Send + Sync + 'static,
{
    fn token(&self) -> std::result::Result<OAuthToken, BoxError> {
        self()
    }
}

/// SASL OAUTHBEARER with a token provider (Faust's `OAuthCredentials`).
#[derive(Clone)]
pub struct OAuthCredentials {
    /// Gives the tokens.
    pub oauth_cb: Arc<dyn TokenProvider>,
    /// TLS settings, for `SASL_SSL`.
    pub ssl: Option<SSLCredentials>,
}

impl OAuthCredentials {
    /// Credentials whose tokens come from `provider`, without TLS.
    pub fn new(provider: impl TokenProvider) -> Self {
        OAuthCredentials {
            oauth_cb: Arc::new(provider),
            ssl: None,
        }
    }

    /// Authenticates over TLS (`SASL_SSL`).
    pub fn with_ssl(mut self, ssl: SSLCredentials) -> Self {
        self.ssl = Some(ssl);
        self
    }
}

impl fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("oauth_cb", &"<token provider>")
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// The librdkafka properties for `credentials` (and a `kafka+ssl://` URL when `url_tls`),
/// starting with `security.protocol`; empty when there is nothing to secure. Checks the
/// credentials first: missing or inconsistent parts are an error naming them.
pub fn kafka_properties(
    credentials: Option<&Credentials>,
    url_tls: bool,
) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let Some(creds) = credentials else {
        if url_tls {
            out.push(("security.protocol", "SSL".to_string()));
            SSLCredentials::default().properties(&mut out);
        }
        return Ok(out);
    };
    let default_ssl = SSLCredentials::default();
    let ssl = creds.ssl().or(url_tls.then_some(&default_ssl));
    if let Some(s) = ssl {
        s.check()?;
    }
    let protocol = match (creds, ssl.is_some()) {
        (Credentials::Ssl(_), _) => "SSL",
        (_, true) => "SASL_SSL",
        (_, false) => "SASL_PLAINTEXT",
    };
    out.push(("security.protocol", protocol.to_string()));
    match creds {
        Credentials::Ssl(_) => {}
        Credentials::Sasl(c) => {
            let what = format!("SASLCredentials ({})", c.mechanism);
            if c.username.trim().is_empty() {
                return Err(Error::config(format!("{what}: username is missing")));
            }
            if c.password.is_empty() {
                return Err(Error::config(format!("{what}: password is missing")));
            }
            out.push(("sasl.mechanisms", c.mechanism.as_str().to_string()));
            out.push(("sasl.username", c.username.clone()));
            out.push(("sasl.password", c.password.expose().to_string()));
        }
        Credentials::Gssapi(c) => {
            let what = "GSSAPICredentials";
            if c.kerberos_service_name.trim().is_empty() {
                return Err(Error::config(format!(
                    "{what}: kerberos_service_name is missing"
                )));
            }
            if c.keytab.is_some() && c.principal.is_none() {
                return Err(Error::config(format!(
                    "{what}: a keytab is given but principal (whose keys it holds) is missing"
                )));
            }
            if let Some(k) = &c.keytab {
                check_file(what, "keytab", k)?;
            }
            out.push(("sasl.mechanisms", "GSSAPI".to_string()));
            out.push((
                "sasl.kerberos.service.name",
                c.kerberos_service_name.clone(),
            ));
            if let Some(p) = &c.principal {
                out.push(("sasl.kerberos.principal", p.clone()));
            }
            if let Some(k) = &c.keytab {
                out.push(("sasl.kerberos.keytab", k.display().to_string()));
            }
        }
        Credentials::OAuth(_) => {
            out.push(("sasl.mechanisms", "OAUTHBEARER".to_string()));
        }
    }
    if let Some(s) = ssl {
        s.properties(&mut out);
    }
    Ok(out)
}

/// The `FAUST_*` environment variables read by [`from_env`], each also with the `F_` prefix.
pub const ENV_VARS: [&str; 11] = [
    "SSL_CAFILE",
    "SSL_CERTFILE",
    "SSL_KEYFILE",
    "SSL_KEY_PASSWORD",
    "SSL_CHECK_HOSTNAME",
    "SASL_MECHANISM",
    "SASL_USERNAME",
    "SASL_PASSWORD",
    "KERBEROS_SERVICE_NAME",
    "KERBEROS_PRINCIPAL",
    "KERBEROS_KEYTAB",
];

/// Applies the credential variables to `current` (what the app set in code), reading them with
/// `var` (given a name without prefix, e.g. `SASL_USERNAME`; it returns the value of
/// `FAUST_SASL_USERNAME` or `F_SASL_USERNAME`):
///
/// - `FAUST_SASL_MECHANISM` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `GSSAPI`), with
///   `FAUST_SASL_USERNAME` and `FAUST_SASL_PASSWORD`, or `FAUST_KERBEROS_SERVICE_NAME`,
///   `FAUST_KERBEROS_PRINCIPAL`, `FAUST_KERBEROS_KEYTAB` for GSSAPI, replace the credentials
///   (a username alone means PLAIN, as in Faust);
/// - `FAUST_SSL_CAFILE`, `FAUST_SSL_CERTFILE`, `FAUST_SSL_KEYFILE`, `FAUST_SSL_KEY_PASSWORD`,
///   `FAUST_SSL_CHECK_HOSTNAME` (`true`/`false`) set the TLS part of those credentials, or
///   make TLS-only credentials when there are none.
///
/// OAUTHBEARER needs a token provider and so is set in code; `FAUST_SSL_*` adds TLS to it.
pub fn from_env(
    current: Option<Credentials>,
    var: impl Fn(&str) -> Result<Option<String>>,
) -> Result<Option<Credentials>> {
    let get = |name: &str| var(name);
    let mechanism = get("SASL_MECHANISM")?;
    let username = get("SASL_USERNAME")?;
    let password = get("SASL_PASSWORD")?;
    let service = get("KERBEROS_SERVICE_NAME")?;
    let principal = get("KERBEROS_PRINCIPAL")?;
    let keytab = get("KERBEROS_KEYTAB")?;
    let kerberos = service.is_some() || principal.is_some() || keytab.is_some();

    let mut creds = current;
    let mech = mechanism.as_deref().map(|m| m.trim().to_ascii_uppercase());
    match mech.as_deref() {
        Some("GSSAPI") => {
            if username.is_some() || password.is_some() {
                return Err(Error::config(
                    "FAUST_SASL_MECHANISM=GSSAPI takes FAUST_KERBEROS_* variables (--kerberos-*), not FAUST_SASL_USERNAME / FAUST_SASL_PASSWORD (--sasl-username, --sasl-password-file)",
                ));
            }
            creds = Some(Credentials::Gssapi(gssapi_from(service, principal, keytab)));
        }
        Some("OAUTHBEARER") if !matches!(creds, Some(Credentials::OAuth(_))) => {
            return Err(Error::config(
                "FAUST_SASL_MECHANISM=OAUTHBEARER needs a token provider: set OAuthCredentials in code",
            ));
        }
        Some("OAUTHBEARER") => {}
        _ if kerberos && mechanism.is_none() && username.is_none() => {
            creds = Some(Credentials::Gssapi(gssapi_from(service, principal, keytab)));
        }
        _ if mechanism.is_some() || username.is_some() || password.is_some() => {
            if kerberos {
                return Err(Error::config(
                    "FAUST_KERBEROS_* variables (--kerberos-*) are set with a username/password SASL mechanism: set FAUST_SASL_MECHANISM=GSSAPI (--sasl-mechanism GSSAPI) or unset them",
                ));
            }
            let mechanism = match &mechanism {
                Some(m) => SASLMechanism::parse(m)?,
                None => SASLMechanism::Plain,
            };
            let username = username.ok_or_else(|| {
                Error::config(format!(
                    "SASL ({mechanism}) from the environment or command line: FAUST_SASL_USERNAME (or --sasl-username) is missing"
                ))
            })?;
            let password = password.ok_or_else(|| {
                Error::config(format!(
                    "SASL ({mechanism}) from the environment or command line: FAUST_SASL_PASSWORD (or --sasl-password-file) is missing"
                ))
            })?;
            creds = Some(Credentials::Sasl(SASLCredentials::new(
                mechanism, username, password,
            )));
        }
        _ => {}
    }

    let cafile = get("SSL_CAFILE")?;
    let certfile = get("SSL_CERTFILE")?;
    let keyfile = get("SSL_KEYFILE")?;
    let key_password = get("SSL_KEY_PASSWORD")?;
    let check_hostname = match get("SSL_CHECK_HOSTNAME")? {
        None => None,
        Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(Error::config(format!(
                    "FAUST_SSL_CHECK_HOSTNAME='{v}' is not true or false"
                )))
            }
        }),
    };
    if cafile.is_none()
        && certfile.is_none()
        && keyfile.is_none()
        && key_password.is_none()
        && check_hostname.is_none()
    {
        return Ok(creds);
    }
    let apply = |mut s: SSLCredentials| {
        if let Some(v) = &cafile {
            s.cafile = Some(PathBuf::from(v));
        }
        if let Some(v) = &certfile {
            s.certfile = Some(PathBuf::from(v));
        }
        if let Some(v) = &keyfile {
            s.keyfile = Some(PathBuf::from(v));
        }
        if let Some(v) = &key_password {
            s.password = Some(Secret::new(v.clone()));
        }
        if let Some(v) = check_hostname {
            s.check_hostname = v;
        }
        s
    };
    Ok(Some(match creds {
        None => Credentials::Ssl(apply(SSLCredentials::default())),
        Some(Credentials::Ssl(s)) => Credentials::Ssl(apply(s)),
        Some(mut c) => {
            if let Some(slot) = c.ssl_slot() {
                *slot = Some(apply(slot.take().unwrap_or_default()));
            }
            c
        }
    }))
}

fn gssapi_from(
    service: Option<String>,
    principal: Option<String>,
    keytab: Option<String>,
) -> GSSAPICredentials {
    let mut g = GSSAPICredentials::default();
    if let Some(s) = service {
        g.kerberos_service_name = s;
    }
    g.principal = principal;
    g.keytab = keytab.map(PathBuf::from);
    g
}

/// Turns librdkafka's text for a failed TLS handshake or SASL authentication into a message
/// naming the cause; `None` when `reason` is not about either.
pub fn explain_auth_failure(reason: &str) -> Option<String> {
    let r = reason.to_ascii_lowercase();
    let cause = if r.contains("certificate has expired") || r.contains("certificate expired") {
        "the broker's TLS certificate has expired (or is not yet valid)"
    } else if r.contains("certificate verify failed") || r.contains("unable to get local issuer") {
        "the broker's TLS certificate is not signed by a trusted CA: check SSLCredentials.cafile (FAUST_SSL_CAFILE)"
    } else if r.contains("hostname") && r.contains("mismatch") || r.contains("ip address mismatch")
    {
        "the broker's TLS certificate does not name the host connected to (hostname verification)"
    } else if r.contains("alert certificate required") {
        "the broker requires a client certificate: set SSLCredentials certfile and keyfile (FAUST_SSL_CERTFILE, FAUST_SSL_KEYFILE)"
    } else if r.contains("alert unknown ca")
        || r.contains("alert bad certificate")
        || r.contains("alert certificate unknown")
        || r.contains("alert certificate expired")
    {
        "the broker refused the client certificate (not signed by a CA it trusts, or expired)"
    } else if r.contains("ssl.key.location") || r.contains("bad decrypt") {
        "the client key cannot be read: wrong key password or not a PEM private key"
    } else if r.contains("ssl.certificate.location") {
        "the client certificate cannot be read (not a PEM certificate?)"
    } else if r.contains("ssl.ca.location") {
        "the CA file cannot be read (not a PEM certificate?)"
    } else if r.contains("wrong version number")
        || r.contains("packet length too long")
        || r.contains("record layer failure")
    {
        "the broker does not speak TLS on this port (use kafka:// or drop the SSL credentials)"
    } else if r.contains("sasl")
        && (r.contains("authentication failed")
            || r.contains("invalid")
            || r.contains("unknown-user")
            || r.contains("unknown user")
            || r.contains("credentials"))
    {
        "SASL authentication failed: wrong username or password (or an unknown user) for the mechanism"
    } else if r.contains("nosharedmechanism")
        || r.contains("unsupported sasl mechanism")
        || r.contains("no provider for sasl mechanism")
    {
        "the SASL mechanism is not supported by the broker or by this build of librdkafka"
    } else if r.contains("ssl handshake failed") || r.contains("ssl routines") {
        "the TLS handshake with the broker failed"
    } else if r.contains("authentication") {
        "authentication with the broker failed"
    } else {
        return None;
    };
    Some(format!("{cause} ({reason})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn props(c: &Credentials, tls: bool) -> HashMap<&'static str, String> {
        kafka_properties(Some(c), tls)
            .unwrap()
            .into_iter()
            .collect()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| Ok(map.get(name).cloned())
    }

    #[test]
    fn protocol_follows_from_what_is_given() {
        assert!(kafka_properties(None, false).unwrap().is_empty());
        let p: HashMap<_, _> = kafka_properties(None, true).unwrap().into_iter().collect();
        assert_eq!(p["security.protocol"], "SSL");
        assert_eq!(p["ssl.endpoint.identification.algorithm"], "https");

        let sasl = SASLCredentials::new(SASLMechanism::ScramSha256, "u", "pw");
        let p = props(&sasl.clone().into(), false);
        assert_eq!(p["security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(p["sasl.mechanisms"], "SCRAM-SHA-256");
        assert_eq!(p["sasl.username"], "u");
        assert_eq!(p["sasl.password"], "pw");
        assert!(!p.contains_key("ssl.endpoint.identification.algorithm"));
        assert_eq!(
            props(&sasl.clone().into(), true)["security.protocol"],
            "SASL_SSL"
        );
        let p = props(
            &sasl
                .with_ssl(SSLCredentials::new().check_hostname(false))
                .into(),
            false,
        );
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["ssl.endpoint.identification.algorithm"], "none");

        let oauth = OAuthCredentials::new(|| -> std::result::Result<OAuthToken, BoxError> {
            Err("unused".into())
        });
        let p = props(&oauth.into(), false);
        assert_eq!(p["security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(p["sasl.mechanisms"], "OAUTHBEARER");
    }

    #[test]
    fn ssl_files_map_to_locations() {
        let dir = std::env::temp_dir().join(format!("faust-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "c.pem", "c.key"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let s = SSLCredentials::new()
            .cafile(dir.join("ca.pem"))
            .client_cert(dir.join("c.pem"), dir.join("c.key"))
            .key_password("kp");
        let p = props(&s.into(), false);
        assert_eq!(p["security.protocol"], "SSL");
        assert_eq!(
            p["ssl.ca.location"],
            dir.join("ca.pem").display().to_string()
        );
        assert_eq!(
            p["ssl.certificate.location"],
            dir.join("c.pem").display().to_string()
        );
        assert_eq!(
            p["ssl.key.location"],
            dir.join("c.key").display().to_string()
        );
        assert_eq!(p["ssl.key.password"], "kp");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gssapi_maps_to_kerberos_properties() {
        let dir = std::env::temp_dir().join(format!("faust-krb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.keytab"), "x").unwrap();
        let g = GSSAPICredentials::new()
            .service_name("kafka-svc")
            .keytab("app@EXAMPLE.COM", dir.join("app.keytab"));
        let p = props(&g.into(), false);
        assert_eq!(p["security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(p["sasl.mechanisms"], "GSSAPI");
        assert_eq!(p["sasl.kerberos.service.name"], "kafka-svc");
        assert_eq!(p["sasl.kerberos.principal"], "app@EXAMPLE.COM");
        assert_eq!(
            p["sasl.kerberos.keytab"],
            dir.join("app.keytab").display().to_string()
        );
        let p = props(&GSSAPICredentials::new().into(), false);
        assert_eq!(p["sasl.kerberos.service.name"], "kafka");
        assert!(!p.contains_key("sasl.kerberos.keytab"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_parts_are_errors_naming_them() {
        let err = |c: Credentials| kafka_properties(Some(&c), false).unwrap_err().to_string();
        let e = err(SASLCredentials::new(SASLMechanism::Plain, "", "pw").into());
        assert!(e.contains("username is missing"), "{e}");
        let e = err(SASLCredentials::new(SASLMechanism::ScramSha512, "u", "").into());
        assert!(
            e.contains("SCRAM-SHA-512") && e.contains("password is missing"),
            "{e}"
        );
        let mut s = SSLCredentials::new();
        s.certfile = Some("/nonexistent/c.pem".into());
        let e = err(s.into());
        assert!(e.contains("keyfile") && e.contains("missing"), "{e}");
        let mut s = SSLCredentials::new();
        s.keyfile = Some("/nonexistent/c.key".into());
        assert!(err(s.into()).contains("certfile"));
        let mut s = SSLCredentials::new();
        s.password = Some("x".into());
        assert!(err(s.into()).contains("keyfile is missing"));
        let e = err(SSLCredentials::new().cafile("/nonexistent/ca.pem").into());
        assert!(
            e.contains("cafile '/nonexistent/ca.pem' cannot be read"),
            "{e}"
        );
        let mut g = GSSAPICredentials::new();
        g.keytab = Some("/nonexistent/k".into());
        assert!(err(g.into()).contains("principal"));
        let e = err(GSSAPICredentials::new().service_name(" ").into());
        assert!(e.contains("kerberos_service_name is missing"), "{e}");
    }

    #[test]
    fn environment_builds_credentials() {
        let c = from_env(
            None,
            env(&[
                ("SASL_MECHANISM", "scram_sha_256"),
                ("SASL_USERNAME", "u"),
                ("SASL_PASSWORD", "pw"),
                ("SSL_CHECK_HOSTNAME", "false"),
            ]),
        )
        .unwrap()
        .unwrap();
        let p = props(&c, false);
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanisms"], "SCRAM-SHA-256");
        assert_eq!(p["ssl.endpoint.identification.algorithm"], "none");

        // A username alone means PLAIN (Faust's default mechanism).
        let c = from_env(
            None,
            env(&[("SASL_USERNAME", "u"), ("SASL_PASSWORD", "pw")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(props(&c, false)["sasl.mechanisms"], "PLAIN");

        let c = from_env(
            None,
            env(&[("SASL_MECHANISM", "GSSAPI"), ("KERBEROS_SERVICE_NAME", "k")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(props(&c, false)["sasl.kerberos.service.name"], "k");

        // TLS variables add TLS to credentials set in code.
        let code: Credentials =
            OAuthCredentials::new(|| -> std::result::Result<OAuthToken, BoxError> {
                Err("unused".into())
            })
            .into();
        let c = from_env(Some(code), env(&[("SSL_CHECK_HOSTNAME", "no")]))
            .unwrap()
            .unwrap();
        assert!(matches!(c, Credentials::OAuth(_)));
        assert_eq!(props(&c, false)["security.protocol"], "SASL_SSL");

        assert!(from_env(None, env(&[])).unwrap().is_none());
    }

    #[test]
    fn environment_with_missing_parts_is_an_error_naming_them() {
        let e = |pairs: &[(&str, &str)]| from_env(None, env(pairs)).unwrap_err().to_string();
        assert!(e(&[("SASL_USERNAME", "u")])
            .contains("FAUST_SASL_PASSWORD (or --sasl-password-file) is missing"));
        assert!(e(&[("SASL_PASSWORD", "p")])
            .contains("FAUST_SASL_USERNAME (or --sasl-username) is missing"));
        assert!(e(&[("SASL_MECHANISM", "MD5")]).contains("unknown SASL mechanism 'MD5'"));
        assert!(e(&[("SASL_MECHANISM", "OAUTHBEARER")]).contains("token provider"));
        assert!(e(&[("SSL_CHECK_HOSTNAME", "maybe")]).contains("FAUST_SSL_CHECK_HOSTNAME"));
        assert!(
            e(&[("SASL_MECHANISM", "GSSAPI"), ("SASL_USERNAME", "u"),]).contains("FAUST_KERBEROS_")
        );
    }

    #[test]
    fn librdkafka_failures_are_explained() {
        let ex = |s: &str| explain_auth_failure(s).unwrap();
        assert!(ex("SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified").contains("not signed by a trusted CA"));
        assert!(ex("SSL handshake failed: ... certificate has expired").contains("expired"));
        assert!(ex(
            "SASL SCRAM-SHA-256 mechanism handshake failed: Broker: SASL Authentication failed"
        )
        .contains("wrong username or password"));
        assert!(explain_auth_failure("Connection refused").is_none());
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = SSLCredentials {
            password: Some("key-pass-123".into()),
            ..SSLCredentials::default()
        };
        let c: Credentials = SASLCredentials::new(SASLMechanism::Plain, "u", "sasl-pass-456")
            .with_ssl(s)
            .into();
        let d = format!("{c:?} {c:#?}");
        assert!(
            !d.contains("key-pass-123") && !d.contains("sasl-pass-456"),
            "{d}"
        );
        assert!(d.contains("Secret(***)"));
        assert_eq!(c.secret_values(), ["sasl-pass-456", "key-pass-123"]);
    }
}
