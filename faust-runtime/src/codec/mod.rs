//! Codecs: how keys and values become bytes and back.
//!
//! A serializer name is a chain `"format|stage|stage"`, exactly as Faust chains codecs: the first
//! element turns a typed value into bytes, each following one transforms bytes. Encoding runs the
//! chain left to right, decoding right to left. Built in:
//!
//! | name      | kind   | what it does                                                                 |
//! |-----------|--------|------------------------------------------------------------------------------|
//! | `json`    | format | Faust's compact JSON, in the [default flavour](faust_json::default_json_flavour); Faust's default for values |
//! | `json:stdlib` | format | Faust's JSON as Python's stdlib `json` writes it (a plain `pip install faust-streaming`): non-ASCII escaped, `NaN`/`Infinity` tokens |
//! | `json:orjson` | format | Faust's JSON as orjson writes it (`faust-streaming[fast]`): raw UTF-8, `null` for NaN/Infinity |
//! | `raw`     | format | strings as their UTF-8 bytes, bytes as they are; Faust's default for keys    |
//! | `msgpack` | format | MessagePack with structs as maps (self-describing)                           |
//! | `binary`  | stage  | base64 (standard alphabet, padded), as Python's `base64.b64encode`           |
//!
//! All three JSON names decode both flavours; they differ only in the bytes they write (see
//! [`faust_json`] for every difference). The flavour matters for keys above all: a JSON key is
//! hashed as bytes to choose its partition, so a Rust app and a Faust app agree on the partition
//! of a non-ASCII key only when they write the same flavour.
//!
//! A chain that starts with a stage encodes the value with `raw` first (`"binary"` is
//! `"raw|binary"`), as Faust does. `raw` after the first element changes nothing.
//!
//! Your own codecs are registered process-wide by name with [`register`] (a bytes → bytes
//! [`Codec`] stage, e.g. compression or encryption) or [`register_format`] (a whole [`Format`]
//! such as YAML, through `erased-serde`), before the app starts: names are resolved once per
//! topic when the app starts, and per message for `key_serializer`/`value_serializer` overrides.
//!
//! ```
//! use faust_runtime::codec::{self, Codec, CodecError, Serializer};
//!
//! /// Reverses the bytes (a stand-in for compression or encryption).
//! struct Reverse;
//!
//! impl Codec for Reverse {
//!     fn dumps(&self, mut data: Vec<u8>) -> Result<Vec<u8>, CodecError> {
//!         data.reverse();
//!         Ok(data)
//!     }
//!     fn loads(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
//!         Ok(data.iter().rev().copied().collect())
//!     }
//! }
//!
//! codec::register("reverse", Reverse)?;
//! let s = Serializer::resolve("json|reverse|binary")?;
//! let bytes = s.dumps(&vec![1, 2, 3])?;
//! assert_eq!(bytes, b"XTMsMiwxWw==");
//! assert_eq!(s.loads::<Vec<u32>>(&bytes)?, vec![1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod content;
pub mod faust_json;
mod raw;

pub use faust_json::{default_json_flavour, set_default_json_flavour, JsonFlavour};

pub use erased_serde;

use base64::Engine as _;
use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// Why a codec could not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl CodecError {
    /// An error with this message.
    pub fn new(msg: impl fmt::Display) -> Self {
        CodecError(msg.to_string())
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<erased_serde::Error> for CodecError {
    fn from(e: erased_serde::Error) -> Self {
        CodecError(e.to_string())
    }
}

/// A bytes → bytes stage of a codec chain (compression, encryption, an envelope, ...): anything
/// after the first element of `"json|binary|mine"`. Register it with [`register`].
pub trait Codec: Send + Sync + 'static {
    /// Transforms encoded bytes on their way to the broker.
    fn dumps(&self, data: Vec<u8>) -> Result<Vec<u8>, CodecError>;
    /// Undoes [`Codec::dumps`] on bytes coming from the broker. Must return an error, never
    /// panic, on bytes it cannot read.
    fn loads(&self, data: &[u8]) -> Result<Vec<u8>, CodecError>;
}

