//! Request ids without a system call each: a random prefix per process (so instances do
//! not collide) and a counter.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderName, HeaderValue};
use rand::RngCore;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
        Self {
            prefix: rand::rngs::OsRng.next_u64(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Hex by hand: `format!` costs more than the rest of a forward-auth answer's id.
        let mut id = [b'-'; 25];
        hex_into(&mut id[..16], self.prefix);
        hex_into(&mut id[17..], n & 0xffff_ffff);
        HeaderValue::from_bytes(&id).expect("hex digits and a hyphen")
    }
}

/// The low `out.len()` hex digits of `value`, zero-padded.
fn hex_into(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_share_the_prefix() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_ne!(a, b);
        assert_eq!(a[..16], b[..16]);
        assert_eq!(a.len(), 25);
        let mut out = [0u8; 8];
        hex_into(&mut out, 0xab);
        assert_eq!(&out, b"000000ab");
    }
}
