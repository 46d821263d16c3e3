//! Codecs by name: the built-in formats and stages, chains, the registry and the errors.

use faust_runtime::codec::{self, erased_serde, Codec, CodecError, Decoder, Format, Serializer};
use faust_runtime::Error;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u64,
    product: String,
    quantity: u32,
}

fn order() -> Order {
    Order {
        id: 10,
        product: "apple".into(),
        quantity: 7,
    }
}

fn ser(name: &str) -> Serializer {
    Serializer::resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn json_is_compact_and_in_field_order() {
    let s = ser("json");
    let bytes = s.dumps(&order()).unwrap();
    assert_eq!(bytes, br#"{"id":10,"product":"apple","quantity":7}"#);
    assert_eq!(s.loads::<Order>(&bytes).unwrap(), order());
    assert_eq!(s.name(), "json");
}

#[test]
fn raw_carries_text_and_bytes() {
    let s = ser("raw");
    assert_eq!(s.dumps("apple").unwrap(), b"apple");
    assert_eq!(s.dumps(&"apple".to_string()).unwrap(), b"apple");
    assert_eq!(s.dumps(&vec![0u8, 1, 255]).unwrap(), vec![0, 1, 255]);
    assert_eq!(
        s.dumps(&bytes::Bytes::from_static(b"\x00\xff")).unwrap(),
        b"\x00\xff"
    );
    assert_eq!(s.loads::<String>(b"apple").unwrap(), "apple");
    assert_eq!(s.loads::<Vec<u8>>(&[0, 1, 255]).unwrap(), vec![0, 1, 255]);
    assert_eq!(
        s.loads::<bytes::Bytes>(b"\x00\xff").unwrap(),
        &b"\x00\xff"[..]
    );
    // An empty value is an empty string, not an error.
    assert_eq!(s.loads::<String>(b"").unwrap(), "");
}

#[test]
fn raw_newtypes_and_unit_enums_are_their_text() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct OrderId(String);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Green,
    }
    let s = ser("raw");
    assert_eq!(s.dumps(&OrderId("o-1".into())).unwrap(), b"o-1");
    assert_eq!(s.loads::<OrderId>(b"o-1").unwrap(), OrderId("o-1".into()));
    assert_eq!(s.dumps(&Color::Green).unwrap(), b"green");
    assert_eq!(s.loads::<Color>(b"red").unwrap(), Color::Red);
    assert!(s.loads::<Color>(b"blue").is_err());
}

#[test]
fn raw_invalid_utf8_for_a_string_is_a_clear_error() {
    let s = ser("raw");
    let err = s.loads::<String>(b"ab\xffcd").unwrap_err();
    assert!(err.to_string().contains("invalid UTF-8 at byte 2"), "{err}");
    // The same bytes are fine for a bytes type.
    assert_eq!(s.loads::<Vec<u8>>(b"ab\xffcd").unwrap(), b"ab\xffcd");
}

#[test]
fn raw_refuses_structured_values() {
    let s = ser("raw");
    let err = s.dumps(&order()).unwrap_err();
    assert!(err.to_string().contains("only strings and bytes"), "{err}");
    assert!(err.to_string().contains("Order"), "{err}");
    assert!(s.dumps(&42u32).is_err());
    assert!(s.dumps(&vec![1u32, 300]).is_err());
    assert!(s.dumps(&HashMap::from([("a", 1)])).is_err());
    assert!(s.loads::<u64>(b"42").is_err());
    assert!(s.loads::<Order>(b"{}").is_err());
}

#[test]
fn binary_is_base64_of_the_bytes() {
    // "binary" alone encodes the value raw first, as Faust does.
    let s = ser("binary");
    assert_eq!(s.dumps("apple").unwrap(), b"YXBwbGU=");
    assert_eq!(s.loads::<String>(b"YXBwbGU=").unwrap(), "apple");
    let err = s.loads::<String>(b"not base64!").unwrap_err();
    assert!(
        err.to_string().starts_with("binary: invalid base64"),
        "{err}"
    );
}

