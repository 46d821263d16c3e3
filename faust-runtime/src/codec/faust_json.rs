//! Faust's JSON, byte for byte, in both of its flavours.
//!
//! Faust encodes JSON with whatever library it finds: a plain `pip install faust-streaming` uses
//! Python's stdlib `json`, `faust-streaming[fast]` uses orjson. The two write different bytes
//! for the same value, and the difference matters beyond looks: a JSON key is hashed as bytes to
//! pick its partition, so `"caf\u00e9"` and `"café"` land on different partitions.
//!
//! | value                  | [`JsonFlavour::Stdlib`] (default) | [`JsonFlavour::Orjson`]      |
//! |------------------------|-----------------------------------|------------------------------|
//! | non-ASCII text         | `"caf\u00e9"`, `"\ud83d\ude00"` (and DEL as `\u007f`) | `"café"`, raw UTF-8 |
//! | NaN, ±Infinity         | `NaN`, `Infinity`, `-Infinity`    | `null`                       |
//! | floats                 | Python's `repr`: `1e-05`, `0.0001`, `1e+16`, `1.0` | `0.00001`, `1e-6`, `1e+16`, `1.0` |
//! | `date` (with `record::date`) | `"2024-01-02T00:00:00"` | `"2024-01-02"`          |
//!
//! Everything else (separators, escapes of quotes and control characters, integers, field order)
//! is the same in both and the same as `serde_json`'s compact output.
//!
//! Decoding accepts both flavours whatever the setting: `NaN`, `Infinity` and `-Infinity`
//! outside strings, escaped or raw text, and `null` for a plain `f64`/`f32` (read as NaN, since
//! that is what orjson writes for NaN and the infinities; an `Option<f64>` reads `null` as
//! `None`), and a float literal beyond f64's range as ±Infinity (as Python reads it). Input
//! `serde_json` accepts is decoded by it straight from the bytes; only input it refuses is read
//! a second time, by the tolerant reader.
//!
//! The codec names pick the flavour: `"json"` follows [`default_json_flavour`] (stdlib unless
//! [`set_default_json_flavour`] says otherwise, process-wide), `"json:stdlib"` and
//! `"json:orjson"` always write that flavour.
//!
//! ```
//! use faust_runtime::codec::faust_json::{self, JsonFlavour};
//!
//! assert_eq!(faust_json::to_vec(&"café", JsonFlavour::Stdlib)?, br#""caf\u00e9""#);
//! assert_eq!(faust_json::to_vec(&"café", JsonFlavour::Orjson)?, "\"café\"".as_bytes());
//! assert_eq!(faust_json::to_vec(&vec![f64::NAN, 1e-7], JsonFlavour::Stdlib)?, b"[NaN,1e-07]");
//! assert_eq!(faust_json::to_vec(&vec![f64::NAN, 1e-7], JsonFlavour::Orjson)?, b"[null,1e-7]");
//! let back: Vec<f64> = faust_json::from_slice(b"[NaN,-Infinity,null]")?;
//! assert!(back[0].is_nan() && back[1] == f64::NEG_INFINITY && back[2].is_nan());
//! # Ok::<(), serde_json::Error>(())
//! ```

use super::content::{Content, ContentDeserializer};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::{self, Serialize};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// Which Python JSON library's bytes to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JsonFlavour {
    /// Python's stdlib `json`, as a plain `pip install faust-streaming` writes: non-ASCII
    /// escaped as `\uXXXX`, `NaN` / `Infinity` tokens, Python's float `repr`.
    #[default]
    Stdlib,
    /// orjson, as `faust-streaming[fast]` writes: raw UTF-8, `null` for NaN and ±Infinity.
    Orjson,
}

impl JsonFlavour {
    /// The name used in codec names and settings: `"stdlib"` or `"orjson"`.
    pub fn name(self) -> &'static str {
        match self {
            JsonFlavour::Stdlib => "stdlib",
            JsonFlavour::Orjson => "orjson",
        }
    }
}

impl fmt::Display for JsonFlavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for JsonFlavour {
    type Err = String;

