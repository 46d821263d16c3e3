//! Compares embedded stores for a table's local copy: redb, RocksDB (`rocksdb` crate) and fjall
//! (the measurement behind the README's store choice; figures in BENCHMARKS.md).
//!
//! Not part of the workspace (it has its own `[workspace]`), so RocksDB never enters the
//! project's build. Build each kind on its own, so that RocksDB's C++ build is the one a plain
//! `rocksdb` dependency gets (RocksDB needs a C++ compiler and libclang for bindgen):
//!
//!   cargo build --release --no-default-features --features redb,fjall
//!   cargo build --release --no-default-features --features rocksdb
//!
//! The workload is what a changelog-backed table writes: changes arrive in batches (a commit
//! interval's worth, or a recovery read), each batch one atomic write holding its changes for
//! 4 partitions (a tree / column family / keyspace per partition) and, per partition, the offset
//! of the last changelog record it covers. Keys are 14-byte JSON strings (250,000 of them, each
//! written 4 times), values 70-byte JSON records.
//!
//!   store-compare throughput STORE DIR     1M puts in batches of 10,000, reopen, 1M point reads
//!   store-compare crash STORE DIR ROUNDS   a child writes batches and is SIGKILLed at a random
//!                                          moment, ROUNDS times; after each, reopen and check
//!                                          the last committed batch and atomicity
//!
//! STORE, and how each batch is committed:
//!   redb          default `Durability::Immediate`: fsync on commit (what faust-rs does)
//!   rocksdb       default WriteOptions: WAL written, no fsync (what Faust and Kafka Streams do)
//!   rocksdb-sync  WriteOptions::set_sync(true): WAL fsynced per batch
//!   fjall         default: journal written, no persist call
//!   fjall-buffer  PersistMode::Buffer per batch (journal flushed to the OS)
//!   fjall-sync    PersistMode::SyncAll per batch (fsync)
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;
const PUTS: u64 = 1_000_000;
const BATCH: u64 = 10_000;
const KEYS: u64 = 250_000;

fn key(i: u64) -> Vec<u8> {
    format!("\"key-{:08}\"", i % KEYS).into_bytes()
}

fn value(i: u64, batch: u64) -> Vec<u8> {
    format!(
        "{{\"id\":{i},\"product\":\"apple\",\"quantity\":{batch},\"__faust\":{{\"ns\":\"app.Order\"}}}}"
    )
    .into_bytes()
}

fn partition_of(i: u64) -> u32 {
    ((i % KEYS) % PARTITIONS as u64) as u32
}

/// One batch: (partition, key, value) changes and the offset each partition reaches.
fn batch(b: u64) -> (Vec<(u32, Vec<u8>, Vec<u8>)>, Vec<(u32, i64)>) {
    let mut changes = Vec::with_capacity(BATCH as usize);
    for j in 0..BATCH {
        let i = b * BATCH + j;
        changes.push((partition_of(i), key(i), value(i, b)));
    }
    let offsets = (0..PARTITIONS)
        .map(|p| (p, ((b + 1) * BATCH / PARTITIONS as u64) as i64 - 1))
        .collect();
    (changes, offsets)
}

trait Db {
    fn write(&mut self, changes: &[(u32, Vec<u8>, Vec<u8>)], offsets: &[(u32, i64)]);
    fn get(&self, partition: u32, key: &[u8]) -> Option<Vec<u8>>;
    fn offset(&self, partition: u32) -> Option<i64>;
}

// ---------------------------------------------------------------------------------------------
#[cfg(feature = "redb")]
struct Redb(redb::Database);
#[cfg(feature = "redb")]
const OFFSETS: redb::TableDefinition<'static, u32, i64> = redb::TableDefinition::new("offsets");
fn tree(p: u32) -> String {
    format!("partition-{p}")
}

#[cfg(feature = "redb")]
impl Redb {
    fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Redb(redb::Database::create(dir.join("table.redb")).unwrap())
    }
}

