//! The command line as a user meets it, one process per case: the exit-code rule (2 for bad
//! arguments and configuration, 1 for failures while running, 130 for a forced stop), logs
//! without colour codes when stderr is not a terminal, the banner, credentials appearing
//! nowhere in the output, the listing commands' JSON, and SIGINT/SIGTERM handling.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// A running example with its output collected line by line.
struct Proc {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    r: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl Proc {
    fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(common::example_binary(name));
        cmd.args(args)
            .env_remove("FAUST_BROKER")
            .env_remove("RUST_LOG")
            .env("FAUST_WEB_PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the example");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Proc {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// Waits until a line of stdout or stderr contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let until = Instant::now() + DEADLINE;
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .chain(self.stderr.lock().unwrap().iter())
                .any(|l| l.contains(needle));
            if found {
                return;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                panic!(
                    "no line with {needle:?} within {DEADLINE:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "could not signal the example");
    }

    /// Waits for the exit (failing the test past the deadline); returns status, stdout, stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let until = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                panic!("did not exit within {DEADLINE:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let out = self.stdout.lock().unwrap().join("\n");
        let err = self.stderr.lock().unwrap().join("\n");
        (status, out, err)
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let (status, out, err) = Proc::start("cli_app", args, env).finish();
    (status.code().unwrap_or(-1), out, err)
}

/// One case of the exit-code matrix: arguments, environment, exit code, what stderr says.
type ExitCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);

#[test]
fn exit_codes_follow_the_rule() {
    use std::os::unix::ffi::OsStrExt;
    let cases: &[ExitCase] = &[
        (&["--broker"], &[], 2, "a value is required for '--broker"),
        (&["--broker", ""], &[], 2, "must not be empty"),
        (
            &["--broker", "redis://localhost"],
            &[],
            2,
            "unsupported broker URL",
        ),
        (
            &["--broker", "kafka://%%%"],
            &[],
            2,
            "invalid Kafka broker URL",
        ),
        (
            &["--broker", "kafka://host:99999"],
            &[],
            2,
            "is not a number in 1..=65535",
        ),
        (&[], &[("FAUST_BROKER", "")], 2, "empty"),
        (&[], &[("FAUST_BROKER", "   ")], 2, "empty"),
        (
            &[],
            &[("FAUST_COMMIT_INTERVAL", "soon")],
            2,
            "cannot parse duration 'soon'",
        ),
        (
            &[],
            &[("FAUST_COMMIT_INTERVAL", "0")],
            2,
            "commit_interval must be greater than zero",
        ),
        (&[], &[("FAUST_WEB_PORT", "web")], 2, "--web-port"),
        (&["--web-port", "70000"], &[], 2, "--web-port"),
        (&["--loglevel", "loud"], &[], 2, "--loglevel"),
        (&["--unknown"], &[], 2, "unexpected argument '--unknown'"),
        (
            &["send", "cli-app-ticks", "\"x\""],
            &[],
            2,
            "does not fit topic 'cli-app-ticks'",
        ),
        (&["send", "nope", "1"], &[], 2, "no declared topic 'nope'"),
        (&["announce"], &[], 2, "<MESSAGE>"),
        (&["topics", "delete", "absent"], &[], 1, "absent"),
        (&["--help"], &[], 0, ""),
        (&["announce", "hi", "--times", "2"], &[], 0, ""),
    ];
    for (args, env, code, says) in cases {
        let (got, out, err) = run(args, env);
        assert_eq!(got, *code, "{args:?} {env:?}:\n{out}\n{err}");
        assert!(
            err.contains(says),
            "{args:?} {env:?}: stderr lacks {says:?}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?} {env:?}:\n{err}");
    }
    // A non-UTF-8 value in the environment is an error too, not ignored.
    let mut cmd = Command::new(common::example_binary("cli_app"));
    cmd.env("FAUST_BROKER", std::ffi::OsStr::from_bytes(b"kafka://\xff"))
        .env("FAUST_WEB_PORT", "0")
        .arg("agents")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("FAUST_BROKER is not valid UTF-8"),
        "the error names the variable: {stderr}"
    );

