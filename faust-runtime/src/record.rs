//! Faust records: structs whose JSON is exactly what Faust's `Record` writes and reads.
//!
//! `#[record(namespace = "app.Order")]` on a struct with named fields implements serde's
//! `Serialize` and `Deserialize` (keep or drop `#[derive(Serialize, Deserialize)]`: the attribute
//! takes them over; put `#[record]` above the derive) and [`Record`]:
//!
//! ```
//! use faust_runtime::prelude::*;
//!
//! #[record(namespace = "app.Order")]
//! #[derive(Clone, Debug, PartialEq)]
//! struct Order { id: u64, product: String, quantity: u32 }
//!
//! let order = Order { id: 10, product: "apple".into(), quantity: 7 };
//! let json = r#"{"id":10,"product":"apple","quantity":7,"__faust":{"ns":"app.Order"}}"#;
//! assert_eq!(serde_json::to_string(&order)?, json);
//! assert_eq!(serde_json::from_str::<Order>(json)?, order);
//! assert_eq!(serde_json::from_str::<Order>(r#"{"id":10,"product":"apple","quantity":7}"#)?, order);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! Fields come in declaration order, then `"__faust":{"ns":..}` (leave it out with
//! `#[record(include_metadata = false)]`). Nested records carry their own metadata. Decoding
//! accepts the JSON with or without `__faust` and ignores it, even with
//! `#[serde(deny_unknown_fields)]`. Field attributes (`#[serde(rename = "..")]`, `default`,
//! `with`, `skip_serializing_if`, ...) and container attributes (`rename_all`, ...) work as with
//! serde's derive. `namespace` defaults to the module path with dots and the struct name
//! (`my_app.orders.Order`), as Faust's `module.ClassName`.
//!
//! # Field types and Faust's encodings
//!
//! Faust's JSON writes a few Python types in its own way, and what it writes depends on the
//! JSON library the Faust app runs with: Python's stdlib `json` for a plain
//! `pip install faust-streaming`, orjson for `faust-streaming[fast]` (see
//! [`crate::codec::faust_json`]; the `json` codec writes the stdlib flavour unless told
//! otherwise, and reads both). Faust decodes these fields back as it finds them in the JSON
//! (a `date` field arrives in Python as the string, unless the record coerces), so the Rust side
//! has to read every form Faust writes:
//!
//! | Python field        | Faust JSON, stdlib `json`           | Faust JSON, orjson  | Rust field                                   |
//! |---------------------|-------------------------------------|---------------------|----------------------------------------------|
//! | `str`               | `"caf\u00e9"` (non-ASCII escaped)  | `"café"`            | `String` (reads both)                        |
//! | `int`, `bool`, `None` | as JSON                           | as JSON             | integers, `bool`, `Option<T>` (default)      |
//! | `float`             | `0.5`, `1e-07`, `NaN`, `Infinity`, `-Infinity` | `0.5`, `1e-7`, `null` for all three | `f64` (reads all; `null` reads as NaN, and as `None` in an `Option<f64>`) |
//! | `Decimal`           | `str(d)`: `"12.50"`, `"1E-7"`       | the same            | `rust_decimal::Decimal` with its `serde` feature (reads both notations, writes `"0.0000001"`) |
//! | `UUID`              | `"6f1c…-…"` (lowercase, hyphenated) | the same            | `uuid::Uuid` with its `serde` feature (default) |
//! | `set`, `frozenset`, `tuple`, `list` | list                | list                | `HashSet`, `BTreeSet`, tuples, `Vec` (default) |
//! | `date`              | `"2024-01-02T00:00:00"`             | `"2024-01-02"`      | `chrono::NaiveDate` with `#[serde(with = "faust_runtime::record::date")]` (reads both, writes the codec's flavour) |
//! | `time`              | `"03:04:05.123456"`                 | the same            | `chrono::NaiveTime` with `#[serde(with = "faust_runtime::record::time")]` |
//! | `datetime` (UTC)    | `"2024-01-02T03:04:05.123456Z"`     | the same            | `chrono::DateTime<Utc>` with `#[serde(with = "faust_runtime::record::datetime")]` |
//! | naive `datetime`    | `"2024-01-02T03:04:05.123456"`      | the same            | `chrono::NaiveDateTime` with `#[serde(with = "faust_runtime::record::naive_datetime")]` |
//! | `Enum` with string values | the value, `"red"`            | the same            | unit enum with `#[serde(rename_all = "lowercase")]` or per-variant `rename` (default) |
//! | `IntEnum`           | the value, `1`                      | the same            | `#[serde(with = "faust_runtime::record::int_enum")]` with `Into<i64>` and `TryFrom<i64>` |
//! | `bytes`             | Python's `repr`: `"b'hello'"`, `"b'\\x00\\xff'"` | the same | `Vec<u8>` / `bytes::Bytes` with `#[serde(with = "faust_runtime::record::bytes_str")]` |
//! | a `Record`          | its JSON with its own `__faust`     | the same            | a `#[record]` struct                         |
//! | several `Record` types on one topic (`value_type=None`) | the record's JSON, told apart by `__faust.ns` | the same | a `#[record]` enum ([`Polymorphic`]) |
//!
//! The date and time helpers need the `chrono` feature. chrono's own serde output differs from
//! Faust's in the fraction of a second (chrono writes 3, 6 or 9 digits as needed, Python always
//! 6 when not zero) and in dates; the helpers write Python's form and read chrono's, Python's,
//! any UTC offset, and naive timestamps (taken as UTC).