    /// Parses `"stdlib"` (also `"json"`) or `"orjson"` (also `"fast"`), ignoring case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stdlib" | "json" => Ok(JsonFlavour::Stdlib),
            "orjson" | "fast" => Ok(JsonFlavour::Orjson),
            other => Err(format!(
                "unknown JSON flavour '{other}' (expected 'stdlib' or 'orjson')"
            )),
        }
    }
}

static DEFAULT_FLAVOUR: AtomicU8 = AtomicU8::new(0);

/// Sets the flavour the `"json"` codec writes, process-wide (the peers' Faust install decides:
/// [`JsonFlavour::Orjson`] when they run `faust-streaming[fast]`). Takes effect for every
/// message encoded afterwards, so set it before the app starts. `"json:stdlib"` and
/// `"json:orjson"` are not affected.
pub fn set_default_json_flavour(flavour: JsonFlavour) {
    DEFAULT_FLAVOUR.store(flavour as u8, Ordering::Relaxed);
}

/// The flavour the `"json"` codec writes: [`JsonFlavour::Stdlib`] unless
/// [`set_default_json_flavour`] changed it.
pub fn default_json_flavour() -> JsonFlavour {
    match DEFAULT_FLAVOUR.load(Ordering::Relaxed) {
        1 => JsonFlavour::Orjson,
        _ => JsonFlavour::Stdlib,
    }
}

thread_local! {
    static WRITING: Cell<Option<JsonFlavour>> = const { Cell::new(None) };
}

/// The flavour being written when called from inside [`to_vec`] / [`to_writer`] (and so from
/// the `json` codecs), `None` elsewhere. Field helpers whose Faust form depends on the flavour
/// (such as `record::date`) ask this.
pub fn writing_flavour() -> Option<JsonFlavour> {
    WRITING.with(Cell::get)
}

/// Restores the previous writing flavour when dropped (also on panic).
struct WritingGuard(Option<JsonFlavour>);

impl WritingGuard {
    fn enter(flavour: JsonFlavour) -> Self {
        WritingGuard(WRITING.with(|w| w.replace(Some(flavour))))
    }
}

impl Drop for WritingGuard {
    fn drop(&mut self) {
        WRITING.with(|w| w.set(self.0));
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Encodes `value` as compact Faust JSON in `flavour`.
pub fn to_vec<T: Serialize + ?Sized>(
    value: &T,
    flavour: JsonFlavour,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    to_writer(&mut out, value, flavour)?;
    Ok(out)
}

/// Encodes `value` as compact Faust JSON in `flavour` into `writer`.
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    flavour: JsonFlavour,
) -> Result<(), serde_json::Error> {
    let token = Cell::new(None);
    let ctx = Ctx {
        token: &token,
        flavour,
    };
    let _guard = WritingGuard::enter(flavour);
    let mut ser = serde_json::Serializer::with_formatter(writer, FaustFormatter { ctx });
    value.serialize(FaustSer {
        inner: &mut ser,
        ctx,
    })
}

/// What the serializer wrapper shares with the formatter.
#[derive(Clone, Copy)]
struct Ctx<'c> {
    /// A token to write instead of the next `null` (serde_json writes non-finite floats as
    /// `null` before the formatter sees them; the wrapper leaves the token here first).
    token: &'c Cell<Option<&'static str>>,
    flavour: JsonFlavour,
}

struct FaustFormatter<'c> {
    ctx: Ctx<'c>,
}

impl serde_json::ser::Formatter for FaustFormatter<'_> {
    #[inline]
    fn write_null<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        match self.ctx.token.take() {
            Some(token) => writer.write_all(token.as_bytes()),
            None => writer.write_all(b"null"),
        }
    }

    #[inline]
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut buf = zmij::Buffer::new();
        let shortest = buf.format_finite(value);
        if positional(value, self.ctx.flavour) && !shortest.contains('e') {
            // Already laid out as Python and orjson write it ("0.001", "12.5", "100.0").
            return writer.write_all(shortest.as_bytes());
        }
        write_float(writer, shortest, self.ctx.flavour)
    }

    #[inline]
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        let mut buf = zmij::Buffer::new();
        let shortest = buf.format_finite(value);
        if positional(f64::from(value), self.ctx.flavour) && !shortest.contains('e') {
            return writer.write_all(shortest.as_bytes());
        }
        write_float(writer, shortest, self.ctx.flavour)
    }

    #[inline]
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        match self.ctx.flavour {
            JsonFlavour::Orjson => writer.write_all(fragment.as_bytes()),
            JsonFlavour::Stdlib => write_ascii_escaped(writer, fragment),
        }
    }
}

