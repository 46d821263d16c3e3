#!/usr/bin/env bash
# The one test command: formatting, lints, and every test of the workspace (unit, compile-fail UI
# tests, embedded-broker tests, the Kafka integration tests and the fault suite) against a local
# Kafka-protocol broker that this script installs (into .tools/), starts and stops again, and the
# dashboard test in headless Chromium (Debian's `chromium`, installed with apt-get when missing).
#
#   scripts/test.sh                 everything
#   scripts/test.sh -- ARGS         extra arguments for `cargo test` (e.g. a test name filter)
#
# FAUST_TEST_KAFKA=kafka://host:port uses that broker instead of starting one.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

extra=()
if [[ "${1:-}" == "--" ]]; then
    shift
    extra=("$@")
fi

# rdkafka is built with TLS (its `ssl` feature) against the system OpenSSL: that needs its
# headers (libssl-dev) and pkg-config; the secured-broker tests make throwaway certificates with
# the openssl command (scripts/tls-certs.sh) and serve TLS in front of the test broker with socat
# (tests/kafka_auth.rs). A fresh machine gets them from Debian.
missing=()
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v socat >/dev/null 2>&1 || missing+=(socat)
if (( ${#missing[@]} )); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

started_broker=0
cleanup() {
    if [[ "$started_broker" == 1 ]]; then
        scripts/kafka-broker.sh stop || true
    fi
}
trap cleanup EXIT INT TERM

if [[ -z "${FAUST_TEST_KAFKA:-}" ]]; then
    if scripts/kafka-broker.sh status >/dev/null 2>&1; then
        echo "test.sh: using the broker already running: $(scripts/kafka-broker.sh status)" >&2
    else
        scripts/kafka-broker.sh start
        started_broker=1
    fi
    eval "$(scripts/kafka-broker.sh env)"
fi
export FAUST_TEST_KAFKA
unset FAUST_SKIP_KAFKA
echo "test.sh: Kafka tests run against $FAUST_TEST_KAFKA" >&2

step() { echo "test.sh: $*" >&2; }

# The dashboard test drives headless Chromium: Debian's `chromium`, installed here when missing.
if [[ "${FAUST_SKIP_BROWSER:-}" != 1 && -z "${FAUST_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        step "installing chromium (apt-get) for the dashboard test"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        step "error: the dashboard test needs Chromium: apt-get install chromium (as root), set FAUST_CHROMIUM=/path/to/chromium, or FAUST_SKIP_BROWSER=1 to skip it"
        exit 1
    fi
fi

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --workspace --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "cargo test --workspace"
log="$(mktemp)"
set +e
cargo test --workspace --no-fail-fast "${extra[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One closing line for the whole run, summed over every test binary and doc-test run.
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
rm -f "$log"
cleanup
started_broker=0
if [[ "$status" != 0 ]]; then
    step "cargo test failed"
    echo "tests: ${passed} passed, ${failed} failed"
    exit "$status"
fi
step "all checks passed"
echo "tests: ${passed} passed, ${failed} failed"