mod polymorphic;

pub use polymorphic::Polymorphic;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeStruct};
use std::fmt;

/// The key under which Faust writes a record's metadata.
pub const METADATA_KEY: &str = "__faust";

/// A Faust record: implemented by `#[record]`.
pub trait Record: Serialize + DeserializeOwned {
    /// The namespace written as `"__faust":{"ns":..}` (Faust's `module.ClassName`).
    fn namespace() -> &'static str;
    /// Whether the metadata is written.
    fn include_metadata() -> bool {
        true
    }
}

/// The default namespace of a record: `module_path` with `::` replaced by `.`, then `.Name`.
pub fn default_namespace(module_path: &str, name: &str) -> String {
    format!("{}.{}", module_path.replace("::", "."), name)
}

/// Items `#[record]` expansions use, re-exported to them by the crate's versioned `__private`.
pub(crate) mod __private {
    pub use super::polymorphic::{serialize_variant, Buffered};
    pub use super::{with_metadata, without_metadata};
}

// ---------------------------------------------------------------------------------------------
// Writing: a serializer wrapper that appends `"__faust":{"ns":..}` to the outermost struct or map.

/// The metadata object, `{"ns":"app.Order"}`.
struct Metadata {
    ns: &'static str,
}

impl Serialize for Metadata {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("__faust", 1)?;
        st.serialize_field("ns", self.ns)?;
        st.end()
    }
}

/// Wraps `serializer` so that the struct (or map) serialized with it ends with Faust's metadata.
#[doc(hidden)]
pub fn with_metadata<S: ser::Serializer>(serializer: S, ns: &'static str) -> WithMetadata<S> {
    WithMetadata {
        inner: serializer,
        ns,
    }
}

/// See [`with_metadata`].
#[doc(hidden)]
pub struct WithMetadata<S> {
    inner: S,
    ns: &'static str,
}

/// A struct being written; adds the metadata field at the end.
#[doc(hidden)]
pub struct MetaStruct<S> {
    inner: S,
    ns: &'static str,
}

impl<S: SerializeStruct> SerializeStruct for MetaStruct<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.inner.serialize_field(key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }
    fn end(mut self) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_field(METADATA_KEY, &Metadata { ns: self.ns })?;
        self.inner.end()
    }
}

/// A map being written (structs with `#[serde(flatten)]` fields); adds the metadata entry at the
/// end.
#[doc(hidden)]
pub struct MetaMap<S> {
    inner: S,
    ns: &'static str,
}

impl<S: SerializeMap> SerializeMap for MetaMap<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.inner.serialize_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner.serialize_value(value)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        self.inner.serialize_entry(key, value)
    }
    fn end(mut self) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_entry(METADATA_KEY, &Metadata { ns: self.ns })?;
        self.inner.end()
    }
}

macro_rules! forward_ser {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[inline]
            fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
                self.inner.$method($($arg),*)
            }
        )*
    };
}

