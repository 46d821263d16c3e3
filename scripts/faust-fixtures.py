#!/usr/bin/env python3
"""Wire fixtures from Python Faust, for faust-runtime/tests/faust_wire.rs.

Needs faust-streaming 0.15.3 with orjson (its `fast` extra), nothing else, and no broker:

    python3 -m venv /tmp/faust && /tmp/faust/bin/pip install 'faust-streaming[fast]==0.15.3'
    /tmp/faust/bin/python scripts/faust-fixtures.py generate   # rewrites the Faust fixture file
    /tmp/faust/bin/python scripts/faust-fixtures.py check      # Faust decodes what faust-rs writes

Both JSON flavours come from the one install: the stdlib flavour runs in a child process in which
`import orjson` fails, so Faust falls back to Python's `json` exactly as a plain
`pip install faust-streaming` does.

Fixture lines are `flavour<TAB>case<TAB>partition<TAB>bytes`: the bytes are the JSON text
exactly as Faust wrote it (JSON never holds a raw tab or newline), `partition` is where the
producer's default partitioner puts those bytes as a key on 8 partitions (`-` for values).

Tables (faust-runtime/tests/faust_tables.rs): `generate` also runs TABLE_OPS through Faust's own
Table / windowed Table / SetTable / GlobalTable code (each write inside a current event, the changelog record
taken where the table hands it to the producer, serialized by the changelog topic as Faust does)
and writes the records to faust-0.15.3-changelog.txt; `check` also feeds faust-rs-changelog.txt
(what the Rust tables wrote for the same operations) through the changelog topic's decoding and
`Table.apply_changelog_batch`, Faust's recovery path, and compares the recovered tables with the
ones Faust's own run of the operations left. Those lines are
`flavour<TAB>topic<TAB>partition<TAB>key<TAB>value`, value `-` for a tombstone, in topic,
partition, offset order.
"""

import datetime
import decimal
import math
import os
import subprocess
import sys
import uuid
import weakref
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "faust-runtime", "tests", "fixtures")
FAUST_WRITES = os.path.join(FIXTURES, "faust-0.15.3-writes.txt")
RUST_WRITES = os.path.join(FIXTURES, "faust-rs-writes.txt")
FAUST_CHANGELOG = os.path.join(FIXTURES, "faust-0.15.3-changelog.txt")
RUST_CHANGELOG = os.path.join(FIXTURES, "faust-rs-changelog.txt")
FLAVOURS = ("stdlib", "orjson")
PARTITIONS = 8


def load_faust(flavour):
    """Imports faust so that it encodes JSON in `flavour`."""
    if flavour == "stdlib":
        sys.modules["orjson"] = None  # `import orjson` raises ImportError
    import faust
    from faust.utils import json as fjson

    have = "orjson" if fjson.orjson is not None else "stdlib"
    if have != flavour:
        sys.exit(f"wanted the {flavour} flavour but faust uses {have}: install faust-streaming[fast]")
    return faust


def declare(faust):
    """The record classes of the fixtures, as a Faust app declares them."""

    class Order(faust.Record, namespace="app.Order"):
        id: int
        product: str
        quantity: int

    class Refund(faust.Record, namespace="app.Refund"):
        order_id: int
        amount: decimal.Decimal
        reason: str

    class Other(faust.Record, namespace="app.Other"):
        x: int

    class Key(faust.Record, namespace="app.Key"):
        name: str
        n: int

    class Text(faust.Record, namespace="app.Text"):
        name: str
        note: str

    class Misc(faust.Record, namespace="app.Misc"):
        day: datetime.date
        at: datetime.datetime
        naive: datetime.datetime
        clock: datetime.time
        nan: float
        inf: float
        ninf: float
        memo: bytes
        amount: decimal.Decimal
        id: uuid.UUID

    class Floats(faust.Record, namespace="app.Floats"):
        values: List[float]

    class Blobs(faust.Record, namespace="app.Blobs"):
        blobs: List[bytes]

    class Shipment(faust.Record, namespace="app.Shipment"):
        order: Order
        lines: List[Order]
        note: Optional[str]

    return dict(
        Order=Order, Refund=Refund, Other=Other, Key=Key, Text=Text, Misc=Misc,
        Floats=Floats, Blobs=Blobs, Shipment=Shipment,
    )


FLOATS = [1e-07, 1e-05, 0.0001, 0.1, 1.0, -0.0, 100.0, 123.456, 1e15, 1e16, 1.5e16,
          1.2345678901234568e17, 5e-324, 1.7976931348623157e308, -2.5]


