//! A decoded value held in memory, and a deserializer over it.
//!
//! Two readers need a value in hand before they know what to build: the tolerant JSON reader
//! (for the `NaN` / `Infinity` tokens Python's `json` writes, which `serde_json` refuses) and
//! polymorphic records (which pick the record type from `__faust.ns`, written after the fields).
//! [`Content`] is that value; [`ContentDeserializer`] hands it to any `Deserialize` type with the
//! same rules as `serde_json`'s own deserializer, plus one: a plain float reads `null` as NaN
//! (orjson writes NaN and ±Infinity as `null`).

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A value of serde's data model, as read from a self-describing format.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// `null`, `None` or `()`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A non-negative integer above `u64::MAX`.
    U128(u128),
    /// A negative integer below `i64::MIN`.
    I128(i128),
    /// A float (NaN and the infinities included).
    F64(f64),
    /// Text.
    Str(String),
    /// Bytes (from binary formats).
    Bytes(Vec<u8>),
    /// A sequence.
    Seq(Vec<Content>),
    /// A map, entries in the order read.
    Map(Vec<(Content, Content)>),
}

impl Content {
    /// The value under `key` when this is a map with a string key `key`.
    pub fn get(&self, key: &str) -> Option<&Content> {
        match self {
            Content::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Content::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Content::Str(s) => Some(s),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Content::Null => de::Unexpected::Unit,
            Content::Bool(b) => de::Unexpected::Bool(*b),
            Content::U64(n) => de::Unexpected::Unsigned(*n),
            Content::I64(n) => de::Unexpected::Signed(*n),
            Content::U128(_) | Content::I128(_) => de::Unexpected::Other("a 128-bit integer"),
            Content::F64(f) => de::Unexpected::Float(*f),
            Content::Str(s) => de::Unexpected::Str(s),
            Content::Bytes(b) => de::Unexpected::Bytes(b),
            Content::Seq(_) => de::Unexpected::Seq,
            Content::Map(_) => de::Unexpected::Map,
        }
    }
}