/// A whole serialization format (the first element of a chain), working on any serde type
/// through `erased-serde`. Register it with [`register_format`].
///
/// ```
/// use faust_runtime::codec::{self, erased_serde, CodecError, Decoder, Format, Serializer};
///
/// /// JSON with spaces, as a stand-in for YAML or any other serde format.
/// struct PrettyJson;
///
/// impl Format for PrettyJson {
///     fn dumps(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError> {
///         serde_json::to_vec_pretty(value).map_err(CodecError::new)
///     }
///     fn loads(&self, data: &[u8], out: &mut Decoder<'_>) -> Result<(), CodecError> {
///         let mut de = serde_json::Deserializer::from_slice(data);
///         out.decode(&mut de)?;
///         de.end().map_err(CodecError::new)
///     }
/// }
///
/// codec::register_format("pretty", PrettyJson)?;
/// let s = Serializer::resolve("pretty")?;
/// assert_eq!(s.loads::<Vec<u8>>(&s.dumps(&vec![1u8, 2])?)?, vec![1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Format: Send + Sync + 'static {
    /// Encodes a value.
    fn dumps(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CodecError>;
    /// Decodes `data` by handing a deserializer over it to `out` (see [`Decoder::decode`]).
    /// Must return an error, never panic, on bytes it cannot read.
    fn loads(&self, data: &[u8], out: &mut Decoder<'_>) -> Result<(), CodecError>;
}

type DecodeFn<'a> = dyn for<'de> FnMut(&mut dyn erased_serde::Deserializer<'de>) -> Result<(), erased_serde::Error>
    + 'a;

/// Where a [`Format`] hands its deserializer: builds the typed value the caller asked for.
pub struct Decoder<'a> {
    f: &'a mut DecodeFn<'a>,
    done: bool,
}

impl Decoder<'_> {
    /// Deserializes the expected type from `deserializer`.
    pub fn decode<'de, D: serde::Deserializer<'de>>(
        &mut self,
        deserializer: D,
    ) -> Result<(), CodecError> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(deserializer);
        (self.f)(&mut erased)?;
        self.done = true;
        Ok(())
    }
}

impl fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decoder")
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

#[derive(Clone)]
enum Registered {
    Stage(Arc<dyn Codec>),
    Format(Arc<dyn Format>),
}

const BUILTIN_FORMATS: &[&str] = &["json", "json:orjson", "json:stdlib", "msgpack", "raw"];
const BUILTIN_STAGES: &[&str] = &["binary"];

fn registry() -> &'static RwLock<BTreeMap<String, Registered>> {
    static REGISTRY: OnceLock<RwLock<BTreeMap<String, Registered>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn check_name(name: &str) -> crate::Result<String> {
    let name = name.trim();
    let bad = |reason: &str| crate::Error::Codec {
        codec: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("a codec name cannot be empty"));
    }
    if name.contains('|') {
        return Err(bad(
            "a codec name cannot contain '|' (it separates the elements of a chain)",
        ));
    }
    if BUILTIN_FORMATS.contains(&name) || BUILTIN_STAGES.contains(&name) {
        return Err(bad("this name is built in and cannot be replaced"));
    }
    Ok(name.to_string())
}

/// Registers a bytes → bytes stage under `name`, process-wide, replacing an earlier registration
/// of that name (topics that already resolved it keep the old one). Fails for empty names, names
/// containing `|`, and the built-in names.
pub fn register(name: &str, codec: impl Codec) -> crate::Result<()> {
    let name = check_name(name)?;
    registry()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name, Registered::Stage(Arc::new(codec)));
    Ok(())
}

/// Registers a whole format under `name`, process-wide; see [`register`] for the rules.
pub fn register_format(name: &str, format: impl Format) -> crate::Result<()> {
    let name = check_name(name)?;
    registry()
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name, Registered::Format(Arc::new(format)));
    Ok(())
}

/// Every codec name that resolves: the built-in ones and the registered ones, sorted.
pub fn known() -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_FORMATS
        .iter()
        .chain(BUILTIN_STAGES)
        .map(|s| s.to_string())
        .collect();
    names.extend(
        registry()
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned(),
    );
    names.sort();
    names.dedup();
    names
}

// ---------------------------------------------------------------------------------------------
// Resolved chains

#[derive(Clone)]
enum FormatKind {
    /// Faust JSON; `None` follows the process-wide default flavour at each encode.
    Json(Option<JsonFlavour>),
    Raw,
    Msgpack,
    Custom(Arc<dyn Format>),
}

#[derive(Clone)]
enum StageKind {
    Binary,
    Custom(Arc<dyn Codec>),
}

