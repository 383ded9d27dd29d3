//! Fast hashing for the hot path. Map keys here are already hashes (fingerprints, trace ids)
//! or short session ids from our own inputs, so SipHash's DoS resistance buys nothing and
//! costs time on every event.

use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Hasher for `HashMap`s keyed by fingerprints, trace ids and session names.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, n: u64) {
        // Keys are mostly already well mixed; one multiply spreads sequential ids too.
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }

    fn write_u8(&mut self, n: u8) {
        // `str` hashing ends with a 0xff byte: mix it in without another xxh3 call.
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub type FastBuild = BuildHasherDefault<FastHasher>;
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;
pub type FastSet<K> = std::collections::HashSet<K, FastBuild>;

/// The identity of one execution's parameters: the literal values in the SQL (from the
/// scan) combined with the bind parameters' text. Two executions of one shape with equal
/// values are "identical"; different values make a loop.
pub fn values_hash(literals: u64, params: Option<&str>) -> u64 {
    match params {
        Some(p) if !p.is_empty() => xxh3_64_with_seed(p.as_bytes(), literals),
        _ => literals,
    }
}

/// Number of elements of the largest `{…}` array literal in the bind parameters (what
/// `= ANY($1)` receives), so that array-batched loads are recognised like long IN lists.
pub fn params_array_len(params: Option<&str>) -> u32 {
    let Some(params) = params else { return 0 };
    params
        .split('{')
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap_or(""))
        .filter(|inner| !inner.is_empty())
        .map(|inner| inner.bytes().filter(|&b| b == b',').count() as u32 + 1)
        .max()
        .unwrap_or(0)
}

/// Signature of a finding: kind, parent fingerprint and child fingerprints, as one hash.
pub fn signature(kind_id: &str, parent: Option<u64>, children: &[u64]) -> u64 {
    let mut buf = Vec::with_capacity(kind_id.len() + 8 * (children.len() + 2));
    buf.extend_from_slice(kind_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&parent.unwrap_or(0).to_le_bytes());
    for child in children {
        buf.extend_from_slice(&child.to_le_bytes());
    }
    xxh3_64(&buf)
}

/// 16 lowercase hex digits, the form fingerprints and signatures take in reports.
pub fn hex16(n: u64) -> String {
    format!("{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_change_the_values_hash() {
        assert_ne!(
            values_hash(0, Some("$1 = '1'")),
            values_hash(0, Some("$1 = '2'"))
        );
        assert_eq!(values_hash(7, None), 7);
        assert_eq!(values_hash(7, Some("")), 7);
    }

    #[test]
    fn array_params() {
        assert_eq!(params_array_len(Some("$1 = '{1,2,3}'")), 3);
        assert_eq!(params_array_len(Some("$1 = '{}', $2 = '{4,5}'")), 2);
        assert_eq!(params_array_len(Some("$1 = '{1,2")), 2);
        assert_eq!(params_array_len(Some("$1 = '8'")), 0);
        assert_eq!(params_array_len(None), 0);
    }

    #[test]
    fn signature_depends_on_every_part() {
        let a = signature("n_plus_one", Some(1), &[2]);
        assert_ne!(a, signature("count_in_loop", Some(1), &[2]));
        assert_ne!(a, signature("n_plus_one", None, &[2]));
        assert_ne!(a, signature("n_plus_one", Some(1), &[3]));
        assert_eq!(hex16(255), "00000000000000ff");
    }
}
