//! The `raw` format: a value that is text or bytes travels as its bytes, unchanged.
//!
//! Encoding accepts what serializes as a string, a char, bytes, a sequence of `u8` (`Vec<u8>`),
//! a unit enum variant (its name), `()` (no bytes) and any newtype or `Some` around those.
//! Decoding gives those types back: text types require valid UTF-8.

use super::CodecError;
use serde::de::{self, IntoDeserializer, Visitor};
use serde::ser::{self, Impossible, Serialize};
use std::fmt;

/// Error type of the raw serializer and deserializer.
#[derive(Debug)]
pub(crate) struct RawError(String);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RawError {}

impl ser::Error for RawError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RawError(msg.to_string())
    }
}

impl de::Error for RawError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RawError(msg.to_string())
    }
}

impl From<RawError> for CodecError {
    fn from(e: RawError) -> Self {
        CodecError(e.0)
    }
}

fn not_raw(what: &str) -> RawError {
    RawError(format!(
        "the raw codec carries only strings and bytes, not {what} (use the json or msgpack codec for this type)"
    ))
}

/// Encodes a value with the raw format.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(value.serialize(RawSerializer)?)
}

/// Decodes a value with the raw format.
pub(crate) fn from_slice<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(T::deserialize(RawDeserializer { bytes })?)
}

struct RawSerializer;

macro_rules! refuse {
    ($($method:ident($($ty:ty),*) = $what:literal;)*) => {
        $(
            fn $method(self, $(_: $ty),*) -> Result<Vec<u8>, RawError> {
                Err(not_raw($what))
            }
        )*
    };
}

impl ser::Serializer for RawSerializer {
    type Ok = Vec<u8>;
    type Error = RawError;
    type SerializeSeq = ByteSeq;
    type SerializeTuple = ByteSeq;
    type SerializeTupleStruct = Impossible<Vec<u8>, RawError>;
    type SerializeTupleVariant = Impossible<Vec<u8>, RawError>;
    type SerializeMap = Impossible<Vec<u8>, RawError>;
    type SerializeStruct = Impossible<Vec<u8>, RawError>;
    type SerializeStructVariant = Impossible<Vec<u8>, RawError>;

    refuse! {
        serialize_bool(bool) = "a bool";
        serialize_i8(i8) = "a number";
        serialize_i16(i16) = "a number";
        serialize_i32(i32) = "a number";
        serialize_i64(i64) = "a number";
        serialize_i128(i128) = "a number";
        serialize_u8(u8) = "a number";
        serialize_u16(u16) = "a number";
        serialize_u32(u32) = "a number";
        serialize_u64(u64) = "a number";
        serialize_u128(u128) = "a number";
        serialize_f32(f32) = "a number";
        serialize_f64(f64) = "a number";
        serialize_none() = "None (send a tombstone instead)";
    }

    fn serialize_char(self, v: char) -> Result<Vec<u8>, RawError> {
        Ok(v.to_string().into_bytes())
    }

