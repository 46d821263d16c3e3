//! The changelog key of one window of a windowed table, as Faust writes it.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::hash::{Hash, Hasher};

/// The key of one window of a key: Faust's `[key, [start, end]]`, the bounds in seconds as
/// Faust computes them ([`super::WindowSpec::key`] makes them from a window in ms,
/// [`super::WindowSpec::window_of`] reads them back):
///
/// - tumbling and hopping windows: `[start, start + size - 0.1]` (Faust's closed upper bound, a
///   tenth of a second before the next window), e.g. `["apple",[1700000000.0,1700000009.9]]`;
/// - sliding windows: `[t - before, t + after]` from the event's time `t` in seconds, e.g.
///   `["apple",[1699999991.234,1700000011.234]]`.
///
/// The bounds are kept as the floats that are written, so that a key read from a changelog
/// (Faust's or ours) is written back byte for byte, and a closed window's tombstone replaces
/// its record. Two keys are equal when their bounds are the same floats.
#[derive(Debug, Clone)]
pub struct WindowKey<K> {
    /// The table key.
    pub key: K,
    /// Window start, seconds since the epoch.
    pub start: f64,
    /// Window end as Faust writes it, seconds since the epoch.
    pub end: f64,
}

impl<K: PartialEq> PartialEq for WindowKey<K> {
    fn eq(&self, other: &Self) -> bool {
        self.start.to_bits() == other.start.to_bits()
            && self.end.to_bits() == other.end.to_bits()
            && self.key == other.key
    }
}

impl<K: Eq> Eq for WindowKey<K> {}

impl<K: Hash> Hash for WindowKey<K> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h);
        self.start.to_bits().hash(h);
        self.end.to_bits().hash(h);
    }
}

impl<K: Serialize> Serialize for WindowKey<K> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.key, (self.start, self.end)).serialize(s)
    }
}

impl<'de, K: Deserialize<'de>> Deserialize<'de> for WindowKey<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (key, (start, end)): (K, (f64, f64)) = Deserialize::deserialize(d)?;
        Ok(WindowKey { key, start, end })
    }
}
