//! The records every case works on: a small order struct whose JSON is about 100 bytes, keyed by
//! an order id string.

use serde::{Deserialize, Serialize};

/// A small order, as JSON on the benchmark topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// Customer reference.
    pub customer: String,
    /// Product reference.
    pub product: String,
    /// Number of items.
    pub quantity: u32,
    /// Price in cents.
    pub price_cents: u64,
    /// Express delivery.
    pub express: bool,
}

/// The `i`-th order.
pub fn order(i: u64) -> Order {
    Order {
        id: 10_000_000 + i,
        customer: format!("customer-{:06}", i % 250_000),
        product: format!("product-{:05}", (i * 7) % 20_000),
        quantity: (i % 9) as u32 + 1,
        price_cents: 100 + (i * 37) % 99_900,
        express: i % 3 == 0,
    }
}

/// The key of the `i`-th order.
pub fn key(i: u64) -> String {
    format!("order-{i}")
}

/// The `i`-th record as bytes: key and JSON value.
pub fn record_bytes(i: u64) -> (Vec<u8>, Vec<u8>) {
    (
        key(i).into_bytes(),
        serde_json::to_vec(&order(i)).expect("an order serializes"),
    )
}

/// Decodes a record the way a hand-written consumer would: the key as a UTF-8 string, the value
/// as JSON.
#[inline]
pub fn decode(key: Option<&[u8]>, value: &[u8]) -> Result<(Option<String>, Order), String> {
    let key = match key {
        Some(k) => Some(
            std::str::from_utf8(k)
                .map_err(|e| format!("key is not UTF-8: {e}"))?
                .to_owned(),
        ),
        None => None,
    };
    let value = serde_json::from_slice(value).map_err(|e| format!("value is not an order: {e}"))?;
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_about_100_bytes_and_round_trip() {
        for i in [0u64, 1, 999_999] {
            let (k, v) = record_bytes(i);
            assert!(
                (90..=120).contains(&v.len()),
                "{} bytes: {}",
                v.len(),
                String::from_utf8_lossy(&v)
            );
            let (key, o) = decode(Some(&k), &v).unwrap();
            assert_eq!(key.as_deref(), Some(format!("order-{i}").as_str()));
            assert_eq!(o, order(i));
        }
    }
}