/// Whether `flavour` writes `value` without an exponent: from 1e-4 (Python) or 1e-5 (orjson) up
/// to, not including, 1e16.
#[inline]
fn positional(value: f64, flavour: JsonFlavour) -> bool {
    let low = match flavour {
        JsonFlavour::Stdlib => 1e-4,
        JsonFlavour::Orjson => 1e-5,
    };
    let a = value.abs();
    a == 0.0 || (low..1e16).contains(&a)
}

/// Writes `text` as Python's `json` does with `ensure_ascii=True`: everything outside
/// printable ASCII as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above U+FFFF). Quotes,
/// backslashes and control characters never reach here (serde_json escapes those itself,
/// exactly as Python does).
#[inline]
fn write_ascii_escaped<W: ?Sized + io::Write>(writer: &mut W, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    // Most text is plain ASCII: one scan, one write.
    if below_del(bytes) {
        return writer.write_all(bytes);
    }
    write_escaping(writer, text)
}

/// Whether every byte is below 0x7f (DEL), eight bytes at a time: a byte `b` has `b | (b + 1)`
/// at or above 0x80 exactly when `b >= 0x7f`. A carry into the next byte comes only from a
/// byte of 0xff, which is caught itself, so a true answer is always right.
#[inline]
fn below_del(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(eight) = <[u8; 8]>::try_from(chunk) else {
            return false;
        };
        let w = u64::from_le_bytes(eight);
        if (w | w.wrapping_add(ONES)) & HIGH != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b < 0x7f)
}

fn write_escaping<W: ?Sized + io::Write>(writer: &mut W, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x7f {
            i += 1;
            continue;
        }
        writer.write_all(&bytes[start..i])?;
        let ch = text[i..].chars().next().expect("a char starts here");
        let mut units = [0u16; 2];
        for unit in ch.encode_utf16(&mut units) {
            write_u_escape(writer, *unit)?;
        }
        i += ch.len_utf8();
        start = i;
    }
    writer.write_all(&bytes[start..])
}

fn write_u_escape<W: ?Sized + io::Write>(writer: &mut W, unit: u16) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    writer.write_all(&[
        b'\\',
        b'u',
        HEX[(unit >> 12) as usize & 0xf],
        HEX[(unit >> 8) as usize & 0xf],
        HEX[(unit >> 4) as usize & 0xf],
        HEX[unit as usize & 0xf],
    ])
}

/// Lays out a finite float's shortest digits (as formatted by `zmij`, in any notation) the way
/// Python's `repr` (stdlib) or orjson does.
fn write_float<W: ?Sized + io::Write>(
    writer: &mut W,
    shortest: &str,
    flavour: JsonFlavour,
) -> io::Result<()> {
    let (negative, rest) = match shortest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, shortest),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (rest, 0),
    };
    // Digits without the point, and where the point goes: value = 0.DIGITS × 10^point.
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut point = 0i32;
    let mut seen_point = false;
    for &b in mantissa.as_bytes() {
        match b {
            b'.' => seen_point = true,
            b'0'..=b'9' => {
                if n == 0 && b == b'0' {
                    // A leading zero: moves the point left once past the decimal point.
                    if seen_point {
                        point -= 1;
                    }
                    continue;
                }
                if n < digits.len() {
                    digits[n] = b;
                    n += 1;
                }
                if !seen_point {
                    point += 1;
                }
            }
            _ => {}
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let mut out = [0u8; 64];
    let mut len = 0;
    let mut push = |b: u8| {
        out[len] = b;
        len += 1;
    };
    if negative {
        push(b'-');
    }
    if n == 0 {
        for &b in b"0.0" {
            push(b);
        }
        return writer.write_all(&out[..len]);
    }
    let decpt = point + exp;
    let low = match flavour {
        JsonFlavour::Stdlib => -4,
        JsonFlavour::Orjson => -5,
    };
    let digits = &digits[..n];
    if decpt > low && decpt <= 16 {
        if decpt <= 0 {
            push(b'0');
            push(b'.');
            for _ in 0..-decpt {
                push(b'0');
            }
            digits.iter().for_each(|&d| push(d));
        } else if (decpt as usize) < n {
            let (int, frac) = digits.split_at(decpt as usize);
            int.iter().for_each(|&d| push(d));
            push(b'.');
            frac.iter().for_each(|&d| push(d));
        } else {
            digits.iter().for_each(|&d| push(d));
            for _ in n..decpt as usize {
                push(b'0');
            }
            push(b'.');
            push(b'0');
        }
    } else {
        push(digits[0]);
        if n > 1 {
            push(b'.');
            digits[1..].iter().for_each(|&d| push(d));
        }
        push(b'e');
        let e = decpt - 1;
        push(if e < 0 { b'-' } else { b'+' });
        let e = e.unsigned_abs();
        let text = [
            b'0' + (e / 100) as u8,
            b'0' + (e / 10 % 10) as u8,
            b'0' + (e % 10) as u8,
        ];
        let min = match flavour {
            JsonFlavour::Stdlib => 2,
            JsonFlavour::Orjson => 1,
        };
        let skip = if e >= 100 {
            0
        } else if e >= 10 || min == 2 {
            1
        } else {
            2
        };
        text[skip..].iter().for_each(|&d| push(d));
    }
    writer.write_all(&out[..len])
}

/// A serializer that writes non-finite floats as the flavour does, around serde_json's.
struct FaustSer<'c, S> {
    inner: S,
    ctx: Ctx<'c>,
}

