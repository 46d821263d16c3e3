//! Property tests of Faust's JSON in both flavours: every supported field type round-trips
//! through every JSON codec, each flavour decodes what the other writes, the stdlib flavour is
//! pure ASCII, and the reader that accepts Python's `NaN` / `Infinity` is exactly as strict as
//! serde_json otherwise.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use faust_runtime::codec::faust_json::{self, JsonFlavour};
use faust_runtime::codec::Serializer;
use faust_runtime::prelude::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
enum Shape {
    Dot,
    Circle { r: f64 },
    Label(String),
}

#[record(namespace = "props.Line")]
#[derive(Clone, Debug, PartialEq)]
struct Line {
    sku: String,
    price: f64,
}

#[record(namespace = "props.Note")]
#[derive(Clone, Debug, PartialEq)]
struct Note {
    text: String,
}

#[record]
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Line(Line),
    Note(Note),
}

/// Every field type the docs map a Python type to.
#[record(namespace = "props.Everything")]
#[derive(Clone, Debug, PartialEq)]
struct Everything {
    text: String,
    float: f64,
    single: f32,
    maybe_float: Option<f64>,
    floats: Vec<f64>,
    int: i64,
    uint: u64,
    big: i128,
    ubig: u128,
    flag: bool,
    maybe: Option<String>,
    tags: BTreeMap<String, i32>,
    by_id: BTreeMap<u64, String>,
    pair: (u8, String),
    color: Color,
    shape: Shape,
    #[serde(with = "faust_runtime::record::date")]
    day: NaiveDate,
    #[serde(with = "faust_runtime::record::date::option")]
    maybe_day: Option<NaiveDate>,
    #[serde(with = "faust_runtime::record::datetime")]
    at: DateTime<Utc>,
    #[serde(with = "faust_runtime::record::datetime::option")]
    maybe_at: Option<DateTime<Utc>>,
    #[serde(with = "faust_runtime::record::naive_datetime")]
    naive: NaiveDateTime,
    #[serde(with = "faust_runtime::record::time")]
    clock: NaiveTime,
    #[serde(with = "faust_runtime::record::bytes_str")]
    blob: Vec<u8>,
    amount: Decimal,
    id: Uuid,
    items: Vec<Item>,
}

/// Any f64, the special values often.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => (any::<i32>(), -30i32..30).prop_map(|(m, e)| f64::from(m) * 10f64.powi(e)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zé東😀\\\\\"\u{7f}\u{2028}\t\n]{0,12}"]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (text(), float()).prop_map(|(sku, price)| Item::Line(Line { sku, price })),
        text().prop_map(|text| Item::Note(Note { text })),
    ]
}

prop_compose! {
    fn times()(secs in 0i64..4_102_444_800, micros in 0u32..1_000_000, whole in any::<bool>())
        -> DateTime<Utc> {
        DateTime::from_timestamp(secs, if whole { 0 } else { micros * 1000 }).unwrap()
    }
}

prop_compose! {
    fn everything()(
        (text, float, single, maybe_float, floats, int, uint) in (
            text(), float(), any::<f32>(), proptest::option::of(float()), vec(float(), 0..6),
            any::<i64>(), any::<u64>(),
        ),
        (big, ubig, flag, maybe, tags, by_id, pair) in (
            any::<i128>(), any::<u128>(), any::<bool>(), proptest::option::of(text()),
            btree_map(text(), any::<i32>(), 0..4), btree_map(any::<u64>(), text(), 0..3),
            (any::<u8>(), text()),
        ),
        (color, shape) in (
            prop_oneof![Just(Color::Red), Just(Color::Green)],
            prop_oneof![
                Just(Shape::Dot),
                float().prop_map(|r| Shape::Circle { r }),
                text().prop_map(Shape::Label),
            ],
        ),
        (at, maybe_at, days, maybe_day, clock_micros) in (
            times(), proptest::option::of(times()), 0u64..100_000, proptest::option::of(0u64..100_000),
            0u64..86_400_000_000,
        ),
        (blob, (mantissa, scale), id, items) in (
            vec(any::<u8>(), 0..24), (any::<i64>(), 0u32..12), any::<u128>(), vec(item(), 0..4),
        ),
    ) -> Everything {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        Everything {
            text, float, single, maybe_float, floats, int, uint, big, ubig, flag, maybe, tags,
            by_id, pair, color, shape,
            day: epoch + chrono::Days::new(days),
            maybe_day: maybe_day.map(|d| epoch + chrono::Days::new(d)),
            at,
            maybe_at,
            naive: at.naive_utc(),
            clock: NaiveTime::from_num_seconds_from_midnight_opt(
                (clock_micros / 1_000_000) as u32,
                (clock_micros % 1_000_000) as u32 * 1000,
            )
            .unwrap(),
            blob,
            amount: Decimal::new(mantissa, scale),
            id: Uuid::from_u128(id),
            items,
        }
    }
}

/// What a value reads back as after orjson's flavour: NaN and ±Infinity are written as `null`,
/// which a float reads as NaN and an `Option<f64>` as `None`.
fn through_orjson(mut e: Everything) -> Everything {
    let nan = |f: &mut f64| {
        if !f.is_finite() {
            *f = f64::NAN;
        }
    };
    nan(&mut e.float);
    if !e.single.is_finite() {
        e.single = f32::NAN;
    }
    if e.maybe_float.is_some_and(|f| !f.is_finite()) {
        e.maybe_float = None;
    }
    e.floats.iter_mut().for_each(nan);
    if let Shape::Circle { r } = &mut e.shape {
        nan(r);
    }
    for i in &mut e.items {
        if let Item::Line(l) = i {
            nan(&mut l.price);
        }
    }
    e
}

