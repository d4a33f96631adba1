//! The sign-in storm's baseline: raw argon2id verifications at nidan's parameters on every
//! core, with nothing else around them. `argon2_baseline [SECONDS]` prints verifications/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nidan::crypto::password::{hash_blocking, verify_blocking};

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hash: Arc<str> = hash_blocking("correct horse battery").expect("hash").into();
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let (hash, done, count) = (hash.clone(), done.clone(), count.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    assert!(verify_blocking(&hash, "correct horse battery"));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("argon2id verifications/s on {cores} cores: {rate:.1}");
}
