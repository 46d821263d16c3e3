//! Authentication against a secured Kafka-protocol broker: the quickstart flow over TLS with a
//! client certificate required, a wrong CA, an expired broker certificate, wrong SASL
//! credentials, an undecryptable client key, the OAuth token provider, and no secret in any
//! output.
//!
//! Each test starts its own broker: tansu (scripts/kafka-broker.sh bin) in memory behind a TLS
//! listener served by socat with throwaway certificates from scripts/tls-certs.sh (tansu 0.6.0
//! has `--cert`/`--key` options, but refuses to take both and then speaks no TLS). Tests fail,
//! not skip, when any of that cannot start.
#![cfg(feature = "kafka")]

mod common;

use common::{eventually, order, unique, Order};
use faust_runtime::prelude::*;
use faust_runtime::transport::credentials::{
    OAuthCredentials, OAuthToken, SASLCredentials, SASLMechanism, SSLCredentials,
};
use faust_runtime::BoxError;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

const WAIT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The throwaway CA and certificates, made once per test run.
fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("faust-auth-certs"));
        let out = Command::new(root().join("scripts/tls-certs.sh"))
            .arg(&dir)
            .output()
            .expect("cannot run scripts/tls-certs.sh");
        assert!(
            out.status.success(),
            "scripts/tls-certs.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn cert(name: &str) -> PathBuf {
    certs().join(name)
}