/// Equality that takes NaN as equal to NaN (Debug prints every NaN the same).
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Tokens a JSON text is built from, Python's included.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        " ",
        "\"a\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "1",
        "-1",
        "0",
        "01",
        "-0",
        "1.5",
        "1e3",
        "1.",
        ".5",
        "-",
        "null",
        "true",
        "nul",
        "\"",
        "\\",
        "NaN",
        "Infinity",
        "-Infinity",
        "Nan",
        "\"NaN\"",
        "18446744073709551616",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_type_round_trips_in_both_flavours(e in everything()) {
        let stdlib = ["json", "json:stdlib", "json:stdlib|binary", "json|binary"];
        for name in stdlib {
            let s = Serializer::resolve(name).unwrap();
            let back: Everything = s.loads(&s.dumps(&e).unwrap()).unwrap();
            prop_assert!(same(&back, &e), "{}: {:?}", name, back);
        }
        let expected = through_orjson(e.clone());
        for name in ["json:orjson", "json:orjson|binary"] {
            let s = Serializer::resolve(name).unwrap();
            let back: Everything = s.loads(&s.dumps(&e).unwrap()).unwrap();
            prop_assert!(same(&back, &expected), "{}: {:?}", name, back);
        }
    }

    #[test]
    fn each_flavour_reads_the_other(e in everything()) {
        let std_bytes = faust_json::to_vec(&e, JsonFlavour::Stdlib).unwrap();
        let fast_bytes = faust_json::to_vec(&e, JsonFlavour::Orjson).unwrap();
        // The stdlib flavour is ASCII only, as Python's `json` with ensure_ascii.
        prop_assert!(std_bytes.is_ascii());
        for name in ["json", "json:stdlib", "json:orjson"] {
            let s = Serializer::resolve(name).unwrap();
            let a: Everything = s.loads(&std_bytes).unwrap();
            prop_assert!(same(&a, &e), "{} reading stdlib", name);
            let b: Everything = s.loads(&fast_bytes).unwrap();
            prop_assert!(same(&b, &through_orjson(e.clone())), "{} reading orjson", name);
        }
        // Without floats that are not finite, dates and non-ASCII text, the bytes are the same.
        let mut plain = through_orjson(e);
        plain.float = 0.5;
        plain.single = 0.5;
        plain.maybe_float = None;
        plain.floats.clear();
        plain.shape = Shape::Dot;
        plain.items.clear();
        plain.maybe_day = None;
        plain.text = plain.text.chars().filter(|c| (' '..'\u{7f}').contains(c)).collect();
        plain.maybe = None;
        plain.tags.clear();
        plain.by_id.clear();
        plain.pair.1.clear();
        let std_bytes = faust_json::to_vec(&plain, JsonFlavour::Stdlib).unwrap();
        let fast_bytes = faust_json::to_vec(&plain, JsonFlavour::Orjson).unwrap();
        let day = plain.day.format("%Y-%m-%d").to_string();
        prop_assert_eq!(
            String::from_utf8(std_bytes).unwrap(),
            String::from_utf8(fast_bytes).unwrap().replace(&format!("\"{day}\""), &format!("\"{day}T00:00:00\""))
        );
    }

    #[test]
    fn strings_and_floats_round_trip_alone(s in any::<String>(), f in float()) {
        for flavour in [JsonFlavour::Stdlib, JsonFlavour::Orjson] {
            let bytes = faust_json::to_vec(&s, flavour).unwrap();
            prop_assert_eq!(faust_json::from_slice::<String>(&bytes).unwrap(), s.clone());
            let bytes = faust_json::to_vec(&f, flavour).unwrap();
            let back: f64 = faust_json::from_slice(&bytes).unwrap();
            if f.is_finite() {
                prop_assert_eq!(back.to_bits(), f.to_bits());
            } else if flavour == JsonFlavour::Stdlib {
                prop_assert!(same(&back, &f));
            } else {
                prop_assert!(back.is_nan());
            }
        }
        // A key written in the stdlib flavour is what Python's json.dumps writes: ASCII only,
        // and serde_json (which never escapes) reads the same string from it.
        let key = faust_json::to_vec(&s, JsonFlavour::Stdlib).unwrap();
        prop_assert!(key.is_ascii());
        prop_assert_eq!(serde_json::from_slice::<String>(&key).unwrap(), s);
    }

    /// The tolerant reader, reached by putting a NaN first, accepts exactly what serde_json
    /// accepts with a null there (and floats beyond f64's range, as Python does), and reads the
    /// same value.
    #[test]
    fn the_tolerant_reader_is_as_strict_as_serde_json(tokens in vec(token(), 0..12)) {
        let soup: String = tokens.concat();
        if soup.contains("NaN") || soup.contains("Infinity") {
            // Never a panic with Python's tokens anywhere.
            let _ = faust_json::from_slice::<serde_json::Value>(soup.as_bytes());
            return Ok(());
        }
        let ours = faust_json::from_slice::<serde_json::Value>(format!("[NaN,{soup}]").as_bytes());
        let theirs = serde_json::from_slice::<serde_json::Value>(format!("[null,{soup}]").as_bytes());
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", soup),
            (Err(_), Err(_)) => {}
            // Python reads a float beyond f64's range as ±Infinity, and so does the reader.
            (Ok(_), Err(e)) if e.to_string().contains("number out of range") => {}
            _ => prop_assert!(false, "{}: ours {:?}, serde_json {:?}", soup, ours, theirs),
        }
    }
}
