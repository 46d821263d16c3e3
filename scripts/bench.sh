#!/usr/bin/env bash
# The benchmark of faust-rs against raw clients (see BENCHMARKS.md):
#
#   scripts/bench.sh [faust-bench options]
#
# Builds the `faust-bench` binary in release mode, starts the local Kafka-protocol test broker
# (scripts/kafka-broker.sh) unless one is already running, runs every case in interleaved
# repetitions and prints the figures as Markdown, then stops the broker if it started it.
#
# Options are passed to `faust-bench run`, e.g.:
#   --reps 5                  repetitions of every case (default 3)
#   --records 1000000         records of the Kafka and embedded-broker cases
#   --channel-records 10000000
#   --only memory-topic,channel   groups: kafka-consume, kafka-produce, kafka-forward, memory-topic, channel
#
# Environment:
#   FAUST_BENCH_BROKER=kafka://host:port   use this broker instead of the script's test broker
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { echo "bench: $*" >&2; }

say "building faust-bench (release)"
cargo build --release --quiet -p faust-bench
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/faust-bench"
[[ -x "$BIN" ]] || { say "error: $BIN was not built"; exit 1; }

started=0
cleanup() {
    if [[ "$started" == 1 ]]; then
        scripts/kafka-broker.sh stop || true
    fi
}
trap cleanup EXIT

broker="${FAUST_BENCH_BROKER:-}"
if [[ -z "$broker" ]]; then
    if ! scripts/kafka-broker.sh status >/dev/null 2>&1; then
        scripts/kafka-broker.sh start
        started=1
    fi
    broker="$(cat "$ROOT/.tools/tansu.url")"
fi
say "broker $broker"

"$BIN" run --broker "$broker" "$@"
