// A topic deriving its settings from another with `root`.

use faust_runtime::prelude::*;

#[derive(Debug, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: String,
    pub celsius: f32,
}

#[topic(name = "readings", key = String, value = Reading, partitions = 4, retention = "1d", acks = 0)]
pub struct Readings;

#[topic(name = "readings-eu", key = String, value = Reading, root = Readings, acks = true)]
pub struct EuReadings;

#[topic(name = "readings-eu-north", key = String, value = Reading, root = self::EuReadings)]
pub struct NorthReadings;

fn main() {
    let eu = EuReadings.spec();
    assert!(std::ptr::eq(eu.root_spec().unwrap(), Readings.spec()));
    assert_eq!(eu.declared_partitions(), Some(4));
    assert_eq!(eu.declared_acks(), Some(faust_runtime::Acks::All));
    assert_eq!(EuReadings.config()["retention.ms"], "86400000");

    let north = NorthReadings.spec();
    assert_eq!(north.declared_partitions(), Some(4));
    assert_eq!(north.declared_acks(), Some(faust_runtime::Acks::All));
    assert_eq!(
        Readings.spec().declared_acks(),
        Some(faust_runtime::Acks::None)
    );
}
