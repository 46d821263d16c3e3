//! The command line's broker credential options: TLS files, the SASL mechanism and username,
//! Kerberos, and the passwords as files. They feed the same rule as the `FAUST_SSL_*`,
//! `FAUST_SASL_*` and `FAUST_KERBEROS_*` variables
//! ([`crate::transport::credentials::from_env`]), an option taking the place of its variable,
//! so both end in the same typed [`Credentials`](crate::transport::credentials::Credentials).
//!
//! Passwords are not taken as option values: a command line is readable by every user of the
//! machine (`ps`, `/proc/PID/cmdline`) and is kept in shell history. They come from
//! `FAUST_SASL_PASSWORD` / `FAUST_SSL_KEY_PASSWORD`, or from a file (`--sasl-password-file`,
//! `--ssl-key-password-file`, e.g. a mounted secret); `--sasl-password VALUE` is refused with
//! that explanation, and its value masked in all output.

use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Options that would put a secret on the command line, refused before parsing, with the way
/// to give that secret instead.
pub(crate) const REFUSED: [(&str, &str); 2] = [
    (
        "--sasl-password",
        "FAUST_SASL_PASSWORD or --sasl-password-file PATH",
    ),
    (
        "--ssl-key-password",
        "FAUST_SSL_KEY_PASSWORD or --ssl-key-password-file PATH",
    ),
];

/// SASL mechanisms the command line can select (OAUTHBEARER needs a token provider in code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanismArg {
    /// PLAIN (use it over TLS: the password travels as is).
    #[value(name = "PLAIN")]
    Plain,
    /// SCRAM-SHA-256.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
    /// GSSAPI (Kerberos; see the --kerberos-* options).
    #[value(name = "GSSAPI")]
    Gssapi,
}

impl SaslMechanismArg {
    fn as_str(self) -> &'static str {
        match self {
            SaslMechanismArg::Plain => "PLAIN",
            SaslMechanismArg::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanismArg::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanismArg::Gssapi => "GSSAPI",
        }
    }
}

/// Broker credential options (every command that connects to the broker takes them). Each
/// takes the place of the `FAUST_*` variable named in its help.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Broker credentials (kafka:// and kafka+ssl://)")]
pub struct CredentialArgs {
    /// PEM file of the CA that signed the brokers' certificates (default: the system's CAs).
    /// Turns TLS on. Or FAUST_SSL_CAFILE.
    #[arg(long, alias = "ssl-ca", global = true, value_name = "PATH")]
    pub ssl_cafile: Option<PathBuf>,
    /// PEM file of the client certificate, for brokers requiring TLS client authentication
    /// (needs --ssl-keyfile). Or FAUST_SSL_CERTFILE.
    #[arg(long, alias = "ssl-cert", global = true, value_name = "PATH")]
    pub ssl_certfile: Option<PathBuf>,
    /// PEM file of the client certificate's private key. Or FAUST_SSL_KEYFILE.
    #[arg(long, alias = "ssl-key", global = true, value_name = "PATH")]
    pub ssl_keyfile: Option<PathBuf>,
    /// File holding the password of an encrypted --ssl-keyfile (one line). Or
    /// FAUST_SSL_KEY_PASSWORD; never the password itself on the command line, where other
    /// users (ps) and shell history see it.
    #[arg(long, global = true, value_name = "PATH")]
    pub ssl_key_password_file: Option<PathBuf>,
    /// Whether the broker's certificate must name the host connected to (default true). Or
    /// FAUST_SSL_CHECK_HOSTNAME.
    #[arg(long, global = true, value_name = "BOOL")]
    pub ssl_check_hostname: Option<bool>,
    /// SASL mechanism (default PLAIN when a username is given). Or FAUST_SASL_MECHANISM.
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        value_name = "MECHANISM"
    )]
    pub sasl_mechanism: Option<SaslMechanismArg>,
    /// SASL username (PLAIN, SCRAM-*). Or FAUST_SASL_USERNAME.
    #[arg(long, global = true, value_name = "NAME", value_parser = super::non_blank)]
    pub sasl_username: Option<String>,
    /// File holding the SASL password (one line). Or FAUST_SASL_PASSWORD; never the password
    /// itself on the command line, where other users (ps) and shell history see it.
    #[arg(long, global = true, value_name = "PATH")]
    pub sasl_password_file: Option<PathBuf>,
    /// Kerberos service name of the brokers (GSSAPI; default kafka). Or
    /// FAUST_KERBEROS_SERVICE_NAME.
    #[arg(long, global = true, value_name = "NAME", value_parser = super::non_blank)]
    pub kerberos_service_name: Option<String>,
    /// Kerberos principal of this client (GSSAPI). Or FAUST_KERBEROS_PRINCIPAL.
    #[arg(long, global = true, value_name = "PRINCIPAL", value_parser = super::non_blank)]
    pub kerberos_principal: Option<String>,
    /// Keytab file of --kerberos-principal (GSSAPI; default: the ticket cache). Or
    /// FAUST_KERBEROS_KEYTAB.
    #[arg(long, global = true, value_name = "PATH")]
    pub kerberos_keytab: Option<PathBuf>,
}