#[derive(Clone)]
struct Stage {
    name: String,
    kind: StageKind,
}

impl Stage {
    fn dumps(&self, data: Vec<u8>) -> Result<Vec<u8>, CodecError> {
        match &self.kind {
            StageKind::Binary => Ok(base64::engine::general_purpose::STANDARD
                .encode(data)
                .into_bytes()),
            StageKind::Custom(c) => guarded(|| c.dumps(data)),
        }
        .map_err(|e| CodecError(format!("{}: {e}", self.name)))
    }

    fn loads(&self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        match &self.kind {
            StageKind::Binary => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| CodecError(format!("invalid base64: {e}"))),
            StageKind::Custom(c) => guarded(|| c.loads(data)),
        }
        .map_err(|e| CodecError(format!("{}: {e}", self.name)))
    }
}

enum Element {
    Format(FormatKind),
    Stage(StageKind),
}

/// What one element of a chain names.
fn element(part: &str) -> crate::Result<Element> {
    Ok(match part {
        "json" => Element::Format(FormatKind::Json(None)),
        "json:stdlib" => Element::Format(FormatKind::Json(Some(JsonFlavour::Stdlib))),
        "json:orjson" => Element::Format(FormatKind::Json(Some(JsonFlavour::Orjson))),
        "raw" => Element::Format(FormatKind::Raw),
        "msgpack" => Element::Format(FormatKind::Msgpack),
        "binary" => Element::Stage(StageKind::Binary),
        other => {
            let found = registry()
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(other)
                .cloned();
            match found {
                Some(Registered::Stage(c)) => Element::Stage(StageKind::Custom(c)),
                Some(Registered::Format(f)) => Element::Format(FormatKind::Custom(f)),
                None => {
                    return Err(crate::Error::UnknownCodec {
                        name: other.to_string(),
                        known: known().join(", "),
                    })
                }
            }
        }
    })
}

/// A resolved serializer chain, ready to encode and decode typed values. Cheap to clone.
#[derive(Clone)]
pub struct Serializer {
    name: String,
    format: FormatKind,
    stages: Arc<[Stage]>,
}

impl fmt::Debug for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serializer({})", self.name)
    }
}

/// Lets a `?Sized` value go through `erased-serde`.
struct Erase<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Erase<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Serializer {
    /// Resolves a serializer name such as `"json"`, `"json:orjson"`, `"raw"`, `"msgpack"`,
    /// `"json|binary"` or a
    /// registered name. Unknown elements give [`crate::Error::UnknownCodec`] listing the known
    /// names; a format anywhere but first gives [`crate::Error::Codec`].
    pub fn resolve(name: &str) -> crate::Result<Serializer> {
        let mut format = FormatKind::Raw;
        let mut stages = Vec::new();
        for (i, part) in name.split('|').map(str::trim).enumerate() {
            if part.is_empty() {
                return Err(crate::Error::Codec {
                    codec: name.to_string(),
                    reason: "empty element in the codec chain".into(),
                });
            }
            match (i, element(part)?) {
                (0, Element::Format(f)) => format = f,
                // A chain that starts with a stage encodes the value raw first, as Faust does.
                (_, Element::Stage(kind)) => stages.push(Stage {
                    name: part.to_string(),
                    kind,
                }),
                // Raw bytes are already bytes.
                (_, Element::Format(FormatKind::Raw)) => {}
                (_, Element::Format(_)) => {
                    return Err(crate::Error::Codec {
                        codec: name.to_string(),
                        reason: format!(
                            "'{part}' turns values into bytes and can only come first in a chain"
                        ),
                    })
                }
            }
        }
        Ok(Serializer {
            name: name.to_string(),
            format,
            stages: stages.into(),
        })
    }