def many_keys():
    """200 keys in many scripts: accents, CJK, emoji, control characters, mixed with ASCII."""
    keys = []
    for i in range(200):
        keys.append(
            "k%d-%s%s%s%s" % (
                i,
                chr(0xC0 + i % 64),           # Latin-1 letters
                chr(0x4E00 + i * 37 % 20000),  # CJK
                chr(0x1F600 + i % 80),         # emoji (a surrogate pair when escaped)
                ["", "\x7f", "\t", "\u2028", "\"", "\\", "/"][i % 7],
            )
        )
    return keys


# An event time (ms, as Kafka carries it) whose windows' bounds in seconds are not all the
# nearest floats to their milliseconds.
WINDOW_TIME_MS = 1779191672636


def window_keys():
    """Windowed table keys `(key, window_range)` as Faust's windows compute them for an event."""
    from faust.windows import HoppingWindow, SlidingWindow, TumblingWindow

    t = WINDOW_TIME_MS / 1000.0  # event.message.timestamp
    windows = [
        ("tumbling", TumblingWindow(10, expires=20)),
        ("hopping", HoppingWindow(10, 5, expires=20)),
        ("sliding", SlidingWindow(10, 0.1, 20)),
        ("sliding.even", SlidingWindow(30, 30, 3600)),
    ]
    out = []
    for name, w in windows:
        for i, r in enumerate(w.ranges(t)):
            out.append(("key.window.%s.%d" % (name, i), "key", ("apple", r)))
    return out


def cases(c):
    """(case, kind, value) for every fixture; kind is key, value, or a topic's value type."""
    misc = c["Misc"](
        day=datetime.date(2024, 1, 2),
        at=datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc),
        naive=datetime.datetime(2024, 1, 2, 3, 4, 5),
        clock=datetime.time(3, 4, 5, 250000),
        nan=float("nan"),
        inf=float("inf"),
        ninf=float("-inf"),
        memo=b"hello",
        amount=decimal.Decimal("1E-7"),
        id=uuid.UUID("6f1c1a52-2f0e-4d6b-9a43-2b1d1c3e4f50"),
    )
    out = [
        ("key.ascii", "key", "apple"),
        ("key.cafe", "key", "café"),
        ("key.tokyo", "key", "東京"),
        ("key.emoji", "key", "😀 party"),
        ("key.mixed", "key", "naïve résumé ñ ü ß ø \x7f"),
        ("key.list", "key", [1e-07, "é", True, None, 3]),
        ("key.record", "key", c["Key"](name="café", n=1)),
        ("value.text", "value", c["Text"](name="café 東京 😀", note="tab\tnew\nline \"q\" \\ \x7f \x01 \u2028")),
        ("value.misc", "value", misc),
        ("value.floats", "value", c["Floats"](values=FLOATS)),
        ("value.blobs", "value", c["Blobs"](blobs=[b"hello", b"\x00\xff'\"\\\t\n\r", b"it's", b""])),
        ("value.shipment", "value", c["Shipment"](
            order=c["Order"](id=10, product="äpple", quantity=7),
            lines=[c["Order"](id=11, product="pear", quantity=1)],
            note=None,
        )),
        ("poly.order", "value", c["Order"](id=1, product="café", quantity=2)),
        ("poly.refund", "value", c["Refund"](order_id=1, amount=decimal.Decimal("12.50"), reason="late ⏰")),
        ("poly.other", "value", c["Other"](x=1)),
    ]
    for i, k in enumerate(many_keys()):
        out.append(("key.many.%03d" % i, "key", k))
    out.extend(window_keys())
    return out


def partition(key_bytes):
    from aiokafka.partitioner import DefaultPartitioner

    ps = list(range(PARTITIONS))
    return DefaultPartitioner()(key_bytes, ps, ps)


def generate_one(flavour):
    faust = load_faust(flavour)
    c = declare(faust)
    app = faust.App("fixtures", broker="memory://")
    ser = app.serializers
    for case, kind, value in cases(c):
        if kind == "key":
            data = ser.dumps_key(None, value, serializer="json")
            part = str(partition(data))
        else:
            data = ser.dumps_value(None, value, serializer="json")
            part = "-"
        text = data.decode("utf-8")
        assert "\t" not in text and "\n" not in text, case
        print(f"{flavour}\t{case}\t{part}\t{text}")