#[cfg(feature = "redb")]
impl Db for Redb {
    fn write(&mut self, changes: &[(u32, Vec<u8>, Vec<u8>)], offsets: &[(u32, i64)]) {
        let txn = self.0.begin_write().unwrap();
        {
            for p in 0..PARTITIONS {
                let name = tree(p);
                let def: redb::TableDefinition<'_, &[u8], &[u8]> =
                    redb::TableDefinition::new(&name);
                let mut t = txn.open_table(def).unwrap();
                for (cp, k, v) in changes {
                    if *cp == p {
                        t.insert(k.as_slice(), v.as_slice()).unwrap();
                    }
                }
            }
            let mut o = txn.open_table(OFFSETS).unwrap();
            for (p, off) in offsets {
                o.insert(*p, *off).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    fn get(&self, partition: u32, key: &[u8]) -> Option<Vec<u8>> {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().unwrap();
        let name = tree(partition);
        let def: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new(&name);
        let t = txn.open_table(def).ok()?;
        t.get(key).unwrap().map(|v| v.value().to_vec())
    }
    fn offset(&self, partition: u32) -> Option<i64> {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().unwrap();
        let t = txn.open_table(OFFSETS).ok()?;
        t.get(partition).unwrap().map(|v| v.value())
    }
}

// ---------------------------------------------------------------------------------------------
#[cfg(feature = "rocksdb")]
struct Rocks(rocksdb::DB, bool);

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn open(dir: &Path, sync: bool) -> Self {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let mut cfs: Vec<String> = (0..PARTITIONS).map(tree).collect();
        cfs.push("offsets".into());
        Rocks(rocksdb::DB::open_cf(&opts, dir, &cfs).unwrap(), sync)
    }
}

#[cfg(feature = "rocksdb")]
impl Db for Rocks {
    fn write(&mut self, changes: &[(u32, Vec<u8>, Vec<u8>)], offsets: &[(u32, i64)]) {
        let cfs: Vec<_> = (0..PARTITIONS)
            .map(|p| self.0.cf_handle(&tree(p)).unwrap())
            .collect();
        let ocf = self.0.cf_handle("offsets").unwrap();
        let mut b = rocksdb::WriteBatch::default();
        for (p, k, v) in changes {
            b.put_cf(&cfs[*p as usize], k, v);
        }
        for (p, off) in offsets {
            b.put_cf(&ocf, p.to_be_bytes(), off.to_be_bytes());
        }
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(self.1);
        self.0.write_opt(b, &w).unwrap();
    }
    fn get(&self, partition: u32, key: &[u8]) -> Option<Vec<u8>> {
        let cf = self.0.cf_handle(&tree(partition)).unwrap();
        self.0.get_cf(&cf, key).unwrap()
    }
    fn offset(&self, partition: u32) -> Option<i64> {
        let cf = self.0.cf_handle("offsets").unwrap();
        self.0
            .get_cf(&cf, partition.to_be_bytes())
            .unwrap()
            .map(|v| i64::from_be_bytes(v.try_into().unwrap()))
    }
}

// ---------------------------------------------------------------------------------------------
#[cfg(feature = "fjall")]
struct Fjall {
    db: fjall::Database,
    parts: Vec<fjall::Keyspace>,
    offsets: fjall::Keyspace,
    persist: Option<fjall::PersistMode>,
}

#[cfg(feature = "fjall")]
impl Fjall {
    fn open(dir: &Path, persist: Option<fjall::PersistMode>) -> Self {
        let db = fjall::Database::builder(dir).open().unwrap();
        let parts = (0..PARTITIONS)
            .map(|p| {
                db.keyspace(&tree(p), fjall::KeyspaceCreateOptions::default)
                    .unwrap()
            })
            .collect();
        let offsets = db
            .keyspace("offsets", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        Fjall {
            db,
            parts,
            offsets,
            persist,
        }
    }
}

#[cfg(feature = "fjall")]
impl Db for Fjall {
    fn write(&mut self, changes: &[(u32, Vec<u8>, Vec<u8>)], offsets: &[(u32, i64)]) {
        let mut b = self.db.batch().durability(self.persist);
        for (p, k, v) in changes {
            b.insert(&self.parts[*p as usize], k.as_slice(), v.as_slice());
        }
        for (p, off) in offsets {
            b.insert(&self.offsets, p.to_be_bytes(), off.to_be_bytes());
        }
        b.commit().unwrap();
    }
    fn get(&self, partition: u32, key: &[u8]) -> Option<Vec<u8>> {
        self.parts[partition as usize]
            .get(key)
            .unwrap()
            .map(|v| v.to_vec())
    }
    fn offset(&self, partition: u32) -> Option<i64> {
        self.offsets
            .get(partition.to_be_bytes())
            .unwrap()
            .map(|v| i64::from_be_bytes(v.as_ref().try_into().unwrap()))
    }
}

fn open(store: &str, dir: &Path) -> Box<dyn Db> {
    match store {
        #[cfg(feature = "redb")]
        "redb" => Box::new(Redb::open(dir)),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(Rocks::open(dir, false)),
        #[cfg(feature = "rocksdb")]
        "rocksdb-sync" => Box::new(Rocks::open(dir, true)),
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(Fjall::open(dir, None)),
        #[cfg(feature = "fjall")]
        "fjall-buffer" => Box::new(Fjall::open(dir, Some(fjall::PersistMode::Buffer))),
        #[cfg(feature = "fjall")]
        "fjall-sync" => Box::new(Fjall::open(dir, Some(fjall::PersistMode::SyncAll))),
        other => panic!("unknown store {other}"),
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

/// Cheap deterministic pseudo-random numbers (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn throughput(store: &str, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let batches = PUTS / BATCH;
    let prepared: Vec<_> = (0..batches).map(batch).collect();
    let mut db = open(store, dir);
    let t = Instant::now();
    for (changes, offsets) in &prepared {
        db.write(changes, offsets);
    }
    let write = t.elapsed();
    drop(db);
    let t = Instant::now();
    let db = open(store, dir);
    let reopen = t.elapsed();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let t = Instant::now();
    let mut found = 0u64;
    for _ in 0..PUTS {
        let i = rng.next() % KEYS;
        if db.get(partition_of(i), &key(i)).is_some() {
            found += 1;
        }
    }
    let read = t.elapsed();
    assert_eq!(found, PUTS, "every key is there");
    // The last batch's values won.
    let last = batches - 1;
    let i = last * BATCH + 5;
    assert_eq!(db.get(partition_of(i), &key(i)), Some(value(i, last)));
    drop(db);
    println!(
        "{store}\twrite {:.0} puts/s ({:.2} s)\treopen {:.0} ms\tread {:.0} gets/s ({:.2} s)\tdisk {:.1} MB",
        PUTS as f64 / write.as_secs_f64(),
        write.as_secs_f64(),
        reopen.as_secs_f64() * 1000.0,
        PUTS as f64 / read.as_secs_f64(),
        read.as_secs_f64(),
        dir_size(dir) as f64 / 1e6
    );
}

/// The child of `crash`: writes batches forever, printing each batch number once committed.
fn crash_child(store: &str, dir: &Path) {
    let mut db = open(store, dir);
    // Continue after what an earlier round committed.
    let start = db
        .offset(0)
        .map(|o| ((o + 1) as u64 * PARTITIONS as u64) / BATCH)
        .unwrap_or(0);
    let out = std::io::stdout();
    for b in start.. {
        let (changes, offsets) = batch(b);
        db.write(&changes, &offsets);
        let mut o = out.lock();
        writeln!(o, "{b}").unwrap();
        o.flush().unwrap();
    }
}

fn crash(store: &str, dir: &Path, rounds: u32) {
    let _ = std::fs::remove_dir_all(dir);
    let me = std::env::current_exe().unwrap();
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let (mut opened, mut intact, mut torn, mut lost) = (0, 0, 0, 0);
    for round in 0..rounds {
        let mut child = Command::new(&me)
            .args(["crash-child", store, dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it commit a few batches, then kill it at a random moment inside a later one.
        let first: u64 = lines.next().unwrap().unwrap().parse().unwrap();
        let mut last = first;
        for _ in 0..(1 + rng.next() % 3) {
            last = lines.next().unwrap().unwrap().parse().unwrap();
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 20_000));
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        // Whatever it printed before dying was committed too.
        for l in lines.map_while(Result::ok) {
            last = l.parse().unwrap();
        }
        let db = std::panic::catch_unwind(|| open(store, dir));
        let Ok(db) = db else {
            println!("{store}\tround {round}: the store does not open after SIGKILL");
            continue;
        };
        opened += 1;
        // Committed: every key of the last committed batch has its value, and the offsets say so.
        let want_off = ((last + 1) * BATCH / PARTITIONS as u64) as i64 - 1;
        let off = db.offset(0).unwrap_or(-1);
        let (changes, _) = batch(last);
        let all_there = changes
            .iter()
            .all(|(p, k, v)| db.get(*p, k).as_deref() == Some(v.as_slice()));
        if off < want_off || !all_there {
            lost += 1;
            println!(
                "{store}\tround {round}: committed batch {last} missing (offset {off}, want >= {want_off}, values there: {all_there})"
            );
        } else {
            intact += 1;
        }
        // Atomic: a batch after the last committed one is either all there with its offset, or
        // not at all.
        let next = if off > want_off { last + 1 } else { last };
        if next > last {
            let (changes, _) = batch(next);
            if !changes
                .iter()
                .all(|(p, k, v)| db.get(*p, k).as_deref() == Some(v.as_slice()))
            {
                torn += 1;
            }
        } else {
            let (changes, _) = batch(last + 1);
            if changes
                .iter()
                .any(|(p, k, v)| db.get(*p, k).as_deref() == Some(v.as_slice()))
            {
                torn += 1;
            }
        }
        drop(db);
    }
    println!(
        "{store}\tSIGKILL rounds {rounds}: opened {opened}, committed data intact {intact}, committed data lost {lost}, torn batches {torn}"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(&args[3]);
    match args[1].as_str() {
        "throughput" => throughput(&args[2], &dir),
        "crash" => crash(&args[2], &dir, args[4].parse().unwrap()),
        "crash-child" => crash_child(&args[2], &dir),
        other => panic!("unknown command {other}"),
    }
}