    /// The chain's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Encodes a typed value: the format, then each stage in order.
    pub fn dumps<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = match &self.format {
            FormatKind::Json(flavour) => {
                faust_json::to_vec(value, flavour.unwrap_or_else(default_json_flavour))
                    .map_err(|e| CodecError(e.to_string()))?
            }
            FormatKind::Raw => raw::to_vec(value)?,
            FormatKind::Msgpack => {
                rmp_serde::to_vec_named(value).map_err(|e| CodecError(e.to_string()))?
            }
            FormatKind::Custom(f) => guarded(|| f.dumps(&Erase(value)))?,
        };
        for stage in self.stages.iter() {
            bytes = stage.dumps(bytes)?;
        }
        Ok(bytes)
    }

    /// Like [`Serializer::dumps`], taking the value: a `String` given to the raw codec becomes
    /// the record's bytes as it is, without a copy (the usual key of a Faust topic).
    pub(crate) fn dumps_owned<T: Serialize + 'static>(
        &self,
        mut value: T,
    ) -> Result<Vec<u8>, CodecError> {
        if matches!(self.format, FormatKind::Raw) && self.stages.is_empty() {
            if let Some(text) = (&mut value as &mut dyn std::any::Any).downcast_mut::<String>() {
                return Ok(std::mem::take(text).into_bytes());
            }
        }
        self.dumps(&value)
    }

    /// Decodes a tombstone (a record without a value): succeeds for types that accept null
    /// (`Option<T>`, `()`), fails for the rest.
    pub fn loads_tombstone<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        T::deserialize(serde_json::Value::Null)
            .map_err(|e| CodecError(format!("the value type does not accept a tombstone: {e}")))
    }

    /// Decodes a typed value: each stage in reverse order, then the format. Never panics on bad
    /// bytes.
    #[inline]
    pub fn loads<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        if self.stages.is_empty() {
            self.loads_format(bytes)
        } else {
            self.loads_staged(bytes)
        }
    }

    fn loads_staged<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let mut buf: Cow<'_, [u8]> = Cow::Borrowed(bytes);
        for stage in self.stages.iter().rev() {
            buf = Cow::Owned(stage.loads(&buf)?);
        }
        self.loads_format(&buf)
    }

    #[inline]
    fn loads_format<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match &self.format {
            FormatKind::Json(_) => {
                faust_json::from_slice(bytes).map_err(|e| CodecError(e.to_string()))
            }
            FormatKind::Raw => raw::from_slice(bytes),
            FormatKind::Msgpack => msgpack_from_slice(bytes),
            FormatKind::Custom(f) => {
                let mut out: Option<T> = None;
                {
                    let mut f_out = |d: &mut dyn erased_serde::Deserializer<'_>| {
                        out = Some(erased_serde::deserialize::<T>(d)?);
                        Ok(())
                    };
                    let mut decoder = Decoder {
                        f: &mut f_out,
                        done: false,
                    };
                    guarded(|| f.loads(bytes, &mut decoder))?;
                    if !decoder.done {
                        return Err(CodecError(format!(
                            "codec '{}' returned without decoding anything",
                            self.name
                        )));
                    }
                }
                out.ok_or_else(|| CodecError(format!("codec '{}' decoded nothing", self.name)))
            }
        }
    }
}

/// Runs a registered codec, turning a panic into an error: a codec must never take the consumer
/// down, whatever bytes it is given.
fn guarded<T>(f: impl FnOnce() -> Result<T, CodecError>) -> Result<T, CodecError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(CodecError(format!("panicked: {what}")))
        }
    }
}

/// MessagePack decoding that refuses trailing bytes (a sign of a wrong codec or a corrupt value).
fn msgpack_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut rd = bytes;
    let value = {
        let mut de = rmp_serde::Deserializer::new(&mut rd);
        T::deserialize(&mut de).map_err(|e| CodecError(e.to_string()))?
    };
    if !rd.is_empty() {
        return Err(CodecError(format!(
            "{} trailing bytes after the msgpack value",
            rd.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::Serializer;

    #[test]
    fn an_owned_key_encodes_as_the_borrowed_one_does() {
        let key = "order-17 ü".to_string();
        for name in ["raw", "raw|binary", "json", "msgpack"] {
            let s = Serializer::resolve(name).unwrap();
            assert_eq!(
                s.dumps_owned(key.clone()).unwrap(),
                s.dumps(&key).unwrap(),
                "codec {name}"
            );
            // Not text: encoded as before.
            assert_eq!(
                s.dumps_owned(17u32).ok(),
                s.dumps(&17u32).ok(),
                "codec {name}"
            );
        }
        let raw = Serializer::resolve("raw").unwrap();
        let text = "moved, not copied".to_string();
        let at = text.as_ptr();
        let bytes = raw.dumps_owned(text).unwrap();
        assert_eq!(bytes.as_ptr(), at);
    }
}