impl CredentialArgs {
    /// The options as the values of the variables they replace (keyed by the variable's name
    /// without prefix, as [`crate::transport::credentials::from_env`] asks for them), the
    /// password files read. An unreadable or empty password file is an error naming it.
    pub(crate) fn values(&self) -> Result<HashMap<&'static str, String>, String> {
        let mut out = HashMap::new();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let entries = [
            ("SSL_CAFILE", path(&self.ssl_cafile)),
            ("SSL_CERTFILE", path(&self.ssl_certfile)),
            ("SSL_KEYFILE", path(&self.ssl_keyfile)),
            (
                "SSL_CHECK_HOSTNAME",
                self.ssl_check_hostname.map(|b| b.to_string()),
            ),
            (
                "SASL_MECHANISM",
                self.sasl_mechanism.map(|m| m.as_str().to_string()),
            ),
            ("SASL_USERNAME", self.sasl_username.clone()),
            ("KERBEROS_SERVICE_NAME", self.kerberos_service_name.clone()),
            ("KERBEROS_PRINCIPAL", self.kerberos_principal.clone()),
            ("KERBEROS_KEYTAB", path(&self.kerberos_keytab)),
        ];
        for (name, value) in entries {
            if let Some(v) = value {
                out.insert(name, v);
            }
        }
        if let Some(p) = &self.sasl_password_file {
            out.insert("SASL_PASSWORD", read_secret("--sasl-password-file", p)?);
        }
        if let Some(p) = &self.ssl_key_password_file {
            out.insert(
                "SSL_KEY_PASSWORD",
                read_secret("--ssl-key-password-file", p)?,
            );
        }
        Ok(out)
    }
}

/// The secret in `path`: its text without the final line ending.
fn read_secret(option: &str, path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{option} '{}' cannot be read: {e}", path.display()))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.trim().is_empty() {
        return Err(format!("{option} '{}' is empty", path.display()));
    }
    Ok(value.to_string())
}

