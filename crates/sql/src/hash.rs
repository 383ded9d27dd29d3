//! A small, fast, stable 64-bit hash for token streams.
//!
//! Each token is folded into a running state with a 64×64→128-bit multiply (the "mum" step of
//! wyhash). Input bytes are read little-endian explicitly, so results are identical on every
//! machine and every run; they change only if this file changes.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// Token tags: the same bytes mean different things as a word, a quoted name or punctuation.
pub(crate) const TAG_WORD: u64 = 1;
pub(crate) const TAG_QUOTED: u64 = 2;
pub(crate) const TAG_PARAM: u64 = 3;
pub(crate) const TAG_PUNCT: u64 = 4;
pub(crate) const TAG_LIST: u64 = 5;
pub(crate) const TAG_ROW: u64 = 6;
pub(crate) const TAG_VALUE: u64 = 7;

#[cfg(test)]
const PINNED: u64 = 14_130_581_590_363_512_263;

#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

/// Reads up to 8 bytes little-endian, zero-padded.
#[inline(always)]
fn read_word(chunk: &[u8]) -> u64 {
    if let Ok(full) = <[u8; 8]>::try_from(chunk) {
        return u64::from_le_bytes(full);
    }
    let mut w = 0u64;
    for (i, &b) in chunk.iter().enumerate().take(8) {
        w |= u64::from(b) << (8 * i);
    }
    w
}

/// ASCII upper-case letters to lower-case in all 8 bytes at once; other bytes untouched.
#[inline(always)]
fn fold_ascii_lower(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    let ge_a = low7.wrapping_add(ONES * (0x80 - u64::from(b'A')));
    let gt_z = low7.wrapping_add(ONES * (0x80 - u64::from(b'Z') - 1));
    let upper = ge_a & !gt_z & !w & HIGH;
    w | (upper >> 2)
}

/// The bytes `src[start..end]` as one 64-bit word, computed without the running state so the
/// CPU can overlap it with folding the previous token. Tokens of up to 8 bytes are their own
/// (zero-padded) word; the length goes into [`fold_token`], so the mapping stays one-to-one.
#[inline(always)]
pub(crate) fn token_word(src: &[u8], start: usize, end: usize, fold_case: bool) -> u64 {
    let len = end.saturating_sub(start);
    let fold = |w: u64| if fold_case { fold_ascii_lower(w) } else { w };
    if len <= 8 {
        let w = match src.get(start..start + 8) {
            // Load 8 bytes at once and keep the token's `len` of them.
            Some(eight) if len > 0 => read_word(eight) & (u64::MAX >> (64 - 8 * len)),
            _ => read_word(src.get(start..end).unwrap_or_default()),
        };
        return fold(w);
    }
    let mut h = P3;
    for pair in src.get(start..end).unwrap_or_default().chunks(16) {
        let (a, b) = pair.split_at(pair.len().min(8));
        h = mum(fold(read_word(a)) ^ h ^ P0, fold(read_word(b)) ^ P1);
    }
    h
}

/// Folds a token (from [`token_word`]) with its tag and length into `state`: one multiply.
#[inline(always)]
pub(crate) fn fold_token(state: u64, word: u64, tag: u64, len: usize) -> u64 {
    mum(state ^ word ^ P0, ((tag << 32) | len as u64) ^ P1)
}

/// Final avalanche so that nearby states give unrelated fingerprints.
#[inline]
pub(crate) fn finish(state: u64) -> u64 {
    mum(state ^ P3, P0 ^ P2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_matches_per_byte_lowercase() {
        let samples: [&[u8]; 4] = [b"SeLeCt_Z", b"AZaz@[`{", b"\xC3\x84BCdefg", b"12345678"];
        for s in samples {
            let expected: Vec<u8> = s.iter().map(|b| b.to_ascii_lowercase()).collect();
            assert_eq!(fold_ascii_lower(read_word(s)), read_word(&expected));
        }
    }

    #[test]
    fn token_word_masks_and_folds() {
        let src = b"SELECT id FROM t";
        assert_eq!(token_word(src, 0, 6, true), read_word(b"select"));
        assert_eq!(token_word(src, 7, 9, false), read_word(b"id"));
        assert_eq!(token_word(src, 15, 16, false), read_word(b"t"));
        assert_ne!(token_word(src, 0, 16, true), token_word(src, 0, 15, true));
    }

    #[test]
    fn known_value_is_stable() {
        // Pins the hash: changing it changes every stored fingerprint, so do it on purpose only.
        let src = b"SELECT";
        let h = finish(fold_token(0, token_word(src, 0, 6, true), TAG_WORD, 6));
        assert_eq!(
            h,
            finish(fold_token(
                0,
                token_word(b"select", 0, 6, true),
                TAG_WORD,
                6
            ))
        );
        assert_ne!(
            h,
            finish(fold_token(0, token_word(src, 0, 6, false), TAG_WORD, 6))
        );
        assert_eq!(h, PINNED);
    }
}
