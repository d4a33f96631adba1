//! RFC 6238 TOTP: SHA-1, 6 digits, 30-second steps, one step of skew either way.

use subtle::ConstantTimeEq;

use super::hotp::HotpKey;

pub const PERIOD: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one (clock drift, typing time).
pub const SKEW: i64 = 1;

/// The time step that `unix` falls in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(PERIOD)
}

/// The code an authenticator app shows at `unix`.
pub fn code_at(secret: &[u8], unix: i64) -> String {
    format_code(HotpKey::new(secret).code(step_at(unix) as u64, DIGITS))
}

fn format_code(n: u32) -> String {
    format!("{n:0width$}", width = DIGITS as usize)
}

/// The step of `code` (6 ASCII digits, as [`normalise_code`] gives them) within the skew
/// window around `unix`, when that step is later than `last_used` (a step once accepted
/// never works again). The current step is tried first, so a code typed in time costs one
/// HMAC; each comparison is constant-time, and a wrong code costs all three. Which step a
/// right code matched is no secret once the code is accepted.
pub fn verify(secret: &[u8], code: &str, unix: i64, last_used: Option<i64>) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let typed: u32 = code.parse().ok()?;
    let key = HotpKey::new(secret);
    let now = step_at(unix);
    let window = (1..=SKEW).flat_map(|d| [now - d, now + d]);
    std::iter::once(now).chain(window).find(|&step| {
        let fresh = step >= 0 && last_used.is_none_or(|last| step > last);
        fresh && bool::from(key.code(step as u64, DIGITS).ct_eq(&typed))
    })
}

/// What a person typed, as 6 ASCII digits: spaces and hyphens are dropped and
/// full-width digits (０-９) read as digits. `None` when that is not 6 digits.
pub fn normalise_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(DIGITS as usize);
    for c in input.chars() {
        match c {
            '0'..='9' => out.push(c),
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            ' '
            | '\t'
            | '\u{3000}'
            | '-'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{ff0d}'
            | 'ー' => {}
            _ => return None,
        }
        if out.len() > DIGITS as usize {
            return None;
        }
    }
    (out.len() == DIGITS as usize).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1() {
        let vectors: [(i64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        let key = HotpKey::new(RFC_SECRET);
        for (t, want) in vectors {
            assert_eq!(key.code(step_at(t) as u64, 8), want, "T = {t}");
            assert_eq!(code_at(RFC_SECRET, t), format!("{:06}", want % 1_000_000));
        }
    }

    #[test]
    fn step_boundaries() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(60), 2);
        assert_eq!(code_at(RFC_SECRET, 30), code_at(RFC_SECRET, 59));
        assert_ne!(code_at(RFC_SECRET, 59), code_at(RFC_SECRET, 60));
    }

    #[test]
    fn window_is_one_step_either_side() {
        let t = 1_800_000_015; // middle of a step
        let code = code_at(RFC_SECRET, t);
        let step = step_at(t);
        assert_eq!(verify(RFC_SECRET, &code, t, None), Some(step));
        assert_eq!(
            verify(RFC_SECRET, &code, t + 30, None),
            Some(step),
            "one step late"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t - 30, None),
            Some(step),
            "one step early"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t + 60, None),
            None,
            "two steps late"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, t - 60, None),
            None,
            "two steps early"
        );
        assert_eq!(
            verify(RFC_SECRET, "000000", t, None).is_some(),
            code == "000000"
        );
    }

    #[test]
    fn a_used_step_never_works_again() {
        let t = 1_800_000_015;
        let code = code_at(RFC_SECRET, t);
        let step = step_at(t);
        assert_eq!(verify(RFC_SECRET, &code, t, Some(step)), None, "replay");
        assert_eq!(verify(RFC_SECRET, &code, t, Some(step - 1)), Some(step));
        let next = code_at(RFC_SECRET, t + 30);
        assert_eq!(
            verify(RFC_SECRET, &next, t, Some(step)),
            Some(step + 1),
            "the next code"
        );
    }

    #[test]
    fn input_is_normalised() {
        assert_eq!(normalise_code("124822").as_deref(), Some("124822"));
        assert_eq!(normalise_code(" 124 822 ").as_deref(), Some("124822"));
        assert_eq!(normalise_code("124-822").as_deref(), Some("124822"));
        assert_eq!(normalise_code("１２４８２２").as_deref(), Some("124822"));
        assert_eq!(normalise_code("１２４　８２２").as_deref(), Some("124822"));
        for bad in [
            "",
            "12482",
            "1248222",
            "12482a",
            "abcdef",
            "124822\n1",
            "١٢٤٨٢٢",
        ] {
            assert_eq!(normalise_code(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A code generated at t' verifies at t exactly when t' is within one step of t.
        /// (A different step's code can equal a window code by chance; that is checked, not assumed.)
        #[test]
        fn verify_accepts_exactly_the_window(
            secret in proptest::collection::vec(any::<u8>(), 20),
            t in 90i64..4_000_000_000,
            delta in -5i64..=5,
            offset in 0i64..30,
        ) {
            let t_gen = (step_at(t) + delta) * PERIOD + offset;
            let code = code_at(&secret, t_gen);
            let window_codes: Vec<(i64, String)> = (step_at(t) - SKEW..=step_at(t) + SKEW)
                .map(|s| (s, code_at(&secret, s * PERIOD)))
                .collect();
            let result = verify(&secret, &code, t, None);
            if delta.abs() <= SKEW {
                let step = result.expect("a code inside the window verifies");
                prop_assert_eq!(code_at(&secret, step * PERIOD), code.clone());
                prop_assert!(step >= step_at(t_gen));
            } else {
                let collides = window_codes.iter().any(|(_, c)| *c == code);
                prop_assert_eq!(result.is_some(), collides);
            }
        }
    }
}