/// A refused secret option among `args`: the option, how to give the secret instead, and the
/// value given (to be masked), if any.
pub(crate) fn refused_option(
    args: &[OsString],
) -> Option<(&'static str, &'static str, Option<String>)> {
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        for (option, instead) in REFUSED {
            if a == option {
                return Some((option, instead, it.next().map(|v| v.into_owned())));
            }
            if let Some(v) = a.strip_prefix(option).and_then(|r| r.strip_prefix('=')) {
                return Some((option, instead, Some(v.to_string())));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::transport::credentials::{from_env, kafka_properties, Credentials, SASLMechanism};
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn secret_options_are_found_with_their_values() {
        assert_eq!(
            refused_option(&os(&["app", "--sasl-password", "pw1"])),
            Some((REFUSED[0].0, REFUSED[0].1, Some("pw1".into())))
        );
        assert_eq!(
            refused_option(&os(&["app", "worker", "--ssl-key-password=pw2"])),
            Some((REFUSED[1].0, REFUSED[1].1, Some("pw2".into())))
        );
        // The file options are fine, and so is anything after `--`.
        assert_eq!(
            refused_option(&os(&["app", "--sasl-password-file", "/p"])),
            None
        );
        assert_eq!(
            refused_option(&os(&["app", "cmd", "--", "--sasl-password", "x"])),
            None
        );
    }

    fn credentials(args: &[&str], env: &[(&str, &str)]) -> Result<Option<Credentials>, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let given = cli.global.credentials.values()?;
        let env: HashMap<&str, &str> = env.iter().copied().collect();
        // The rule `Settings::apply_env_with` applies, with a fake environment.
        from_env(None, |name| {
            Ok(given
                .get(name)
                .cloned()
                .or_else(|| env.get(name).map(|v| v.to_string())))
        })
        .map_err(|e| e.to_string())
    }

    fn properties(c: &Credentials) -> HashMap<&'static str, String> {
        kafka_properties(Some(c), false)
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn options_map_onto_the_typed_credentials() {
        let dir = std::env::temp_dir().join(format!("faust-cli-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "c.pem", "c.key", "app.keytab"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let file = |f: &str| dir.join(f).display().to_string();
        std::fs::write(dir.join("sasl-pw"), "sasl secret\n").unwrap();
        std::fs::write(dir.join("key-pw"), "key secret").unwrap();

        // SCRAM over TLS with a client certificate, every part from an option, on any command.
        let c = credentials(
            &[
                "app",
                "send",
                "t",
                "--sasl-mechanism",
                "scram-sha-512",
                "--sasl-username",
                "orders",
                "--sasl-password-file",
                &file("sasl-pw"),
                "--ssl-ca",
                &file("ca.pem"),
                "--ssl-certfile",
                &file("c.pem"),
                "--ssl-key",
                &file("c.key"),
                "--ssl-key-password-file",
                &file("key-pw"),
                "--ssl-check-hostname",
                "false",
            ],
            &[],
        )
        .unwrap()
        .unwrap();
        let Credentials::Sasl(sasl) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(sasl.mechanism, SASLMechanism::ScramSha512);
        assert_eq!(sasl.password.expose(), "sasl secret");
        let p = properties(&c);
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanisms"], "SCRAM-SHA-512");
        assert_eq!(p["sasl.username"], "orders");
        assert_eq!(p["ssl.ca.location"], file("ca.pem"));
        assert_eq!(p["ssl.certificate.location"], file("c.pem"));
        assert_eq!(p["ssl.key.location"], file("c.key"));
        assert_eq!(p["ssl.key.password"], "key secret");
        assert_eq!(p["ssl.endpoint.identification.algorithm"], "none");

        // Kerberos.
        let c = credentials(
            &[
                "app",
                "--sasl-mechanism",
                "GSSAPI",
                "--kerberos-service-name",
                "kafka-svc",
                "--kerberos-principal",
                "app@EXAMPLE.COM",
                "--kerberos-keytab",
                &file("app.keytab"),
            ],
            &[],
        )
        .unwrap()
        .unwrap();
        let p = properties(&c);
        assert_eq!(p["sasl.mechanisms"], "GSSAPI");
        assert_eq!(p["sasl.kerberos.service.name"], "kafka-svc");
        assert_eq!(p["sasl.kerberos.principal"], "app@EXAMPLE.COM");
        assert_eq!(p["sasl.kerberos.keytab"], file("app.keytab"));

        // An option takes the place of its variable; the others still come from the
        // environment (the password here).
        let c = credentials(
            &["app", "--sasl-username", "cli-user"],
            &[("SASL_USERNAME", "env-user"), ("SASL_PASSWORD", "pw")],
        )
        .unwrap()
        .unwrap();
        let p = properties(&c);
        assert_eq!(p["sasl.username"], "cli-user");
        assert_eq!(p["sasl.mechanisms"], "PLAIN");
        assert_eq!(p["security.protocol"], "SASL_PLAINTEXT");

        // TLS only.
        let c = credentials(&["app", "--ssl-cafile", &file("ca.pem")], &[])
            .unwrap()
            .unwrap();
        assert_eq!(properties(&c)["security.protocol"], "SSL");
        assert!(credentials(&["app"], &[]).unwrap().is_none());

        // Missing parts and bad values name the option.
        let e = credentials(&["app", "--sasl-username", "u"], &[]).unwrap_err();
        assert!(e.contains("--sasl-password-file"), "{e}");
        let e = credentials(&["app", "--sasl-mechanism", "MD5"], &[]).unwrap_err();
        assert!(e.contains("MD5") && e.contains("--sasl-mechanism"), "{e}");
        let e = credentials(&["app", "--sasl-password-file", &file("nope")], &[]).unwrap_err();
        assert!(
            e.contains("--sasl-password-file") && e.contains("cannot be read"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn password_files_lose_only_their_line_ending() {
        let dir = std::env::temp_dir().join(format!("faust-cli-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, " spaced pw \r\n").unwrap();
        assert_eq!(read_secret("--x", &f).unwrap(), " spaced pw ");
        std::fs::write(&f, "\n").unwrap();
        assert!(read_secret("--x", &f).unwrap_err().contains("is empty"));
        let e = read_secret("--x", &dir.join("missing")).unwrap_err();
        assert!(e.contains("--x") && e.contains("cannot be read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