impl<S: ser::Serializer> ser::Serializer for WithMetadata<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = MetaMap<S::SerializeMap>;
    type SerializeStruct = MetaStruct<S::SerializeStruct>;
    type SerializeStructVariant = S::SerializeStructVariant;

    forward_ser! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(value)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.inner.serialize_seq(len)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.inner.serialize_tuple(len)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.inner.serialize_tuple_struct(name, len)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.inner
            .serialize_tuple_variant(name, index, variant, len)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(MetaMap {
            inner: self.inner.serialize_map(len.map(|n| n + 1))?,
            ns: self.ns,
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(MetaStruct {
            inner: self.inner.serialize_struct(name, len + 1)?,
            ns: self.ns,
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.inner
            .serialize_struct_variant(name, index, variant, len)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: a deserializer wrapper that drops the `__faust` entry of the outermost struct or map.

/// Wraps `deserializer` so that the struct (or map) read with it never sees a `__faust` key.
#[doc(hidden)]
pub fn without_metadata<'de, D: de::Deserializer<'de>>(deserializer: D) -> WithoutMetadata<D> {
    WithoutMetadata {
        inner: deserializer,
    }
}

/// See [`without_metadata`].
#[doc(hidden)]
pub struct WithoutMetadata<D> {
    inner: D,
}

macro_rules! forward_de {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[inline]
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for WithoutMetadata<D> {
    type Error = D::Error;

    forward_de! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(SkipMeta { inner: visitor })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_struct(name, fields, SkipMeta { inner: visitor })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor whose maps never yield the `__faust` entry.
struct SkipMeta<V> {
    inner: V,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            #[inline]
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipMeta<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }
    fn visit_some<D2: de::Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.inner.visit_some(d)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_newtype_struct<D2: de::Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.inner.visit_newtype_struct(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(MetaFilter { inner: map })
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// Map access that skips the `__faust` entry.
struct MetaFilter<A> {
    inner: A,
}

/// A key, or the metadata key (with the seed handed back).
enum Probed<K, T> {
    Meta(K),
    Key(T),
}

/// Reads a key: the metadata key is recognized, any other is passed to the wrapped seed.
struct KeyProbe<K>(K);

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeyProbe<K> {
    type Value = Probed<K, K::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for KeyProbe<K> {
    type Value = Probed<K, K::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v == METADATA_KEY {
            return Ok(Probed::Meta(self.0));
        }
        self.0
            .deserialize(IntoDeserializer::<E>::into_deserializer(v))
            .map(Probed::Key)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if v == METADATA_KEY {
            return Ok(Probed::Meta(self.0));
        }
        self.0
            .deserialize(de::value::BorrowedStrDeserializer::<E>::new(v))
            .map(Probed::Key)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if v == METADATA_KEY {
            return Ok(Probed::Meta(self.0));
        }
        self.0
            .deserialize(IntoDeserializer::<E>::into_deserializer(v))
            .map(Probed::Key)
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        if v == METADATA_KEY.as_bytes() {
            return Ok(Probed::Meta(self.0));
        }
        self.0
            .deserialize(de::value::BytesDeserializer::<E>::new(v))
            .map(Probed::Key)
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        if v == METADATA_KEY.as_bytes() {
            return Ok(Probed::Meta(self.0));
        }
        self.0
            .deserialize(de::value::BorrowedBytesDeserializer::<E>::new(v))
            .map(Probed::Key)
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        self.visit_bytes(&v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.0
            .deserialize(IntoDeserializer::<E>::into_deserializer(v))
            .map(Probed::Key)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.0
            .deserialize(IntoDeserializer::<E>::into_deserializer(v))
            .map(Probed::Key)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for MetaFilter<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = seed;
        loop {
            match self.inner.next_key_seed(KeyProbe(seed))? {
                None => return Ok(None),
                Some(Probed::Key(k)) => return Ok(Some(k)),
                Some(Probed::Meta(back)) => {
                    self.inner.next_value::<de::IgnoredAny>()?;
                    seed = back;
                }
            }
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Field helpers for Faust's encodings.

/// `bytes` as Faust writes them: Python's `repr` of the bytes as a string (`"b'hello'"`,
/// `"b'\\x00\\xff'"` in the JSON), which is what Faust's JSON encoder does with a `bytes`
/// field in both flavours. Use on `Vec<u8>`, `bytes::Bytes` or any
/// `AsRef<[u8]> + From<Vec<u8>>` field: `#[serde(with = "faust_runtime::record::bytes_str")]`.
///
/// Reading accepts that `repr` (either quote, every escape Python's bytes literals have), plain
/// text (its UTF-8 bytes: what other producers, and faust-rs before it wrote `repr`, send),
/// bytes, or a list of numbers. Binary formats (msgpack) carry the bytes as they are.
///
/// ```
/// use faust_runtime::record::bytes_str;
///
/// assert_eq!(bytes_str::repr(b"hello"), "b'hello'");
/// assert_eq!(bytes_str::repr(b"it's \x00\xff"), r#"b"it's \x00\xff""#);
/// assert_eq!(bytes_str::parse_repr(r"b'\x00\xffhi\'\n'").unwrap(), b"\x00\xffhi'\n");
/// assert_eq!(bytes_str::parse_repr("hello"), None);
/// ```
pub mod bytes_str {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    /// Python's `repr` of `bytes`, as a `Display` value (so it is written without a copy).
    struct Repr<'a>(&'a [u8]);

    impl fmt::Display for Repr<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            use fmt::Write as _;
            // Python quotes with ' unless the bytes hold ' and no ".
            let quote = if self.0.contains(&b'\'') && !self.0.contains(&b'"') {
                '"'
            } else {
                '\''
            };
            f.write_char('b')?;
            f.write_char(quote)?;
            let mut start = 0;
            for (i, &b) in self.0.iter().enumerate() {
                let plain = (0x20..0x7f).contains(&b) && b != b'\\' && char::from(b) != quote;
                if plain {
                    continue;
                }
                // A run of printable ASCII is valid UTF-8.
                f.write_str(std::str::from_utf8(&self.0[start..i]).unwrap_or_default())?;
                start = i + 1;
                match b {
                    b'\\' => f.write_str("\\\\")?,
                    b'\t' => f.write_str("\\t")?,
                    b'\n' => f.write_str("\\n")?,
                    b'\r' => f.write_str("\\r")?,
                    _ if char::from(b) == quote => {
                        f.write_char('\\')?;
                        f.write_char(quote)?;
                    }
                    _ => write!(f, "\\x{b:02x}")?,
                }
            }
            f.write_str(std::str::from_utf8(&self.0[start..]).unwrap_or_default())?;
            f.write_char(quote)
        }
    }

    /// Python's `repr` of `bytes`: `b'hello'`, `b'\x00'`, `b"it's"`.
    pub fn repr(bytes: &[u8]) -> String {
        Repr(bytes).to_string()
    }

    /// The bytes of a Python bytes literal such as `repr` writes (`b'..'` or `b".."`), or
    /// `None` when `text` is not one.
    pub fn parse_repr(text: &str) -> Option<Vec<u8>> {
        let body = text.strip_prefix('b')?;
        let quote = body.chars().next().filter(|q| *q == '\'' || *q == '"')?;
        let body = body[1..].strip_suffix(quote)?.as_bytes();
        let mut out = Vec::with_capacity(body.len());
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            i += 1;
            if !b.is_ascii() || b == quote as u8 {
                return None;
            }
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let e = *body.get(i)?;
            i += 1;
            match e {
                b'\\' | b'\'' | b'"' => out.push(e),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(0x07),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'v' => out.push(0x0b),
                b'\n' => {}
                b'x' => {
                    let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b'0'..=b'7' => {
                    let mut n = u32::from(e - b'0');
                    for _ in 0..2 {
                        match body.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                n = n * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push((n & 0xff) as u8);
                }
                // Python keeps unknown escapes as they are.
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
        Some(out)
    }

    /// Writes the bytes as Python's `repr` text (as bytes in binary formats).
    pub fn serialize<T: AsRef<[u8]> + ?Sized, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&Repr(value.as_ref()))
        } else {
            s.serialize_bytes(value.as_ref())
        }
    }

    /// Reads Python's `repr` text, plain text, bytes, or a list of numbers into bytes.
    pub fn deserialize<'de, T: From<Vec<u8>>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(BytesVisitor).map(T::from)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string of bytes")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(parse_repr(v).unwrap_or_else(|| v.as_bytes().to_vec()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<u8>, E> {
            Ok(parse_repr(&v).unwrap_or_else(|| v.into_bytes()))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// Python `IntEnum`s as Faust writes them: the number. Use on a field whose enum implements
/// `Copy + Into<i64>` and `TryFrom<i64>`:
/// `#[serde(with = "faust_runtime::record::int_enum")]`.
pub mod int_enum {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt::Display;

    /// Writes the enum's number.
    pub fn serialize<T: Copy + Into<i64>, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_i64((*value).into())
    }

    /// Reads a number into the enum; an unknown number is an error.
    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: TryFrom<i64>,
        T::Error: Display,
        D: Deserializer<'de>,
    {
        let n = i64::deserialize(d)?;
        T::try_from(n)
            .map_err(|e| serde::de::Error::custom(format!("{n} is not a valid value: {e}")))
    }
}

/// `datetime` fields as Faust writes them: ISO-8601, microseconds when not zero, `Z` for UTC
/// (`"2024-01-02T03:04:05.123456Z"`). Use on a `chrono::DateTime<Utc>` field:
/// `#[serde(with = "faust_runtime::record::datetime")]` (or `datetime::option` on an
/// `Option<DateTime<Utc>>`). Reading accepts any RFC 3339 offset (converted to UTC), a space
/// instead of `T`, and naive timestamps (taken as UTC).
#[cfg(feature = "chrono")]
pub mod datetime {
    use chrono::{DateTime, NaiveDateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The Faust text of a UTC datetime.
    pub fn format(value: &DateTime<Utc>) -> String {
        let mut s = super::naive_datetime::format(&value.naive_utc());
        s.push('Z');
        s
    }

    /// Parses a Faust (or any RFC 3339 or naive ISO-8601) datetime.
    pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        let t = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(dt.with_timezone(&Utc));
        }
        if let Ok(dt) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%#z") {
            return Ok(dt.with_timezone(&Utc));
        }
        super::naive_datetime::parse(t)
            .map(|n: NaiveDateTime| n.and_utc())
            .map_err(|_| format!("'{text}' is not an ISO-8601 datetime"))
    }

    /// Writes the Faust text.
    pub fn serialize<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(value))
    }

    /// Reads a datetime from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<DateTime<Utc>>` (`null` for `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the Faust text, or `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(&super::format(v)),
                None => s.serialize_none(),
            }
        }

        /// Reads a datetime from text, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
                Some(text) => super::parse(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// `date` fields as Faust writes them, which depends on the JSON library of the Faust app:
/// stdlib `json` writes a date as midnight, `"2024-01-02T00:00:00"`; orjson writes
/// `"2024-01-02"`. Use on a `chrono::NaiveDate` field:
/// `#[serde(with = "faust_runtime::record::date")]` (or `date::option` on an
/// `Option<NaiveDate>`). Writing follows the flavour of the `json` codec doing the encoding
/// (stdlib when encoded any other way, e.g. with `serde_json` directly); reading accepts both
/// forms and any datetime text (its date, in UTC when it has an offset).
///
/// ```
/// use chrono::NaiveDate;
/// use faust_runtime::codec::faust_json::{self, JsonFlavour};
/// use faust_runtime::prelude::*;
///
/// #[record(namespace = "app.Visit")]
/// #[derive(Debug, PartialEq)]
/// struct Visit {
///     #[serde(with = "faust_runtime::record::date")]
///     day: NaiveDate,
/// }
///
/// let v = Visit { day: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap() };
/// let stdlib = faust_json::to_vec(&v, JsonFlavour::Stdlib)?;
/// assert_eq!(stdlib, br#"{"day":"2024-01-02T00:00:00","__faust":{"ns":"app.Visit"}}"#);
/// let orjson = faust_json::to_vec(&v, JsonFlavour::Orjson)?;
/// assert_eq!(orjson, br#"{"day":"2024-01-02","__faust":{"ns":"app.Visit"}}"#);
/// assert_eq!(faust_json::from_slice::<Visit>(&stdlib)?, v);
/// assert_eq!(faust_json::from_slice::<Visit>(&orjson)?, v);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "chrono")]
pub mod date {
    use crate::codec::faust_json::{writing_flavour, JsonFlavour};
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The Faust text of a date in `flavour`.
    pub fn format(value: &NaiveDate, flavour: JsonFlavour) -> String {
        match flavour {
            JsonFlavour::Stdlib => value.format("%Y-%m-%dT00:00:00").to_string(),
            JsonFlavour::Orjson => value.format("%Y-%m-%d").to_string(),
        }
    }

    /// Parses `"2024-01-02"`, `"2024-01-02T00:00:00"` or any datetime text Faust writes.
    pub fn parse(text: &str) -> Result<NaiveDate, String> {
        let t = text.trim();
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .or_else(|| super::naive_datetime::parse(t).ok().map(|d| d.date()))
            .or_else(|| super::datetime::parse(t).ok().map(|d| d.date_naive()))
            .ok_or_else(|| format!("'{text}' is not an ISO-8601 date"))
    }

    /// Writes the Faust text in the flavour being encoded.
    pub fn serialize<S: Serializer>(value: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        match writing_flavour().unwrap_or_default() {
            JsonFlavour::Stdlib => s.collect_str(&value.format("%Y-%m-%dT00:00:00")),
            JsonFlavour::Orjson => s.collect_str(&value.format("%Y-%m-%d")),
        }
    }

    /// Reads a date from either form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<NaiveDate>` (`null` for `None`).
    pub mod option {
        use chrono::NaiveDate;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the Faust text, or `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<NaiveDate>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(&super::AsFaust(v)),
                None => s.serialize_none(),
            }
        }

        /// Reads a date from either form, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
                Some(text) => super::parse(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }

    /// A date that serializes as [`serialize`] writes it.
    struct AsFaust<'a>(&'a NaiveDate);

    impl serde::Serialize for AsFaust<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(self.0, s)
        }
    }
}

/// `time` fields as Faust writes them (Python's `isoformat`, the same in both flavours):
/// `"03:04:05"`, or `"03:04:05.123456"` when the microseconds are not zero. Use on a
/// `chrono::NaiveTime` field: `#[serde(with = "faust_runtime::record::time")]`. Reading also
/// accepts `"03:04"` and any number of fraction digits.
#[cfg(feature = "chrono")]
pub mod time {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The Faust (Python `isoformat`) text of a time.
    pub fn format(value: &NaiveTime) -> String {
        let micros = value.nanosecond() % 1_000_000_000 / 1_000;
        let base = value.format("%H:%M:%S");
        if micros == 0 {
            base.to_string()
        } else {
            format!("{base}.{micros:06}")
        }
    }

    /// Parses `"03:04:05.123456"`, `"03:04:05"` or `"03:04"`.
    pub fn parse(text: &str) -> Result<NaiveTime, String> {
        let t = text.trim();
        NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            .map_err(|_| format!("'{text}' is not an ISO-8601 time"))
    }

    /// Writes the Faust text.
    pub fn serialize<S: Serializer>(value: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(value))
    }

    /// Reads a time from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Naive `datetime` fields (no timezone) as Faust writes them: `"2024-01-02T03:04:05.123456"`,
/// microseconds when not zero. Use on a `chrono::NaiveDateTime` field:
/// `#[serde(with = "faust_runtime::record::naive_datetime")]`.
#[cfg(feature = "chrono")]
pub mod naive_datetime {
    use chrono::{NaiveDateTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The Faust (Python `isoformat`) text of a naive datetime.
    pub fn format(value: &NaiveDateTime) -> String {
        let micros = value.nanosecond() % 1_000_000_000 / 1_000;
        let base = value.format("%Y-%m-%dT%H:%M:%S");
        if micros == 0 {
            base.to_string()
        } else {
            format!("{base}.{micros:06}")
        }
    }

    /// Parses an ISO-8601 datetime without offset (`T` or a space between date and time).
    pub fn parse(text: &str) -> Result<NaiveDateTime, String> {
        let t = text.trim();
        NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
            .map_err(|_| format!("'{text}' is not an ISO-8601 datetime"))
    }

    /// Writes the Faust text.
    pub fn serialize<S: Serializer>(value: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(value))
    }

    /// Reads a naive datetime from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serializer as _;

    struct Order {
        id: u64,
        product: String,
    }

    impl Serialize for Order {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = with_metadata(s, "app.Order").serialize_struct("Order", 2)?;
            st.serialize_field("id", &self.id)?;
            st.serialize_field("product", &self.product)?;
            st.end()
        }
    }

    #[test]
    fn metadata_is_appended() {
        let o = Order {
            id: 10,
            product: "apple".into(),
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"id":10,"product":"apple","__faust":{"ns":"app.Order"}}"#
        );
    }

    #[test]
    fn metadata_is_skipped() {
        let v: std::collections::BTreeMap<String, u32> = serde::Deserialize::deserialize(
            without_metadata(&mut serde_json::Deserializer::from_str(
                r#"{"a":1,"__faust":{"ns":"x","extra":[1,{"b":2}]},"b":2}"#,
            )),
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            default_namespace("my_app::orders", "Order"),
            "my_app.orders.Order"
        );
    }
}