def generate():
    lines = [
        "# Bytes faust-streaming 0.15.3 writes (key_serializer/value_serializer 'json'), both flavours.",
        "# Generated by scripts/faust-fixtures.py generate; do not edit.",
        "# flavour<TAB>case<TAB>partition of the bytes as a key on 8 partitions<TAB>bytes",
    ]
    for flavour in FLAVOURS:
        out = subprocess.run(
            [sys.executable, __file__, "generate-one", flavour],
            check=True, capture_output=True, text=True, encoding="utf-8",
        ).stdout
        # str.splitlines would also split at U+2028 and friends, which orjson writes raw.
        lines.extend(l for l in out.split("\n") if l)
    os.makedirs(FIXTURES, exist_ok=True)
    with open(FAUST_WRITES, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 3} fixtures to {os.path.relpath(FAUST_WRITES, ROOT)}")
    generate_changelog()


def generate_changelog():
    lines = [
        "# Changelog records faust-streaming 0.15.3's tables write for TABLE_OPS of",
        "# scripts/faust-fixtures.py, both flavours; generated by its `generate`, do not edit.",
        "# flavour<TAB>topic<TAB>partition<TAB>key<TAB>value (- for a tombstone), in topic, partition, offset order",
    ]
    for flavour in FLAVOURS:
        out = subprocess.run(
            [sys.executable, __file__, "generate-changelog-one", flavour],
            check=True, capture_output=True, text=True, encoding="utf-8",
            env={**os.environ, "PYTHONHASHSEED": "0"},
        ).stdout
        lines.extend(l for l in out.split("\n") if l)
    with open(FAUST_CHANGELOG, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 3} changelog records to {os.path.relpath(FAUST_CHANGELOG, ROOT)}")


