//! The one place where the proxy changes bytes: replacing whole messages and inserting
//! messages between two others, in a stream it otherwise forwards as read.
//!
//! Used only while budgets are enforced (see `enforce.rs`): a rejected statement's message
//! is replaced by a substitute the server answers with an error, that error by the
//! proxy's own, and a warning notice is inserted before a `ReadyForQuery`. To replace a
//! message whole it must not have been forwarded in part, so the pump holds back the bytes
//! of a message that may be edited until it is complete ([`Splicer::assemble`]).

// This module reads untrusted wire bytes: no input may panic it (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

/// One change, in stream offsets: `start..end` replaced by `bytes` (an insertion when
/// `start == end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub start: u64,
    pub end: u64,
    pub bytes: Vec<u8>,
    /// For an insertion: where to insert instead when `start` was already forwarded (the end
    /// of the same message, also a message boundary).
    pub fallback: Option<u64>,
}

/// Bytes held back from the previous chunk, and where they start in the stream.
#[derive(Debug, Default)]
pub(crate) struct Splicer {
    carry: Vec<u8>,
    carry_start: u64,
}

impl Splicer {
    pub fn is_idle(&self) -> bool {
        self.carry.is_empty()
    }

    /// Where the bytes not yet forwarded start, given that the chunk about to be fed to the
    /// scanner starts at `chunk_start`.
    pub fn window_start(&self, chunk_start: u64) -> u64 {
        if self.carry.is_empty() {
            chunk_start
        } else {
            self.carry_start
        }
    }

    /// The bytes to forward now: held-back bytes and `chunk` (which starts at stream offset
    /// `chunk_start`) with `edits` applied, up to `hold_from` (a message to complete first),
    /// whose bytes are kept for the next call. Edits that fall on bytes already forwarded
    /// are dropped (the caller never asks for them).
    pub fn assemble(
        &mut self,
        chunk: &[u8],
        chunk_start: u64,
        mut edits: Vec<Edit>,
        hold_from: Option<u64>,
    ) -> Vec<u8> {
        let base = self.window_start(chunk_start);
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let end = base + data.len() as u64;
        let cut = hold_from.map_or(end, |h| h.clamp(base, end));
        for edit in &mut edits {
            if edit.start < base && edit.start == edit.end {
                if let Some(fallback) = edit.fallback {
                    edit.start = fallback;
                    edit.end = fallback;
                }
            }
        }
        edits.retain(|e| e.start >= base && e.end <= cut && e.start <= e.end);
        edits.sort_by_key(|e| (e.start, e.end));
        let mut out =
            Vec::with_capacity(data.len() + edits.iter().map(|e| e.bytes.len()).sum::<usize>());
        let mut at = base;
        for edit in edits {
            if edit.start < at {
                continue;
            }
            out.extend_from_slice(slice(&data, base, at, edit.start));
            out.extend_from_slice(&edit.bytes);
            at = edit.end;
        }
        out.extend_from_slice(slice(&data, base, at, cut));
        self.carry = slice(&data, base, cut, end).to_vec();
        self.carry_start = cut;
        out
    }
}

fn slice(data: &[u8], base: u64, from: u64, to: u64) -> &[u8] {
    let (from, to) = ((from - base) as usize, (to - base) as usize);
    data.get(from..to).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_inserts_and_holds_back() {
        let mut s = Splicer::default();
        // Stream "aaBBBcc" from offset 10; replace BBB (12..15) with X, hold from 15.
        let edit = Edit {
            start: 12,
            end: 15,
            bytes: b"X".to_vec(),
            fallback: None,
        };
        let out = s.assemble(b"aaBBBcc", 10, vec![edit], Some(15));
        assert_eq!(out, b"aaX");
        assert!(!s.is_idle());
        assert_eq!(s.window_start(17), 15);
        let insert = Edit {
            start: 17,
            end: 17,
            bytes: b"N".to_vec(),
            fallback: None,
        };
        let out = s.assemble(b"dd", 17, vec![insert], None);
        assert_eq!(out, b"ccNdd");
        assert!(s.is_idle());
        // An insertion point already forwarded moves to its fallback.
        let late = Edit {
            start: 5,
            end: 5,
            bytes: b"N".to_vec(),
            fallback: Some(20),
        };
        assert_eq!(s.assemble(b"eee", 19, vec![late], None), b"eNee");
    }
}