/// A value serialized through [`FaustSer`], whatever serializer it is handed.
struct Wrapped<'a, 'c, T: ?Sized> {
    value: &'a T,
    ctx: Ctx<'c>,
}

impl<T: Serialize + ?Sized> Serialize for Wrapped<'_, '_, T> {
    #[inline]
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(FaustSer {
            inner: s,
            ctx: self.ctx,
        })
    }
}

/// A compound value being written through [`FaustSer`].
struct Compound<'c, C> {
    inner: C,
    ctx: Ctx<'c>,
}

impl<'c, S: ser::Serializer> FaustSer<'c, S> {
    fn non_finite(self, v: f64) -> Result<S::Ok, S::Error> {
        let token = match self.ctx.flavour {
            JsonFlavour::Orjson => None,
            JsonFlavour::Stdlib if v.is_nan() => Some("NaN"),
            JsonFlavour::Stdlib if v > 0.0 => Some("Infinity"),
            JsonFlavour::Stdlib => Some("-Infinity"),
        };
        self.ctx.token.set(token);
        let r = self.inner.serialize_unit();
        // A serializer that does not write null (a map key) must not leave the token behind.
        self.ctx.token.set(None);
        r
    }

    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Wrapped<'a, 'c, T> {
        Wrapped {
            value,
            ctx: self.ctx,
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[inline]
            fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
                self.inner.$method($($arg),*)
            }
        )*
    };
}

impl<'c, S: ser::Serializer> ser::Serializer for FaustSer<'c, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'c, S::SerializeSeq>;
    type SerializeTuple = Compound<'c, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'c, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'c, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'c, S::SerializeMap>;
    type SerializeStruct = Compound<'c, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'c, S::SerializeStructVariant>;

    forward! {
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
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f32(v)
        } else {
            self.non_finite(f64::from(v))
        }
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f64(v)
        } else {
            self.non_finite(v)
        }
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let w = self.wrap(value);
        self.inner.serialize_some(&w)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let w = self.wrap(value);
        self.inner.serialize_newtype_struct(name, &w)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let w = self.wrap(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &w)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let c = self.inner.serialize_seq(len)?;
        Ok(Compound {
            inner: c,
            ctx: self.ctx,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let c = self.inner.serialize_tuple(len)?;
        Ok(Compound {
            inner: c,
            ctx: self.ctx,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let ctx = self.ctx;
        let c = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Compound { inner: c, ctx })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let ctx = self.ctx;
        let c = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound { inner: c, ctx })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let ctx = self.ctx;
        let c = self.inner.serialize_map(len)?;
        Ok(Compound { inner: c, ctx })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let ctx = self.ctx;
        let c = self.inner.serialize_struct(name, len)?;
        Ok(Compound { inner: c, ctx })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let ctx = self.ctx;
        let c = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound { inner: c, ctx })
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<'c, C> Compound<'c, C> {
    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Wrapped<'a, 'c, T> {
        Wrapped {
            value,
            ctx: self.ctx,
        }
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let w = self.wrap(value);
                self.inner.$method(&w)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let w = self.wrap(key);
        self.inner.serialize_key(&w)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let w = self.wrap(value);
        self.inner.serialize_value(&w)
    }
    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let (k, v) = (self.wrap(key), self.wrap(value));
        self.inner.serialize_entry(&k, &v)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStruct> ser::SerializeStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let w = self.wrap(value);
        self.inner.serialize_field(key, &w)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let w = self.wrap(value);
        self.inner.serialize_field(key, &w)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Decodes Faust JSON of either flavour. Input `serde_json` reads is decoded by it directly from
/// the bytes; the rest (bare `NaN` / `Infinity` / `-Infinity`, `null` for a plain float) goes
/// through the tolerant reader. Errors name the position of the problem.
#[inline]
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(strict) => from_slice_tolerant(bytes, strict),
    }
}