fn tansu_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(root().join("scripts/kafka-broker.sh"))
            .arg("bin")
            .output()
            .expect("cannot run scripts/kafka-broker.sh bin");
        assert!(
            out.status.success(),
            "scripts/kafka-broker.sh bin failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What guards the broker's listener.
#[derive(Clone, Copy)]
enum Listener {
    /// TLS with this certificate and key (file names in the certificate directory).
    Tls {
        cert: &'static str,
        key: &'static str,
        require_client_cert: bool,
    },
    /// Plain TCP through a proxy that records what the client sends.
    Recorded,
}

const TLS: Listener = Listener::Tls {
    cert: "server.pem",
    key: "server.key",
    require_client_cert: false,
};

/// tansu in memory behind a TLS terminator (or a recording proxy); stopped when dropped.
struct Broker {
    children: Vec<Child>,
    port: u16,
    recorded: Arc<Mutex<Vec<u8>>>,
    log: PathBuf,
}

impl Broker {
    fn start(listener: Listener, sasl_required: bool) -> Broker {
        let inner = free_port();
        let outer = free_port();
        let log = std::env::temp_dir().join(unique("faust-auth-broker") + ".log");
        let logf = std::fs::File::create(&log).unwrap();
        let mut tansu = Command::new(tansu_bin());
        tansu
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{inner}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{outer}"))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .stdout(logf.try_clone().unwrap())
            .stderr(logf.try_clone().unwrap());
        if sasl_required {
            tansu.arg("--authentication");
        }
        let mut children = vec![tansu.spawn().expect("cannot start tansu")];
        let recorded = Arc::new(Mutex::new(Vec::new()));
        match listener {
            Listener::Tls {
                cert: c,
                key,
                require_client_cert,
            } => {
                let spec = format!(
                    "OPENSSL-LISTEN:{outer},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify={}",
                    cert(c).display(),
                    cert(key).display(),
                    cert("ca.pem").display(),
                    u8::from(require_client_cert)
                );
                let socat = Command::new("socat")
                    .arg(spec)
                    .arg(format!("TCP:127.0.0.1:{inner}"))
                    .stdout(logf.try_clone().unwrap())
                    .stderr(logf)
                    .spawn()
                    .expect("cannot start socat (the TLS listener): apt-get install socat");
                children.push(socat);
            }
            Listener::Recorded => {
                let l = TcpListener::bind(("127.0.0.1", outer)).unwrap();
                let rec = recorded.clone();
                std::thread::spawn(move || record_proxy(l, inner, rec));
            }
        }
        let mut b = Broker {
            children,
            port: outer,
            recorded,
            log,
        };
        b.wait_ready(inner);
        b
    }

    fn wait_ready(&mut self, inner: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in [inner, self.port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                for c in &mut self.children {
                    if let Ok(Some(status)) = c.try_wait() {
                        panic!(
                            "the secured test broker exited ({status}): {}",
                            std::fs::read_to_string(&self.log).unwrap_or_default()
                        );
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "the secured test broker did not listen on {port} within 30 s: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn url(&self) -> String {
        format!("kafka://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Forwards connections to `inner`, keeping a copy of every byte the clients send.
fn record_proxy(l: TcpListener, inner: u16, rec: Arc<Mutex<Vec<u8>>>) {
    for client in l.incoming() {
        let Ok(client) = client else { return };
        let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", inner)) else {
            continue;
        };
        let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (mut s_read, mut c_write) = (server, client);
        let rec = rec.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match std::io::Read::read(&mut c_read, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        rec.lock().unwrap().extend_from_slice(&buf[..n]);
                        if s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = s_write.shutdown(std::net::Shutdown::Both);
        });
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut s_read, &mut c_write);
            let _ = c_write.shutdown(std::net::Shutdown::Both);
        });
    }
}

/// Everything the runtime and librdkafka log, at every level, for the redaction checks.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        struct W(&'static Mutex<Vec<u8>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || W(buf))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
}

fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

fn app_with(url: &str, module: &str, f: impl FnOnce(&mut faust_runtime::Settings)) -> App {
    captured_logs();
    App::builder(unique("kauth"))
        .broker(url)
        .include_module(module_path!().to_string() + "::" + module)
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .configure(|s| {
            // Long enough that a failure before it is the credentials' doing, not the timeout.
            s.broker_connect_timeout = Duration::from_secs(45);
            f(s);
        })
        .build()
        .unwrap()
}

/// Starts the app and expects it to fail quickly (well before the connect timeout) with an
/// error whose text contains `cause`; returns the error text.
async fn start_fails_with(app: &App, cause: &str) -> String {
    let started = Instant::now();
    let err = match app.start().await {
        Ok(()) => panic!("the app started, but should have failed with '{cause}'"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(text.contains(cause), "expected '{cause}' in: {text}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: retried until the timeout instead of failing on the cause",
        started.elapsed()
    );
    text
}

mod flow {
    use super::*;

    pub static CONFIRMED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "kauth-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    #[topic(name = "kauth-confirmed", key = String, value = u64, partitions = 2)]
    pub struct Confirmed;

    #[agent(Orders)]
    async fn process(mut events: Events<Orders>) -> Result<()> {
        while let Some(ev) = events.next().await {
            Confirmed
                .send(ev.key.unwrap_or_default(), ev.value.id)
                .await?;
        }
        Ok(())
    }

    #[agent(Confirmed)]
    async fn confirm(mut events: Events<Confirmed>) -> Result<()> {
        while let Some(ev) = events.next().await {
            CONFIRMED
                .lock()
                .unwrap()
                .push((ev.key.unwrap_or_default(), ev.value));
        }
        Ok(())
    }
}

/// One quiet agent: for apps that are only to connect (or fail to).
mod idle {
    use super::*;

    #[topic(name = "kauth-idle", key = String, value = u64, partitions = 1)]
    pub struct Idle;

    #[agent(Idle)]
    async fn ignore(mut events: Events<Idle>) -> Result<()> {
        while events.next().await.is_some() {}
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_flow_runs_over_tls_with_a_client_certificate() {
    let broker = Broker::start(
        Listener::Tls {
            cert: "server.pem",
            key: "server.key",
            require_client_cert: true,
        },
        false,
    );
    let key_password = std::fs::read_to_string(cert("client-key-password.txt")).unwrap();
    let key_password = key_password.trim();
    let ssl = SSLCredentials::new()
        .cafile(cert("ca.pem"))
        .client_cert(cert("client.pem"), cert("client-enc.key"))
        .key_password(key_password);
    let app = app_with(&broker.url(), "flow", |s| {
        s.kafka.broker_credentials = Some(ssl.into());
    });
    app.start().await.unwrap();
    let orders = flow::Orders.on(&app);
    for id in 0..20u64 {
        orders
            .send_and_wait(format!("order-{id}"), order(id))
            .await
            .unwrap();
    }
    assert!(
        eventually(WAIT, || flow::CONFIRMED.lock().unwrap().len() >= 20).await,
        "confirmed {} of 20",
        flow::CONFIRMED.lock().unwrap().len()
    );
    let mut got = flow::CONFIRMED.lock().unwrap().clone();
    got.sort_by_key(|(_, id)| *id);
    let expected: Vec<(String, u64)> = (0..20).map(|id| (format!("order-{id}"), id)).collect();
    assert_eq!(got, expected);
    app.stop().await.unwrap();
    assert_eq!(app.health().transport.errors, 0, "{:?}", app.health());
    let everything = format!("{:?}\n{:?}\n{}", app.settings(), app.health(), logs_text());
    assert!(everything.contains("app started"), "the logs were captured");
    assert!(
        !everything.contains(key_password),
        "the key password was printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ssl_url_uses_tls_and_a_broker_requiring_a_client_certificate_refuses_none() {
    let broker = Broker::start(
        Listener::Tls {
            cert: "server.pem",
            key: "server.key",
            require_client_cert: true,
        },
        false,
    );
    // kafka+ssl:// alone means TLS with the system's CAs, which do not know the test CA.
    let url = format!("kafka+ssl://127.0.0.1:{}", broker.port);
    let app = app_with(&url, "idle", |_| {});
    start_fails_with(&app, "not signed by a trusted CA").await;
    // The right CA but no client certificate: the broker ends the handshake.
    let app = app_with(&url, "idle", |s| {
        s.kafka.broker_credentials = Some(SSLCredentials::new().cafile(cert("ca.pem")).into());
    });
    start_fails_with(&app, "the broker requires a client certificate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_fails_naming_the_cause() {
    let broker = Broker::start(TLS, false);
    let app = app_with(&broker.url(), "idle", |s| {
        s.kafka.broker_credentials =
            Some(SSLCredentials::new().cafile(cert("other-ca.pem")).into());
    });
    let text = start_fails_with(&app, "not signed by a trusted CA").await;
    assert!(text.contains("cafile"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_broker_certificate_fails_naming_the_cause() {
    let broker = Broker::start(
        Listener::Tls {
            cert: "expired.pem",
            key: "expired.key",
            require_client_cert: false,
        },
        false,
    );
    let app = app_with(&broker.url(), "idle", |s| {
        s.kafka.broker_credentials = Some(SSLCredentials::new().cafile(cert("ca.pem")).into());
    });
    let text = start_fails_with(&app, "certificate has expired").await;
    // The validity dates, read by the runtime's own handshake.
    assert!(text.contains("until Jan  2 00:00:00 2020 GMT"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_password_fails_at_startup_naming_the_cause() {
    let ssl = SSLCredentials::new()
        .cafile(cert("ca.pem"))
        .client_cert(cert("client.pem"), cert("client-enc.key"))
        .key_password("not-the-key-password");
    // Never reaches a broker: the key is read when the first client is created.
    let app = app_with("kafka://127.0.0.1:9", "idle", |s| {
        s.kafka.broker_credentials = Some(ssl.into());
    });
    start_fails_with(&app, "wrong key password").await;
}

/// The secret every redaction check searches for.
fn secret() -> String {
    unique("S3cret-pw")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sasl_password_fails_naming_the_cause_and_prints_no_secret() {
    let broker = Broker::start(TLS, true);
    let password = secret();
    let creds = SASLCredentials::new(SASLMechanism::ScramSha256, "faust", password.as_str())
        .with_ssl(SSLCredentials::new().cafile(cert("ca.pem")));
    let app = app_with(&broker.url(), "idle", |s| {
        s.kafka.broker_credentials = Some(creds.into());
        // A secret in the raw property maps too.
        s.kafka
            .producer
            .insert("ssl.key.password".into(), password.clone());
    });
    let started = Instant::now();
    let err = app
        .start()
        .await
        .expect_err("wrong credentials must not connect");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("SASL authentication failed"),
        "expected the cause in: {text}"
    );
    let everything = format!(
        "{text}\n{err:?}\n{:?}\n{:#?}\n{:?}\n{}",
        app.settings(),
        app.settings(),
        app.health(),
        logs_text()
    );
    assert!(
        everything.contains("127.0.0.1"),
        "the output checked is not empty"
    );
    assert!(
        !everything.contains(&password),
        "the password was printed: {everything}"
    );
}

#[test]
fn broker_url_password_is_never_printed() {
    captured_logs();
    let password = secret();
    let url = format!("kafka://app:{password}@127.0.0.1:9");
    // Credentials belong in broker_credentials: a URL with userinfo is refused, masked.
    let err = App::builder(unique("kauth"))
        .broker(&url)
        .build()
        .expect_err("a URL with a password is refused");
    let settings = faust_runtime::Settings {
        broker: url,
        ..Default::default()
    };
    let everything = format!("{err}\n{err:?}\n{settings:?}\n{}", logs_text());
    assert!(everything.contains("app:***@127.0.0.1"), "{everything}");
    assert!(everything.contains("broker_credentials"), "{everything}");
    assert!(!everything.contains(&password), "{everything}");
}

/// tansu speaks OAUTHBEARER when it requires authentication but has no way to validate a
/// token, so it refuses every one: what is checked here is the client side, that the provider
/// is asked, that its token is what goes to the broker, and that a new one is asked for before
/// the first expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_provider_is_called_its_token_sent_and_refreshed_before_expiry() {
    let broker = Broker::start(Listener::Recorded, true);
    let token = unique("faust-oauth-token");
    // (asked at, expiry given) of every call.
    let calls: Arc<Mutex<Vec<(SystemTime, SystemTime)>>> = Arc::default();
    let (c, t) = (calls.clone(), token.clone());
    let provider = move || -> std::result::Result<OAuthToken, BoxError> {
        let now = SystemTime::now();
        // librdkafka asks for a new token once 80% of its lifetime is over (checking once a
        // second): about 5 s from now, before it expires.
        let expires_at = now + Duration::from_secs(6);
        c.lock().unwrap().push((now, expires_at));
        Ok(OAuthToken {
            value: t.as_str().into(),
            principal: "faust-app".into(),
            expires_at,
        })
    };
    let app = app_with(&broker.url(), "idle", |s| {
        s.kafka.broker_credentials = Some(OAuthCredentials::new(provider).into());
    });
    let text = start_fails_with(&app, "SASL authentication failed").await;
    let sent = |needle: &[u8]| {
        broker
            .recorded
            .lock()
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    };
    assert!(sent(b"OAUTHBEARER"), "no OAUTHBEARER handshake was sent");
    assert!(
        sent(format!("auth=Bearer {token}").as_bytes()),
        "the provider's token was not sent"
    );
    assert!(
        eventually(Duration::from_secs(20), || calls.lock().unwrap().len() >= 2).await,
        "the token was not refreshed ({} calls)",
        calls.lock().unwrap().len()
    );
    let calls = calls.lock().unwrap().clone();
    assert!(
        calls[1].0 < calls[0].1,
        "the second token was asked for after the first expired: {calls:?}"
    );
    drop(app);
    let everything = format!("{text}\n{}", logs_text());
    assert!(!everything.contains(&token), "the token was printed");
}