#[test]
fn json_binary_chain_matches_faust() {
    let s = ser("json|binary");
    let bytes = s.dumps(&order()).unwrap();
    // base64.b64encode(b'{"id":10,"product":"apple","quantity":7}')
    assert_eq!(
        bytes,
        b"eyJpZCI6MTAsInByb2R1Y3QiOiJhcHBsZSIsInF1YW50aXR5Ijo3fQ=="
    );
    assert_eq!(s.loads::<Order>(&bytes).unwrap(), order());
    // Stages can repeat; whitespace around names is ignored.
    let s2 = ser(" json | binary | binary ");
    let twice = s2.dumps(&order()).unwrap();
    assert_eq!(ser("raw|binary").loads::<Vec<u8>>(&twice).unwrap(), bytes);
    assert_eq!(s2.loads::<Order>(&twice).unwrap(), order());
    // Raw after the first element changes nothing.
    assert_eq!(ser("json|raw|binary").dumps(&order()).unwrap(), bytes);
}

#[test]
fn msgpack_is_self_describing() {
    let s = ser("msgpack");
    let bytes = s.dumps(&order()).unwrap();
    // A map with the field names, not an array.
    assert_eq!(bytes[0], 0x83, "{bytes:x?}");
    assert!(bytes.windows(7).any(|w| w == b"product"));
    assert_eq!(s.loads::<Order>(&bytes).unwrap(), order());
    // Decodes into a dynamic value too.
    let v: serde_json::Value = s.loads(&bytes).unwrap();
    assert_eq!(v["product"], "apple");
    // Truncated and trailing bytes are errors.
    assert!(s.loads::<Order>(&bytes[..bytes.len() - 2]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    let err = s.loads::<Order>(&longer).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    assert!(s.loads::<Order>(b"").is_err());
}

#[test]
fn bad_json_is_an_error_not_a_panic() {
    let s = ser("json");
    for bad in [
        &b""[..],
        b"{",
        b"{\"id\":10,\"product\":\"apple\"",
        b"{\"id\":\"ten\",\"product\":\"apple\",\"quantity\":7}",
        b"null",
        b"\xff\xfe",
        b"[1,2,3]",
    ] {
        assert!(s.loads::<Order>(bad).is_err(), "{bad:?}");
    }
    let err = s
        .loads::<Order>(br#"{"id":10,"product":"apple"}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("missing field `quantity`"),
        "{err}"
    );
}

#[test]
fn json_refuses_maps_with_structured_keys() {
    let s = ser("json");
    let map = BTreeMap::from([((1, 2), "a")]);
    let err = s.dumps(&map).unwrap_err();
    assert!(err.to_string().contains("key must be a string"), "{err}");
}

#[test]
fn tombstones_decode_only_into_nullable_types() {
    let s = ser("json");
    assert_eq!(s.loads_tombstone::<Option<Order>>().unwrap(), None);
    s.loads_tombstone::<()>().unwrap();
    let err = s.loads_tombstone::<Order>().unwrap_err();
    assert!(err.to_string().contains("tombstone"), "{err}");
}

#[test]
fn unknown_names_list_the_known_ones() {
    match Serializer::resolve("json|gzip2") {
        Err(Error::UnknownCodec { name, known }) => {
            assert_eq!(name, "gzip2");
            for k in ["binary", "json", "msgpack", "raw"] {
                assert!(known.contains(k), "{known}");
            }
        }
        other => panic!("expected UnknownCodec, got {other:?}"),
    }
    assert!(matches!(
        Serializer::resolve("yaml"),
        Err(Error::UnknownCodec { .. })
    ));
}

#[test]
fn formats_only_come_first() {
    for bad in ["binary|json", "json|msgpack", "json||binary", "", "json|"] {
        let err = Serializer::resolve(bad).unwrap_err();
        assert!(matches!(err, Error::Codec { .. }), "{bad}: {err}");
    }
}

/// XOR with a key byte: a stand-in for encryption.
struct Xor(u8);

impl Codec for Xor {
    fn dumps(&self, mut data: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        data.iter_mut().for_each(|b| *b ^= self.0);
        Ok(data)
    }
    fn loads(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        if data.is_empty() {
            return Err(CodecError::new("nothing to decrypt"));
        }
        Ok(data.iter().map(|b| b ^ self.0).collect())
    }
}

#[test]
fn registered_stages_chain_with_the_built_in_ones() {
    codec::register("xor", Xor(0x5a)).unwrap();
    assert!(codec::known().contains(&"xor".to_string()));
    let s = ser("json|xor|binary");
    let bytes = s.dumps(&order()).unwrap();
    assert_eq!(s.loads::<Order>(&bytes).unwrap(), order());
    // Decoding runs the stages in reverse: binary first, then xor.
    let xored = ser("raw|binary").loads::<Vec<u8>>(&bytes).unwrap();
    assert_eq!(xored[0], b'{' ^ 0x5a);
    // A stage's error names the stage.
    let err = ser("json|xor").loads::<Order>(b"").unwrap_err();
    assert_eq!(err.to_string(), "xor: nothing to decrypt");
}

#[test]
fn registering_checks_the_name() {
    for bad in ["json", "raw", "binary", "msgpack", "", "a|b"] {
        assert!(codec::register(bad, Xor(1)).is_err(), "{bad}");
    }
}

/// JSON wrapped in an envelope object: a whole format of our own.
struct Envelope;

impl Format for Envelope {
    fn dumps(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(&serde_json::json!({ "payload": serde_json::to_value(value).map_err(CodecError::new)? }))
            .map_err(CodecError::new)
    }
    fn loads(&self, data: &[u8], out: &mut Decoder<'_>) -> Result<(), CodecError> {
        let mut v: serde_json::Value = serde_json::from_slice(data).map_err(CodecError::new)?;
        let payload = v
            .get_mut("payload")
            .map(serde_json::Value::take)
            .ok_or_else(|| CodecError::new("no payload"))?;
        out.decode(payload)
    }
}

#[test]
fn registered_formats_work_for_any_serde_type() {
    codec::register_format("envelope", Envelope).unwrap();
    let s = ser("envelope|binary");
    let bytes = s.dumps(&order()).unwrap();
    let plain = ser("raw|binary").loads::<String>(&bytes).unwrap();
    assert_eq!(
        plain,
        r#"{"payload":{"id":10,"product":"apple","quantity":7}}"#
    );
    assert_eq!(s.loads::<Order>(&bytes).unwrap(), order());
    let err = ser("envelope").loads::<Order>(b"{}").unwrap_err();
    assert!(err.to_string().contains("no payload"), "{err}");
    let err = ser("envelope")
        .loads::<Order>(br#"{"payload":{"id":1}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
    // A format cannot follow a stage.
    assert!(Serializer::resolve("binary|envelope").is_err());
}

/// A stage with a bug.
struct Buggy;

impl Codec for Buggy {
    fn dumps(&self, data: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        Ok(data)
    }
    fn loads(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let first = data[0]; // panics on empty input
        Ok(vec![first])
    }
}

#[test]
fn a_panicking_codec_is_an_error() {
    codec::register("buggy", Buggy).unwrap();
    let s = ser("raw|buggy");
    let err = s.loads::<Vec<u8>>(b"").unwrap_err();
    assert!(err.to_string().starts_with("buggy: panicked"), "{err}");
    assert_eq!(s.loads::<Vec<u8>>(b"xy").unwrap(), b"x");
}

#[test]
fn serializers_are_cheap_to_share() {
    let s = ser("json|binary");
    let t = s.clone();
    std::thread::spawn(move || t.dumps(&order()).unwrap())
        .join()
        .unwrap();
    assert_eq!(format!("{s:?}"), "Serializer(json|binary)");
}