#[cold]
fn from_slice_tolerant<T: DeserializeOwned>(
    bytes: &[u8],
    strict: serde_json::Error,
) -> Result<T, serde_json::Error> {
    let tokens = has_non_finite_tokens(bytes);
    let content = match parse(bytes) {
        Ok(c) => c,
        // Not JSON even with Python's tokens: serde_json's message says it best.
        Err(e) => return Err(if tokens { e } else { strict }),
    };
    match T::deserialize(ContentDeserializer::<serde_json::Error>::new(content, true)) {
        Ok(v) => Ok(v),
        Err(e) => Err(if tokens { e } else { strict }),
    }
}

/// Whether `bytes` hold a bare `NaN` or `Infinity` outside strings (JSON itself has no `N` or
/// `I` outside strings).
fn has_non_finite_tokens(bytes: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'N' || b == b'I' {
            return true;
        }
    }
    false
}

/// Nesting allowed before the reader gives up (serde_json's limit).
const MAX_DEPTH: u32 = 128;

/// Reads JSON with Python's `NaN` / `Infinity` / `-Infinity` tokens into a [`Content`], as
/// strictly as serde_json otherwise (one value, whitespace around it, no trailing commas, no
/// control characters in strings, no lone surrogates, valid UTF-8), except that a float beyond
/// f64's range is ±Infinity, as Python reads it, where serde_json refuses it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Content, serde_json::Error> {
    let mut p = Parser {
        b: bytes,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> serde_json::Error {
        let upto = &self.b[..self.i.min(self.b.len())];
        let line = upto.iter().filter(|&&c| c == b'\n').count() + 1;
        let column = upto.iter().rev().take_while(|&&c| c != b'\n').count() + 1;
        serde_json::Error::custom(format!("{what} at line {line} column {column}"))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Content) -> Result<Content, serde_json::Error> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn value(&mut self) -> Result<Content, serde_json::Error> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.literal(b"null", Content::Null),
            Some(b't') => self.literal(b"true", Content::Bool(true)),
            Some(b'f') => self.literal(b"false", Content::Bool(false)),
            Some(b'N') => self.literal(b"NaN", Content::F64(f64::NAN)),
            Some(b'I') => self.literal(b"Infinity", Content::F64(f64::INFINITY)),
            Some(b'-') if self.b.get(self.i + 1) == Some(&b'I') => {
                self.literal(b"-Infinity", Content::F64(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string().map(Content::Str),
            Some(b'[') => self.nested(Self::array),
            Some(b'{') => self.nested(Self::object),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Content, serde_json::Error>,
    ) -> Result<Content, serde_json::Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Content, serde_json::Error> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            float = true;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).expect("ASCII digits");
        let as_float = || {
            text.parse::<f64>()
                .map(Content::F64)
                .map_err(|_| self.error("invalid number"))
        };
        if float {
            return as_float();
        }
        if negative {
            // As serde_json: -0 is a float, the rest the narrowest signed integer.
            match text.parse::<i128>() {
                Ok(0) => Ok(Content::F64(-0.0)),
                Ok(n) => Ok(match i64::try_from(n) {
                    Ok(n) => Content::I64(n),
                    Err(_) => Content::I128(n),
                }),
                Err(_) => as_float(),
            }
        } else {
            match text.parse::<u128>() {
                Ok(n) => Ok(match u64::try_from(n) {
                    Ok(n) => Content::U64(n),
                    Err(_) => Content::U128(n),
                }),
                Err(_) => as_float(),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, serde_json::Error> {
        let Some(hex) = self.b.get(self.i..self.i + 4) else {
            self.i = self.b.len();
            return Err(self.error("EOF while parsing a string"));
        };
        let mut n = 0u16;
        for &h in hex {
            let d = match h {
                b'0'..=b'9' => h - b'0',
                b'a'..=b'f' => h - b'a' + 10,
                b'A'..=b'F' => h - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = n << 4 | u16::from(d);
        }
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, serde_json::Error> {
        self.i += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        let mut run = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            match b {
                b'"' => {
                    out.extend_from_slice(&self.b[run..self.i]);
                    self.i += 1;
                    return String::from_utf8(out).map_err(|e| {
                        self.error(&format!(
                            "invalid unicode code point (byte {} of the string)",
                            e.utf8_error().valid_up_to()
                        ))
                    });
                }
                b'\\' => {
                    out.extend_from_slice(&self.b[run..self.i]);
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error("EOF while parsing a string"));
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => {
                            self.i -= 1;
                            return Err(self.error("invalid escape"));
                        }
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    run = self.i;
                }
                0x00..=0x1f => {
                    return Err(self
                        .error("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                _ => self.i += 1,
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, serde_json::Error> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                self.i += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(second) - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("lone trailing surrogate in hex escape")),
            n => u32::from(n),
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn array(&mut self) -> Result<Content, serde_json::Error> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Content::Seq(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Content::Seq(items));
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Content, serde_json::Error> {
        self.i += 1;
        let mut entries = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Content::Map(entries));
        }
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("key must be a string")),
            }
            let key = self.string()?;
            self.ws();
            match self.peek() {
                Some(b':') => self.i += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `:`")),
            }
            self.ws();
            let value = self.value()?;
            entries.push((Content::Str(key), value));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Content::Map(entries));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_word_at_a_time_ascii_check_agrees_with_the_byte_check() {
        // Every position of a chunk and of the tail, for the bytes around the edges.
        for len in 0..20 {
            for at in 0..len {
                for b in [0x00u8, 0x20, 0x7e, 0x7f, 0x80, 0xc3, 0xfe, 0xff] {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    assert_eq!(
                        super::below_del(&v),
                        v.iter().all(|&c| c < 0x7f),
                        "len {len}, byte {b:#x} at {at}"
                    );
                }
            }
            assert!(super::below_del(&vec![0x7e; len]));
        }
    }

    use super::*;

    fn float(v: f64, flavour: JsonFlavour) -> String {
        String::from_utf8(to_vec(&v, flavour).unwrap()).unwrap()
    }

    #[test]
    fn floats_as_python_and_orjson_write_them() {
        use JsonFlavour::*;
        let cases: &[(f64, &str, &str)] = &[
            (1e-7, "1e-07", "1e-7"),
            (1e-6, "1e-06", "1e-6"),
            (1e-5, "1e-05", "0.00001"),
            (1.5e-5, "1.5e-05", "0.000015"),
            (1e-4, "0.0001", "0.0001"),
            (0.1, "0.1", "0.1"),
            (0.3, "0.3", "0.3"),
            (1.0, "1.0", "1.0"),
            (-0.0, "-0.0", "-0.0"),
            (0.0, "0.0", "0.0"),
            (100.0, "100.0", "100.0"),
            (123.456, "123.456", "123.456"),
            (1e15, "1000000000000000.0", "1000000000000000.0"),
            (1e16, "1e+16", "1e+16"),
            (1.5e16, "1.5e+16", "1.5e+16"),
            (
                1.2345678901234568e17,
                "1.2345678901234568e+17",
                "1.2345678901234568e+17",
            ),
            (1e22, "1e+22", "1e+22"),
            (
                1.7976931348623157e308,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (
                2.2250738585072014e-308,
                "2.2250738585072014e-308",
                "2.2250738585072014e-308",
            ),
            (5e-324, "5e-324", "5e-324"),
            (-2.5, "-2.5", "-2.5"),
        ];
        for &(v, py, or) in cases {
            assert_eq!(float(v, Stdlib), py, "{v:e} stdlib");
            assert_eq!(float(v, Orjson), or, "{v:e} orjson");
            assert_eq!(
                from_slice::<f64>(py.as_bytes()).unwrap().to_bits(),
                v.to_bits()
            );
            assert_eq!(
                from_slice::<f64>(or.as_bytes()).unwrap().to_bits(),
                v.to_bits()
            );
        }
        assert_eq!(float(f64::NAN, Stdlib), "NaN");
        assert_eq!(float(f64::INFINITY, Stdlib), "Infinity");
        assert_eq!(float(f64::NEG_INFINITY, Stdlib), "-Infinity");
        assert_eq!(float(f64::NAN, Orjson), "null");
    }

    #[test]
    fn text_escapes() {
        let s = "caf\u{e9} \u{6771}\u{4eac} \u{1f600}\u{7f}\n\"\\/\u{1f}";
        assert_eq!(
            to_vec(&s, JsonFlavour::Stdlib).unwrap(),
            br#""caf\u00e9 \u6771\u4eac \ud83d\ude00\u007f\n\"\\/\u001f""#
        );
        assert_eq!(
            to_vec(&s, JsonFlavour::Orjson).unwrap(),
            "\"caf\u{e9} \u{6771}\u{4eac} \u{1f600}\u{7f}\\n\\\"\\\\/\\u001f\"".as_bytes()
        );
    }

    #[test]
    fn the_token_never_leaks_into_a_later_null() {
        use std::collections::BTreeMap;
        // A non-finite map key is an error in serde_json; the next null is still null.
        #[derive(serde::Serialize)]
        struct T {
            a: Option<u8>,
            b: f64,
            c: Option<u8>,
        }
        let t = T {
            a: None,
            b: f64::NAN,
            c: None,
        };
        assert_eq!(
            to_vec(&t, JsonFlavour::Stdlib).unwrap(),
            br#"{"a":null,"b":NaN,"c":null}"#
        );
        let mut m = BTreeMap::new();
        m.insert(OrderedNan, 1);
        assert!(to_vec(&m, JsonFlavour::Stdlib).is_err());
        assert_eq!(to_vec(&None::<u8>, JsonFlavour::Stdlib).unwrap(), b"null");
    }

    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct OrderedNan;

    impl Serialize for OrderedNan {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_f64(f64::NAN)
        }
    }

    #[test]
    fn tolerant_reader_is_otherwise_strict() {
        for bad in [
            &b"[NaN,]"[..],
            b"[NaN",
            b"{\"a\":NaN,}",
            b"[NaN] x",
            b"[NaN,01]",
            b"[NaN,\"\x01\"]",
            b"[NaN,\"\\ud800\"]",
            b"[NaN,\"\xff\"]",
            b"[Nan]",
            b"[-Inf]",
            b"[NaN,1.]",
            b"[NaN,.5]",
            b"{NaN:1}",
        ] {
            assert!(
                from_slice::<serde_json::Value>(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}NaN{}", "[".repeat(200), "]".repeat(200));
        assert!(from_slice::<serde_json::Value>(deep.as_bytes()).is_err());
        let v: (f64, f64, f64, String, u64, i64, i128) = from_slice(
            br#" [ NaN , Infinity,-Infinity,"\ud83d\ude00\u00e9",18446744073709551615,-9223372036854775808,-170141183460469231731687303715884105728]"#,
        )
        .unwrap();
        assert!(v.0.is_nan());
        assert_eq!((v.1, v.2), (f64::INFINITY, f64::NEG_INFINITY));
        assert_eq!(v.3, "\u{1f600}\u{e9}");
        assert_eq!((v.4, v.5, v.6), (u64::MAX, i64::MIN, i128::MIN));
        // An error after a token points at the real problem.
        let e = from_slice::<(f64, u8)>(b"[NaN,300]").unwrap_err();
        assert!(e.to_string().contains("300"), "{e}");
        // Without tokens, serde_json's own message.
        let e = from_slice::<(f64, u8)>(b"[1,300]").unwrap_err();
        assert!(e.to_string().contains("line 1 column"), "{e}");
    }
}
