//! The process-wide JSON flavour: what the `json` codec writes, and what it leaves alone. One
//! test in its own binary, since it changes a process-wide setting.

use faust_runtime::codec::{self, default_json_flavour, set_default_json_flavour, JsonFlavour};
use faust_runtime::codec::{faust_json, Serializer};

#[test]
fn the_default_flavour_switches_what_json_writes() {
    assert_eq!(default_json_flavour(), JsonFlavour::Stdlib);
    // Resolved before the switch: "json" follows the setting at each encode.
    let json = Serializer::resolve("json").unwrap();
    let stdlib = Serializer::resolve("json:stdlib").unwrap();
    let orjson = Serializer::resolve("json:orjson|binary").unwrap();
    assert_eq!(json.dumps("café").unwrap(), br#""caf\u00e9""#);

    set_default_json_flavour(JsonFlavour::Orjson);
    assert_eq!(default_json_flavour(), JsonFlavour::Orjson);
    assert_eq!(json.dumps("café").unwrap(), "\"café\"".as_bytes());
    assert_eq!(json.dumps(&f64::NAN).unwrap(), b"null");
    assert_eq!(
        Serializer::resolve("json").unwrap().dumps(&1e-5).unwrap(),
        b"0.00001"
    );
    // The explicit flavours do not move.
    assert_eq!(stdlib.dumps("café").unwrap(), br#""caf\u00e9""#);
    assert_eq!(stdlib.dumps(&f64::NAN).unwrap(), b"NaN");
    assert_eq!(
        orjson
            .loads::<String>(&orjson.dumps("café").unwrap())
            .unwrap(),
        "café"
    );
    // Reading never depends on it.
    assert!(json.loads::<f64>(b"NaN").unwrap().is_nan());
    assert_eq!(json.loads::<String>(br#""caf\u00e9""#).unwrap(), "café");

    set_default_json_flavour(JsonFlavour::Stdlib);
    assert_eq!(json.dumps("café").unwrap(), br#""caf\u00e9""#);

    // The names are built in: listed, and not replaceable.
    let known = codec::known();
    assert!(known.iter().any(|n| n == "json:orjson"), "{known:?}");
    assert!(known.iter().any(|n| n == "json:stdlib"), "{known:?}");
    struct Nop;
    impl codec::Codec for Nop {
        fn dumps(&self, data: Vec<u8>) -> Result<Vec<u8>, codec::CodecError> {
            Ok(data)
        }
        fn loads(&self, data: &[u8]) -> Result<Vec<u8>, codec::CodecError> {
            Ok(data.to_vec())
        }
    }
    assert!(codec::register("json:orjson", Nop).is_err());
    // Flavour names parse as settings would give them.
    assert_eq!(
        "orjson".parse::<JsonFlavour>().unwrap(),
        JsonFlavour::Orjson
    );
    assert_eq!(
        " Stdlib ".parse::<JsonFlavour>().unwrap(),
        JsonFlavour::Stdlib
    );
    assert!("simplejson".parse::<JsonFlavour>().is_err());
    assert_eq!(JsonFlavour::Orjson.to_string(), "orjson");
    // Outside an encoder, helpers see no flavour.
    assert_eq!(faust_json::writing_flavour(), None);
}
