//! Backup codes: 10 a set, 10 symbols each from Crockford's base32 (lower case),
//! shown as `xxxxx-xxxxx`. Input ignores case, spaces and hyphens, and reads i/l as 1
//! and o as 0, as Crockford intends.

use rand::RngCore;

pub const CODES_PER_SET: usize = 10;
pub const SYMBOLS: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new set of distinct codes, each as 10 bare symbols (50 random bits).
pub fn generate(rng: &mut impl RngCore) -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(CODES_PER_SET);
    while codes.len() < CODES_PER_SET {
        let code: String = (0..SYMBOLS)
            .map(|_| ALPHABET[(rng.next_u32() & 31) as usize] as char)
            .collect();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// `abcdefghjk` → `abcde-fghjk`.
pub fn format(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(SYMBOLS / 2));
    format!("{a}-{b}")
}

/// The 10 bare symbols of what a person typed, or `None` when it cannot be a code.
pub fn normalise(input: &str) -> Option<String> {
    let mut out = String::with_capacity(SYMBOLS);
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '\t' | '-' | '\u{3000}' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
        if out.len() > SYMBOLS {
            return None;
        }
    }
    (out.len() == SYMBOLS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_set_is_ten_distinct_well_formed_codes() {
        let codes = generate(&mut StdRng::seed_from_u64(7));
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 10);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalise(&format(code)).as_deref(), Some(code.as_str()));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_ne!(codes, generate(&mut StdRng::seed_from_u64(8)));
    }

    #[test]
    fn input_tolerates_case_spaces_hyphens_and_look_alikes() {
        assert_eq!(format("abcdefghjk"), "abcde-fghjk");
        assert_eq!(normalise("ABCDE-FGHJK").as_deref(), Some("abcdefghjk"));
        assert_eq!(normalise(" abcde fghjk ").as_deref(), Some("abcdefghjk"));
        assert_eq!(
            normalise("IlOo0-12345").as_deref(),
            Some("11000-12345".replace('-', "").as_str())
        );
        for bad in [
            "",
            "abcde-fghj",
            "abcde-fghjkm",
            "abcde-fghju",
            "ａｂｃｄｅ-fghjk",
            "abcde_fghjk",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }
}