impl<'de> de::Deserialize<'de> for Content {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Content, E> {
        Ok(Content::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Content, E> {
        Ok(if v < 0 {
            Content::I64(v)
        } else {
            Content::U64(v as u64)
        })
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Content, E> {
        Ok(Content::U64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Content, E> {
        Ok(match (i64::try_from(v), u64::try_from(v)) {
            (_, Ok(u)) => Content::U64(u),
            (Ok(i), _) => Content::I64(i),
            _ if v < 0 => Content::I128(v),
            _ => Content::U128(v as u128),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Content, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Content::U64(u),
            Err(_) => Content::U128(v),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Content, E> {
        Ok(Content::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
        Ok(Content::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Content, E> {
        Ok(Content::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Content, E> {
        Ok(Content::Bytes(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Content::Seq(out))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            out.push(entry);
        }
        Ok(Content::Map(out))
    }
}

/// Deserializes any type from a [`Content`], as `serde_json` would from the JSON text.
pub struct ContentDeserializer<E> {
    content: Content,
    human_readable: bool,
    err: PhantomData<E>,
}

impl<E> ContentDeserializer<E> {
    /// A deserializer over `content`; `human_readable` is what the format it came from says
    /// (true for JSON).
    pub fn new(content: Content, human_readable: bool) -> Self {
        ContentDeserializer {
            content,
            human_readable,
            err: PhantomData,
        }
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for ContentDeserializer<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        let hr = self.human_readable;
        match self.content {
            Content::Null => visitor.visit_unit(),
            Content::Bool(b) => visitor.visit_bool(b),
            Content::U64(n) => visitor.visit_u64(n),
            Content::I64(n) => visitor.visit_i64(n),
            // As serde_json: integers beyond 64 bits are floats unless asked for as 128-bit.
            Content::U128(n) => visitor.visit_f64(n as f64),
            Content::I128(n) => visitor.visit_f64(n as f64),
            Content::F64(f) => visitor.visit_f64(f),
            Content::Str(s) => visitor.visit_string(s),
            Content::Bytes(b) => visitor.visit_byte_buf(b),
            Content::Seq(items) => visit_seq(items, hr, visitor),
            Content::Map(entries) => visit_map(entries, hr, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            Content::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            // orjson's NaN (and ±Infinity); a float that may be absent is an Option.
            Content::Null => visitor.visit_f64(f64::NAN),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            Content::I128(n) => visitor.visit_i128(n),
            Content::U128(n) => match i128::try_from(n) {
                Ok(n) => visitor.visit_i128(n),
                Err(_) => visitor.visit_u128(n),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            Content::U128(n) => visitor.visit_u128(n),
            Content::I128(n) => visitor.visit_i128(n),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            Content::Str(s) => visitor.visit_byte_buf(s.into_bytes()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.content {
            Content::Null => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        let hr = self.human_readable;
        match self.content {
            Content::Str(s) => visitor.visit_enum(s.into_deserializer()),
            Content::Map(entries) if entries.len() == 1 => {
                let (variant, value) = entries.into_iter().next().expect("one entry");
                visitor.visit_enum(EnumDeserializer {
                    variant,
                    value,
                    human_readable: hr,
                    err: PhantomData,
                })
            }
            Content::Map(_) => Err(de::Error::invalid_value(
                de::Unexpected::Map,
                &"a map with a single key",
            )),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"string or map",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        drop(self);
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.human_readable
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 char str string seq tuple tuple_struct map struct
        identifier
    }
}

impl<'de, E: de::Error> IntoDeserializer<'de, E> for ContentDeserializer<E> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

fn visit_seq<'de, V: Visitor<'de>, E: de::Error>(
    items: Vec<Content>,
    human_readable: bool,
    visitor: V,
) -> Result<V::Value, E> {
    let len = items.len();
    let mut seq = SeqAccess {
        iter: items.into_iter(),
        human_readable,
        err: PhantomData,
    };
    let value = visitor.visit_seq(&mut seq)?;
    match seq.iter.len() {
        0 => Ok(value),
        rest => Err(de::Error::invalid_length(
            len,
            &format!("{} elements", len - rest).as_str(),
        )),
    }
}

fn visit_map<'de, V: Visitor<'de>, E: de::Error>(
    entries: Vec<(Content, Content)>,
    human_readable: bool,
    visitor: V,
) -> Result<V::Value, E> {
    let len = entries.len();
    let mut map = MapAccess {
        iter: entries.into_iter(),
        value: None,
        human_readable,
        err: PhantomData,
    };
    let value = visitor.visit_map(&mut map)?;
    match map.iter.len() {
        0 => Ok(value),
        rest => Err(de::Error::invalid_length(
            len,
            &format!("{} entries", len - rest).as_str(),
        )),
    }
}

struct SeqAccess<E> {
    iter: std::vec::IntoIter<Content>,
    human_readable: bool,
    err: PhantomData<E>,
}

impl<'de, E: de::Error> de::SeqAccess<'de> for SeqAccess<E> {
    type Error = E;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, E> {
        match self.iter.next() {
            Some(c) => seed
                .deserialize(ContentDeserializer::new(c, self.human_readable))
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapAccess<E> {
    iter: std::vec::IntoIter<(Content, Content)>,
    value: Option<Content>,
    human_readable: bool,
    err: PhantomData<E>,
}

impl<'de, E: de::Error> de::MapAccess<'de> for MapAccess<E> {
    type Error = E;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, E> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let key = match k {
                    Content::Str(s) => seed.deserialize(KeyDeserializer::<E> {
                        key: s,
                        err: PhantomData,
                    }),
                    other => seed.deserialize(ContentDeserializer::new(other, self.human_readable)),
                };
                key.map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, E> {
        match self.value.take() {
            Some(v) => seed.deserialize(ContentDeserializer::new(v, self.human_readable)),
            None => Err(de::Error::custom("a map value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A JSON object key: a string that numeric and boolean key types parse, as `serde_json` does.
struct KeyDeserializer<E> {
    key: String,
    err: PhantomData<E>,
}

macro_rules! parse_key {
    ($($method:ident => $visit:ident: $ty:ty,)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
                match self.key.parse::<$ty>() {
                    Ok(v) => visitor.$visit(v),
                    Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(&self.key), &visitor)),
                }
            }
        )*
    };
}

impl<'de, E: de::Error> de::Deserializer<'de> for KeyDeserializer<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_string(self.key)
    }

    parse_key! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_enum(self.key.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct EnumDeserializer<E> {
    variant: Content,
    value: Content,
    human_readable: bool,
    err: PhantomData<E>,
}

impl<'de, E: de::Error> de::EnumAccess<'de> for EnumDeserializer<E> {
    type Error = E;
    type Variant = VariantDeserializer<E>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDeserializer<E>), E> {
        let variant = seed.deserialize(ContentDeserializer::<E>::new(
            self.variant,
            self.human_readable,
        ))?;
        Ok((
            variant,
            VariantDeserializer {
                value: ContentDeserializer::new(self.value, self.human_readable),
            },
        ))
    }
}

struct VariantDeserializer<E> {
    value: ContentDeserializer<E>,
}

impl<'de, E: de::Error> de::VariantAccess<'de> for VariantDeserializer<E> {
    type Error = E;

    fn unit_variant(self) -> Result<(), E> {
        de::Deserialize::deserialize(self.value)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, E> {
        seed.deserialize(self.value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        let hr = self.value.human_readable;
        match self.value.content {
            Content::Seq(items) => visit_seq(items, hr, visitor),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        let d = self.value;
        match d.content {
            Content::Map(_) | Content::Seq(_) => de::Deserializer::deserialize_any(d, visitor),
            ref other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"struct variant",
            )),
        }
    }
}

impl<E> fmt::Debug for ContentDeserializer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContentDeserializer")
            .field(&self.content)
            .finish()
    }
}
