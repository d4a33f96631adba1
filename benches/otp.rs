//! The per-request costs of the code checks, with the bare HMAC-SHA1 cost of three codes
//! (the ±1 window) as their floor. Run: `cargo bench --bench otp`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use nidan::crypto::{keyed_hash, token_hash};
use nidan::otp::{backup_codes, totp, uri};

const SECRET: &[u8; 20] = b"12345678901234567890";
const T: i64 = 1_800_000_015;

fn bare_hmac_three_codes(secret: &[u8], step: u64) -> u32 {
    let mut acc = 0;
    for s in [step - 1, step, step + 1] {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret).unwrap();
        mac.update(&s.to_be_bytes());
        acc ^= mac.finalize().into_bytes()[19] as u32;
    }
    acc
}

fn otp(c: &mut Criterion) {
    let valid = totp::code_at(SECRET, T);
    let wrong = if valid == "000000" {
        "111111"
    } else {
        "000000"
    };
    let step = totp::step_at(T) as u64;
    c.bench_function("totp verify, valid code (window ±1)", |b| {
        b.iter(|| totp::verify(black_box(SECRET), black_box(&valid), black_box(T), Some(0)))
    });
    c.bench_function("totp verify, wrong code (window ±1)", |b| {
        b.iter(|| totp::verify(black_box(SECRET), black_box(wrong), black_box(T), Some(0)))
    });
    // The same check by totp-rs (crates.io), built once: it keys HMAC-SHA1 anew for each
    // candidate and stops at the first match.
    let other = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, SECRET.to_vec());
    assert!(other.check(&valid, T as u64) && !other.check(wrong, T as u64));
    c.bench_function("totp-rs 5 check, valid code (window ±1)", |b| {
        b.iter(|| other.check(black_box(&valid), black_box(T as u64)))
    });
    c.bench_function("totp-rs 5 check, wrong code (window ±1)", |b| {
        b.iter(|| other.check(black_box(wrong), black_box(T as u64)))
    });
    c.bench_function("baseline: bare HMAC-SHA1 x3 (new key each)", |b| {
        b.iter(|| bare_hmac_three_codes(black_box(SECRET), black_box(step)))
    });
    let key = [7u8; 32];
    c.bench_function("backup code check (normalise + HMAC-SHA256)", |b| {
        b.iter(|| {
            let code = backup_codes::normalise(black_box("ABCDE-FGHJK")).unwrap();
            keyed_hash(&key, code.as_bytes())
        })
    });
    c.bench_function("otpauth URI", |b| {
        b.iter(|| {
            uri::otpauth_uri(
                black_box("nidan"),
                black_box("xxx@co.jp"),
                black_box("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            )
        })
    });
    let u = uri::otpauth_uri("nidan", "xxx@co.jp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    c.bench_function("QR code SVG", |b| {
        b.iter(|| nidan::web::qr::svg(black_box(&u)))
    });
    c.bench_function("session token hash (SHA-256)", |b| {
        b.iter(|| token_hash(black_box("q3x4oXkJ0h0yJ2t0sQmR3mXjz4QxZyq9yW0n8o2bQxE")))
    });
}

criterion_group!(benches, otp);
criterion_main!(benches);