    fn serialize_str(self, v: &str) -> Result<Vec<u8>, RawError> {
        Ok(v.as_bytes().to_vec())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Vec<u8>, RawError> {
        Ok(v.to_vec())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, RawError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Vec<u8>, RawError> {
        Ok(Vec::new())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Vec<u8>, RawError> {
        Ok(Vec::new())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Vec<u8>, RawError> {
        Ok(variant.as_bytes().to_vec())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Vec<u8>, RawError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Vec<u8>, RawError> {
        Err(not_raw("an enum variant with data"))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<ByteSeq, RawError> {
        Ok(ByteSeq(Vec::with_capacity(len.unwrap_or(0))))
    }

    fn serialize_tuple(self, len: usize) -> Result<ByteSeq, RawError> {
        Ok(ByteSeq(Vec::with_capacity(len)))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, RawError> {
        Err(not_raw("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, RawError> {
        Err(not_raw("an enum variant with data"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, RawError> {
        Err(not_raw("a map"))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, RawError> {
        Err(not_raw(&format!("a struct ({name})")))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, RawError> {
        Err(not_raw("an enum variant with data"))
    }
}

/// Collects a sequence of `u8` (how `Vec<u8>` and `[u8; N]` serialize).
struct ByteSeq(Vec<u8>);

impl ByteSeq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        self.0.push(value.serialize(OneByte)?);
        Ok(())
    }
}

impl ser::SerializeSeq for ByteSeq {
    type Ok = Vec<u8>;
    type Error = RawError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        self.push(value)
    }
    fn end(self) -> Result<Vec<u8>, RawError> {
        Ok(self.0)
    }
}

impl ser::SerializeTuple for ByteSeq {
    type Ok = Vec<u8>;
    type Error = RawError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RawError> {
        self.push(value)
    }
    fn end(self) -> Result<Vec<u8>, RawError> {
        Ok(self.0)
    }
}

/// Accepts exactly one `u8`: an element of a byte sequence.
struct OneByte;

fn not_a_byte() -> RawError {
    not_raw("a sequence of anything but u8")
}

macro_rules! not_byte {
    ($($method:ident($($ty:ty),*);)*) => {
        $(
            fn $method(self, $(_: $ty),*) -> Result<u8, RawError> {
                Err(not_a_byte())
            }
        )*
    };
}

impl ser::Serializer for OneByte {
    type Ok = u8;
    type Error = RawError;
    type SerializeSeq = Impossible<u8, RawError>;
    type SerializeTuple = Impossible<u8, RawError>;
    type SerializeTupleStruct = Impossible<u8, RawError>;
    type SerializeTupleVariant = Impossible<u8, RawError>;
    type SerializeMap = Impossible<u8, RawError>;
    type SerializeStruct = Impossible<u8, RawError>;
    type SerializeStructVariant = Impossible<u8, RawError>;

    fn serialize_u8(self, v: u8) -> Result<u8, RawError> {
        Ok(v)
    }

    not_byte! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<u8, RawError> {
        Err(not_a_byte())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<u8, RawError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<u8, RawError> {
        Err(not_a_byte())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, RawError> {
        Err(not_a_byte())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, RawError> {
        Err(not_a_byte())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, RawError> {
        Err(not_a_byte())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, RawError> {
        Err(not_a_byte())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, RawError> {
        Err(not_a_byte())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, RawError> {
        Err(not_a_byte())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, RawError> {
        Err(not_a_byte())
    }
}

/// Reads one raw value out of borrowed bytes.
struct RawDeserializer<'de> {
    bytes: &'de [u8],
}

impl<'de> RawDeserializer<'de> {
    fn text(&self) -> Result<&'de str, RawError> {
        std::str::from_utf8(self.bytes).map_err(|e| {
            RawError(format!(
                "invalid UTF-8 at byte {}: the raw codec decodes text types from UTF-8 (use a bytes type such as Vec<u8> for binary data)",
                e.valid_up_to()
            ))
        })
    }
}

fn cannot_decode(what: &str) -> RawError {
    RawError(format!(
        "the raw codec carries only strings and bytes and cannot decode {what} (use the json or msgpack codec for this type)"
    ))
}

macro_rules! refuse_de {
    ($($method:ident = $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, RawError> {
                Err(cannot_decode($what))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for RawDeserializer<'de> {
    type Error = RawError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        match std::str::from_utf8(self.bytes) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.bytes),
        }
    }

    refuse_de! {
        deserialize_bool = "a bool";
        deserialize_i8 = "a number";
        deserialize_i16 = "a number";
        deserialize_i32 = "a number";
        deserialize_i64 = "a number";
        deserialize_i128 = "a number";
        deserialize_u8 = "a number";
        deserialize_u16 = "a number";
        deserialize_u32 = "a number";
        deserialize_u64 = "a number";
        deserialize_u128 = "a number";
        deserialize_f32 = "a number";
        deserialize_f64 = "a number";
        deserialize_map = "a map";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        let s = self.text()?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(RawError(format!(
                "expected exactly one character, got {} bytes",
                self.bytes.len()
            ))),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        if self.bytes.is_empty() {
            visitor.visit_unit()
        } else {
            Err(RawError(format!(
                "expected no bytes for a unit value, got {}",
                self.bytes.len()
            )))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        let mut seq = de::value::SeqDeserializer::new(self.bytes.iter().copied());
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, RawError> {
        Err(cannot_decode("a tuple struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, RawError> {
        Err(cannot_decode(&format!("a struct ({name})")))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RawError> {
        let s = self.text()?;
        visitor.visit_enum(IntoDeserializer::<RawError>::into_deserializer(s))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_round_trip() {
        assert_eq!(to_vec("héllo").unwrap(), "héllo".as_bytes());
        assert_eq!(from_slice::<String>("héllo".as_bytes()).unwrap(), "héllo");
        assert_eq!(to_vec(&vec![0u8, 255]).unwrap(), vec![0, 255]);
        assert_eq!(from_slice::<Vec<u8>>(&[0, 255]).unwrap(), vec![0, 255]);
        assert_eq!(to_vec(&Some("x".to_string())).unwrap(), b"x");
        assert_eq!(
            from_slice::<Option<String>>(b"x").unwrap(),
            Some("x".into())
        );
        assert_eq!(to_vec(&'é').unwrap(), "é".as_bytes());
        assert_eq!(from_slice::<char>("é".as_bytes()).unwrap(), 'é');
        assert_eq!(to_vec(&()).unwrap(), b"");
        from_slice::<()>(b"").unwrap();
        assert_eq!(to_vec(&[1u8, 2, 3]).unwrap(), vec![1, 2, 3]);
        assert_eq!(from_slice::<[u8; 3]>(&[1, 2, 3]).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn refuses_what_is_not_text_or_bytes() {
        assert!(to_vec(&5u32).unwrap_err().0.contains("not a number"));
        assert!(to_vec(&vec![1u32, 2]).unwrap_err().0.contains("u8"));
        assert!(from_slice::<u64>(b"12")
            .unwrap_err()
            .0
            .contains("cannot decode a number"));
        let e = from_slice::<String>(&[b'a', 0xff]).unwrap_err();
        assert!(e.0.contains("invalid UTF-8 at byte 1"), "{e}");
        assert!(from_slice::<[u8; 2]>(&[1, 2, 3]).is_err());
        assert!(from_slice::<()>(b"x").is_err());
    }
}