def read_fixtures(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            flavour, case, part, text = line.split("\t", 3)
            yield flavour, case, part, text.encode("utf-8")


def same(a, b):
    """Equality that takes NaN as equal to NaN, through lists and dicts."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def check_one(flavour):
    """Decodes every line faust-rs wrote in `flavour` with Faust and compares with what Faust
    reads from its own bytes for the same case; prints one line per case."""
    faust = load_faust(flavour)
    c = declare(faust)
    app = faust.App("fixtures", broker="memory://")
    ser = app.serializers
    theirs = {case: (part, data) for fl, case, part, data in read_fixtures(FAUST_WRITES) if fl == flavour}
    # What faust-rs writes differently from Faust, and what Faust must read from it.
    expected = {
        # rust_decimal writes plain notation; Faust keeps the text of a Decimal field.
        "value.misc": lambda d: {**d, "amount": "0.0000001"},
        # Written by a record that leaves its metadata out on its own, inside a polymorphic enum.
        "poly.bare": None,
    }
    failures = 0
    for fl, case, part, data in read_fixtures(RUST_WRITES):
        if fl != flavour:
            continue
        kind = case.split(".")[0]
        try:
            if kind == "key":
                got = ser.loads_key(None, data, serializer="json")
                got_part = partition(data)
                want_part, want_data = theirs[case]
                want = ser.loads_key(None, want_data, serializer="json")
                ok = same(got, want) and str(got_part) == want_part == part
                detail = f"{got!r} on partition {got_part}"
            else:
                got = ser.loads_value(None, data)  # value_type=None: dispatch on __faust.ns
                if case == "poly.bare":
                    ok = type(got) is c["Order"] and got.id == 5 and got.product == "bare"
                else:
                    want = ser.loads_value(None, theirs[case][1])
                    want_d = want.asdict()
                    fix = expected.get(case)
                    if fix:
                        want_d = fix(want_d)
                    ok = type(got) is type(want) and same(got.asdict(), want_d)
                detail = f"{type(got).__name__} {got.asdict() if hasattr(got, 'asdict') else got!r}"
        except Exception as e:  # noqa: BLE001 - report every failure
            ok, detail = False, f"{type(e).__name__}: {e}"
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {flavour:6} {case}: {detail}")
    sys.exit(1 if failures else 0)


# ---------------------------------------------------------------------------------------------
# Tables: changelog records written by Faust's table code, and Faust's recovery of Rust's.

TABLE_APP = "tblfix"
TABLE_PARTITIONS = 4
T0 = 1_700_000_000.0  # event time of the operations, seconds

# (operation, key, argument, event time offset in seconds). Each runs inside an event of the
# partition its key (as raw bytes) has on 4 partitions, as if the source topic were keyed by it.
# `hop` runs only in Faust's run: a hopping update writes two windows in one flush, in no fixed
# order on the Rust side.
TABLE_OPS = [
    ("count", "apple", None, 0.0),
    ("count", "apple", None, 0.0),
    ("count", "café", None, 0.0),
    ("count", "fig", None, 0.0),
    ("forget", "fig", None, 0.0),
    ("order", "1", ("äpple", 2), 0.0),
    ("order", "2", ("pear", 1), 0.0),
    ("order", "2", ("pear", 3), 0.0),
    ("unorder", "1", None, 0.0),
    ("click", "apple", None, 3.5),
    ("click", "apple", None, 7.0),
    ("click", "apple", None, 13.5),
    ("click", "café", None, 3.5),
    ("hop", "apple", None, 12.0),
    ("slide", "apple", None, 3.5),
    ("slide", "apple", None, 3.5),
    ("slide", "apple", None, 7.636),
    ("price", "apple", 0.1, 0.0),
    ("price", "fig", 1e16, 0.0),
    ("price", "apple", 1e-07, 0.0),
    ("add", "k", "x", 0.0),
    ("add", "k", "y", 0.0),
    ("discard", "k", "x", 0.0),
    ("add", "j", "z", 0.0),
]


def event_time(dt):
    """A record's timestamp `dt` seconds after T0 as Faust sees it: Kafka's ms / 1000."""
    return (round(T0 * 1000) + round(dt * 1000)) / 1000.0


def table_partition(key):
    from aiokafka.partitioner import DefaultPartitioner

    ps = list(range(TABLE_PARTITIONS))
    return DefaultPartitioner()(key.encode("utf-8"), ps, ps)


def declare_tables(faust):
    """A fresh app and the tables of the table fixtures, as a Faust app declares them."""
    app = faust.App(TABLE_APP, broker="kafka://localhost:1", store="memory://")

    class Order(faust.Record, namespace="app.Order"):
        id: int
        product: str
        quantity: int

    n = TABLE_PARTITIONS
    return app, Order, dict(
        counts=app.Table("word-counts", key_type=str, value_type=int, default=int, partitions=n),
        orders=app.Table("orders", key_type=int, value_type=Order, partitions=n),
        clicks=app.Table("clicks", default=int, partitions=n).tumbling(10.0, expires=3600.0),
        hops=app.Table("hops", default=int, partitions=n).hopping(10.0, 5.0, expires=3600.0),
        around=app.Table("around", default=int, partitions=n).using_window(
            faust.SlidingWindow(10.0, 0.1, expires=3600.0)),
        members=app.SetTable("members", value_type=str, partitions=n),
        prices=app.GlobalTable("prices", key_type=str, value_type=float, partitions=n),
    )


def event_in(faust, app, topic, partition, offset, timestamp, key=None, value=None):
    """An event of `topic`, made the current one (what a stream does before an agent's body)."""
    from faust.events import Event
    from faust.streams import _current_event
    from faust.types.tuples import Message

    message = Message(topic, partition, offset, timestamp, 0, None, key, value, None)
    event = Event(app, None, None, None, message)
    _current_event.set(weakref.ref(event))
    return event


def run_ops(faust, ops):
    """Runs `ops` through Faust's tables; returns the app, its tables, and every changelog record
    the tables handed to the producer: (topic, partition, key bytes, value bytes or None)."""
    app, Order, t = declare_tables(faust)
    sent = []

    class Producer:
        """Where Topic.send_soon puts the message, serialized, partition set."""

        def send_soon(self, fut):
            m = fut.message
            sent.append((m.channel.get_topic_name(), m.partition, m.key, m.value))

    app._producer = Producer()
    keep = []
    for i, (op, key, arg, dt) in enumerate(ops):
        keep.append(event_in(faust, app, f"{TABLE_APP}-ops", table_partition(key), i, event_time(dt)))
        if op == "count":
            t["counts"][key] += 1
        elif op == "forget":
            del t["counts"][key]
        elif op == "order":
            t["orders"][int(key)] = Order(id=int(key), product=arg[0], quantity=arg[1])
        elif op == "unorder":
            del t["orders"][int(key)]
        elif op == "click":
            t["clicks"][key] += 1
        elif op == "hop":
            t["hops"][key] += 1
        elif op == "slide":
            t["around"][key] += 1
        elif op == "price":
            t["prices"][key] = arg
        elif op == "add":
            t["members"][key].add(arg)
        elif op == "discard":
            t["members"][key].discard(arg)
        else:
            raise ValueError(op)
    return app, t, sent


def generate_changelog_one(flavour):
    faust = load_faust(flavour)
    _, _, sent = run_ops(faust, TABLE_OPS)
    order = {}
    for topic, part, key, value in sent:
        order.setdefault((topic, part), []).append((key, value))
    for (topic, part) in sorted(order):
        for key, value in order[(topic, part)]:
            k = key.decode("utf-8")
            v = "-" if value is None else value.decode("utf-8")
            assert "\t" not in k + v and "\n" not in k + v, (topic, k, v)
            print(f"{flavour}\t{topic}\t{part}\t{k}\t{v}")


def tables_state(t):
    """What the tables hold, as plain Python values (windowed keys as Faust's own tuples)."""
    return dict(
        counts=dict(t["counts"].data),
        orders={k: v.asdict() for k, v in t["orders"].data.items()},
        clicks=dict(t["clicks"].table.data),
        around=dict(t["around"].table.data),
        members={k: set(s.data) for k, s in t["members"].data.data.items() if s.data},
        prices=dict(t["prices"].data),
    )


def check_changelog_one(flavour):
    """Recovers faust-rs-changelog.txt into Faust's tables through Faust's recovery path and
    compares them with the tables Faust's own run of the same operations left."""
    import asyncio

    faust = load_faust(flavour)
    ops = [o for o in TABLE_OPS if o[0] != "hop"]
    _, theirs, _ = run_ops(faust, ops)
    want = tables_state(theirs)
    app, _, ours = declare_tables(faust)
    # A windowed table is a WindowWrapper around its Table.
    tables = {n: getattr(t, "table", t) for n, t in ours.items()}
    by_topic = {t.changelog_topic.get_topic_name(): t for t in tables.values()}
    batches = {}
    offsets = {}
    with open(RUST_CHANGELOG, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fl, topic, part, key, value = line.split("\t", 4)
            if fl != flavour:
                continue
            part = int(part)
            off = offsets[(topic, part)] = offsets.get((topic, part), -1) + 1
            batches.setdefault(topic, []).append((part, off, key, value))

    async def recover():
        for topic, records in batches.items():
            table = by_topic[topic]
            events = []
            for part, off, key, value in records:
                from faust.types.tuples import Message

                message = Message(topic, part, off, T0, 0, None, key.encode("utf-8"),
                                  None if value == "-" else value.encode("utf-8"), None)
                events.append(await table.changelog_topic.decode(message, propagate=True))
            table.apply_changelog_batch(events)

    failures = 0
    try:
        asyncio.run(recover())
        got = tables_state(ours)
    except Exception as e:  # noqa: BLE001 - report the failure
        print(f"FAIL {flavour:6} recovery: {type(e).__name__}: {e}")
        sys.exit(1)
    for name in want:
        ok = same(got[name], want[name])
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {flavour:6} table {name}: {got[name]!r}"
              + ("" if ok else f" (Faust's own run: {want[name]!r})"))
    # The recovered windows are the ones Faust's windowed reads look up.
    for key, dt, n in [("apple", 3.5, 2), ("apple", 13.5, 1), ("café", 3.5, 1)]:
        ev = event_in(faust, app, f"{TABLE_APP}-ops", table_partition(key), 0, event_time(dt))
        got_n = ours["clicks"][key].current(ev)
        ok = got_n == n
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {flavour:6} clicks[{key!r}].current() at +{dt}s: {got_n}")
    for key, dt, n in [("apple", 3.5, 2), ("apple", 7.636, 1)]:
        ev = event_in(faust, app, f"{TABLE_APP}-ops", table_partition(key), 0, event_time(dt))
        got_n = ours["around"][key].current(ev)
        ok = got_n == n
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {flavour:6} around[{key!r}].current() at +{dt}s: {got_n}")
    sys.exit(1 if failures else 0)


def check():
    failed = False
    for flavour in FLAVOURS:
        r = subprocess.run([sys.executable, __file__, "check-one", flavour], text=True, encoding="utf-8")
        failed |= r.returncode != 0
        r = subprocess.run([sys.executable, __file__, "check-changelog-one", flavour],
                           text=True, encoding="utf-8")
        failed |= r.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "generate"
    if cmd == "generate":
        generate()
    elif cmd == "generate-one":
        generate_one(sys.argv[2])
    elif cmd == "check":
        check()
    elif cmd == "check-one":
        check_one(sys.argv[2])
    elif cmd == "generate-changelog-one":
        generate_changelog_one(sys.argv[2])
    elif cmd == "check-changelog-one":
        check_changelog_one(sys.argv[2])
    else:
        sys.exit(f"usage: {sys.argv[0]} [generate|check]")