    let (_, help, _) = run(&["--help"], &[]);
    assert!(
        help.contains(
            "Exit codes: 0 clean stop, 1 failure while running, 2 bad arguments or configuration"
        ),
        "{help}"
    );
    let (_, out, _) = run(&["announce", "hi", "--times", "2"], &[]);
    assert_eq!(out.matches("cli-app: hi").count(), 2, "{out}");
}

#[test]
fn listings_print_json() {
    let (code, out, err) = run(&["agents", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v[0]["name"], "print_ticks");
    assert_eq!(v[0]["reads"], "cli-app-ticks");
    let (code, out, _) = run(&["timers", "--json"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["interval_ms"], 100);
    let (code, out, _) = run(&["graph", "--format", "dot"], &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"topic:cli-app-ticks\" -> \"agent:print_ticks\""),
        "{out}"
    );
    let (code, out, _) = run(&["graph", "--json"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["app"], "cli-app");
    let (code, out, _) = run(&["topics", "list", "--json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn the_banner_shows_the_web_address_bound_for_port_0() {
    use std::io::{Read, Write};
    let mut p = Proc::start(
        "cli_app",
        &["--web-port", "0", "--web-bind", "127.0.0.1"],
        &[],
    );
    p.wait_for("processed tick 0");
    let line = p
        .stderr
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.trim_start().starts_with("web "))
        .cloned()
        .unwrap_or_else(|| panic!("no web line in the banner:\n{}", p.output()));
    let addr = line
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|u| u.strip_suffix('/'))
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .unwrap_or_else(|| panic!("not an address: {line}"));
    assert_ne!(addr.port(), 0, "{line}");
    // The worker answers there.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    p.signal(libc::SIGINT);
    let (status, _, err) = p.finish();
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn tables_lists_the_tables_with_their_changelogs_and_windows() {
    let (status, out, err) = Proc::start("word_count", &["tables", "--json"], &[]).finish();
    assert_eq!(status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[0]["name"], "word-counts");
    assert_eq!(v[0]["key"], "alloc::string::String");
    assert_eq!(v[0]["value"], "u64");
    assert_eq!(v[0]["partitions"], 4);
    assert_eq!(v[0]["changelog"], "word-count-word-counts-changelog");
    assert_eq!(v[0]["window"], serde_json::Value::Null);
    assert_eq!(v[1]["name"], "words-per-minute");
    assert_eq!(v[1]["window"]["kind"], "tumbling");
    assert_eq!(v[1]["window"]["size_ms"], 60_000);
    // The version is part of the changelog's name, as in Faust.
    let (status, out, err) =
        Proc::start("word_count", &["tables"], &[("FAUST_VERSION", "3")]).finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(out.contains("word-count-v3-word-counts-changelog"), "{out}");
    assert!(out.contains("tumbling 60s"), "{out}");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_and_the_banner_says_memory_only() {
    let mut p = Proc::start("cli_app", &["-l", "info"], &[]);
    p.wait_for("processed tick 1");
    p.wait_for("INFO");
    p.signal(libc::SIGINT);
    let (status, _, err) = p.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in piped logs:\n{err:?}"
    );
    assert!(err.contains("data lives in memory only"), "{err}");
    assert!(err.contains("agents     print_ticks"), "{err}");
    assert!(err.contains("app stopped"), "{err}");
    // --json: every log line is a JSON object.
    let mut p = Proc::start("cli_app", &["--json"], &[]);
    p.wait_for("processed tick 0");
    p.wait_for("app started");
    p.signal(libc::SIGTERM);
    let (status, _, err) = p.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
}

#[test]
fn credentials_appear_nowhere_in_the_output() {
    let secret = "hunter2-very-secret";
    let url = format!("kafka://app:{secret}@127.0.0.1:1");
    for (args, env) in [
        (vec!["--broker", url.as_str()], vec![]),
        (
            vec!["-l", "debug", "agents"],
            vec![("FAUST_BROKER", url.as_str())],
        ),
        (vec!["--brokr", url.as_str()], vec![]),
        (vec!["--help"], vec![("FAUST_BROKER", url.as_str())]),
    ] {
        let (code, out, err) = run(&args, &env);
        assert_ne!(code, -1);
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{args:?}:\n{out}\n{err}"
        );
    }
}

#[test]
fn credential_options_keep_their_secrets_out_of_the_output() {
    let secret = "tiger-lily-secret-77";
    let dir = std::env::temp_dir().join(format!("faust-cli-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pw_file = dir.join("sasl-password");
    std::fs::write(&pw_file, format!("{secret}\n")).unwrap();
    let pw_file = pw_file.display().to_string();
    let missing_ca = dir.join("no-ca.pem").display().to_string();
    let sasl = [
        "--sasl-mechanism",
        "SCRAM-SHA-256",
        "--sasl-username",
        "orders",
        "--sasl-password-file",
        pw_file.as_str(),
    ];
    let check = |what: &str, out: &str, err: &str| {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{what}: the secret was printed:\n{out}\n{err}"
        );
    };

    // --help names the secured scheme and every credential option, shows no secret from the
    // environment, and offers no option taking a password itself.
    let env = [
        ("FAUST_SASL_PASSWORD", secret),
        ("FAUST_SSL_KEY_PASSWORD", secret),
    ];
    let (code, out, err) = run(&["--help"], &env);
    assert_eq!(code, 0, "{err}");
    check("--help", &out, &err);
    for needle in [
        "kafka+ssl://",
        "--ssl-cafile",
        "--ssl-certfile",
        "--ssl-keyfile",
        "--ssl-key-password-file",
        "--sasl-mechanism",
        "--sasl-username",
        "--sasl-password-file",
        "--kerberos-service-name",
        "--kerberos-keytab",
        "FAUST_SASL_PASSWORD",
    ] {
        assert!(out.contains(needle), "--help lacks {needle}:\n{out}");
    }
    assert!(!out.contains("--sasl-password "), "{out}");

    // A password as an option value is refused, and masked in the refusal.
    let (code, out, err) = run(&["worker", "--sasl-password", secret], &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    check("--sasl-password", &out, &err);
    assert!(
        err.contains("FAUST_SASL_PASSWORD or --sasl-password-file"),
        "{err}"
    );

    // Credentials with a missing part: the error names it, not the password.
    let mut args = vec![
        "-l",
        "debug",
        "topics",
        "list",
        "--broker",
        "kafka://127.0.0.1:1",
    ];
    args.extend_from_slice(&sasl);
    args.extend_from_slice(&["--ssl-cafile", missing_ca.as_str()]);
    let (code, out, err) = run(&args, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    check("a missing CA file", &out, &err);
    assert!(
        err.contains("no-ca.pem") && err.contains("cannot be read"),
        "{err}"
    );

    // The worker's banner and debug logs while it tries an unreachable broker.
    let mut args = vec!["-l", "debug", "--broker", "kafka://127.0.0.1:1"];
    args.extend_from_slice(&sasl);
    let mut p = Proc::start("cli_app", &args, &[]);
    p.wait_for("faust-rs worker");
    // The options reached the Kafka client: it speaks SASL.
    p.wait_for("sasl_plaintext://127.0.0.1:1");
    p.signal(libc::SIGINT);
    let (_, out, err) = p.finish();
    check("the worker", &out, &err);
    assert!(err.contains("kafka://127.0.0.1:1"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_finishes_the_event_in_flight_and_exits_0() {
    let mut p = Proc::start(
        "cli_app",
        &["--without-web"],
        &[("CLI_APP_WORK_MS", "1500")],
    );
    p.wait_for("processing tick 0");
    p.signal(libc::SIGTERM);
    let (status, out, err) = p.finish();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("processed tick 0"),
        "the tick in flight was not finished:\n{out}\n{err}"
    );
}

#[test]
fn a_second_signal_forces_the_exit_with_130() {
    // An agent busy for 10 minutes and a long shutdown timeout: the clean stop would wait.
    let mut p = Proc::start(
        "cli_app",
        &[],
        &[
            ("CLI_APP_WORK_MS", "600000"),
            ("FAUST_SHUTDOWN_TIMEOUT", "10m"),
        ],
    );
    p.wait_for("processing tick 0");
    p.signal(libc::SIGINT);
    p.wait_for("signal received: stopping");
    p.signal(libc::SIGINT);
    let (status, out, err) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}\n{err}");
    assert!(err.contains("second signal"), "{err}");
    assert!(!out.contains("processed tick 0"), "{out}");
}
