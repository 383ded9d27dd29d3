//! Incremental framing of the PostgreSQL wire protocol, for observation only.
//!
//! The proxy forwards every byte it reads untouched; a [`FrameScanner`] follows along over
//! the same bytes, one direction each, to find where messages start and end. It hands the
//! observer a message's body only when it needs it (a small table per direction), and at
//! most `observe_cap` bytes of it, so a 100 MB `COPY` row costs nothing but a counter. A
//! message that lies whole in the bytes read (nearly every one) is handed over in place;
//! only one split across reads is gathered in the scanner's buffer.
//!
//! The startup phase (no type byte) is parsed separately by [`StartupPacket`], before the
//! pumps start.

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

use std::fmt;

/// Type byte + 4-byte big-endian length (which counts itself, not the type byte).
const HEADER_LEN: usize = 5;

/// Bodies kept for observation are cut at this size by default: enough for any realistic
/// statement text, and a hostile 1 GiB `Query` costs 1 MiB of memory, not 1 GiB.
pub const DEFAULT_OBSERVE_CAP: usize = 1 << 20;

/// DataRow bodies kept for parent ↔ child proof are cut here: values that matter (ids) are
/// short, and a wide row should not cost a large copy.
const DATA_ROW_CAP: usize = 8 << 10;

/// After a large body, a scratch buffer bigger than this is given back to the allocator so
/// that idle connections stay small.
const KEEP_SCRATCH: usize = 64 << 10;

/// Which direction a scanner reads; decides which bodies are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Frontend messages: `Q`, `P`, `B`, `E`, `C` (Close) bodies are kept.
    ClientToServer,
    /// Backend messages: `C` (CommandComplete), `E` (ErrorResponse), `Z`, `K` bodies are kept.
    ServerToClient,
}

impl Direction {
    fn keeps_body(self, tag: u8) -> bool {
        match self {
            Direction::ClientToServer => matches!(tag, b'Q' | b'P' | b'B' | b'E' | b'C'),
            Direction::ServerToClient => matches!(tag, b'C' | b'E' | b'Z' | b'K'),
        }
    }

    /// `DataRow` and `CopyData` legitimately carry up to 1 GiB (PostgreSQL's own limit).
    fn is_bulk(self, tag: u8) -> bool {
        match self {
            Direction::ClientToServer => tag == b'd',
            Direction::ServerToClient => matches!(tag, b'D' | b'd'),
        }
    }
}

/// Size limits on message bodies, checked from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// `DataRow` / `CopyData` bodies.
    pub max_bulk: u32,
    /// Any other message body.
    pub max_other: u32,
    /// Bytes of a kept body copied for observation.
    pub observe_cap: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_bulk: 1 << 30,
            max_other: 256 << 20,
            observe_cap: DEFAULT_OBSERVE_CAP,
        }
    }
}

/// A header that no well-behaved peer sends. The connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length field is below 4 (it counts itself).
    BadLength { tag: u8, len: u32, offset: u64 },
    /// The body is longer than the configured limit.
    TooLarge {
        tag: u8,
        len: u32,
        limit: u32,
        offset: u64,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::BadLength { tag, len, offset } => write!(
                f,
                "malformed message at byte {offset}: type {} with length {len} (< 4)",
                show_tag(tag)
            ),
            FrameError::TooLarge {
                tag,
                len,
                limit,
                offset,
            } => write!(
                f,
                "oversized message at byte {offset}: type {} with length {len} (limit {limit})",
                show_tag(tag)
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// A printable form of a type byte for log lines.
pub fn show_tag(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", tag as char)
    } else {
        format!("0x{tag:02x}")
    }
}

/// One complete message, as the scanner lends it to the observer.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub tag: u8,
    /// Body length from the header.
    pub len: u32,
    /// The kept body (empty when the direction does not keep this type), cut at the cap.
    pub body: &'a [u8],
    /// Stream offset of the message's type byte.
    pub offset: u64,
}

/// Follows message boundaries over a byte stream delivered in arbitrary pieces.
#[derive(Debug)]
pub struct FrameScanner {
    direction: Direction,
    limits: FrameLimits,
    header: [u8; HEADER_LEN],
    header_fill: usize,
    in_body: bool,
    tag: u8,
    len: u32,
    remaining: usize,
    /// How much of the current message's body is kept (`None`: none of it).
    kept_cap: Option<usize>,
    /// Keep `DataRow` bodies too (switched on while the observer captures a result).
    keep_data_rows: bool,
    body: Vec<u8>,
    /// Bytes consumed so far.
    offset: u64,
    message_start: u64,
}

impl FrameScanner {
    pub fn new(direction: Direction, limits: FrameLimits) -> Self {
        FrameScanner {
            direction,
            limits,
            header: [0; HEADER_LEN],
            header_fill: 0,
            in_body: false,
            tag: 0,
            len: 0,
            remaining: 0,
            kept_cap: None,
            keep_data_rows: false,
            body: Vec::new(),
            offset: 0,
            message_start: 0,
        }
    }

    /// Whether `DataRow` bodies (server to client) are kept for the messages that start
    /// from now on.
    pub fn keep_data_rows(&mut self, keep: bool) {
        self.keep_data_rows = keep;
    }

    /// Total bytes scanned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The type byte and stream offset of a message begun but not complete.
    pub fn partial(&self) -> Option<(u8, u64)> {
        if self.in_body {
            Some((self.tag, self.message_start))
        } else if self.header_fill > 0 {
            Some((self.header[0], self.message_start))
        } else {
            None
        }
    }

    /// Consumes `data`, calling `on_message` for each message completed in it. After an
    /// error the scanner must not be fed again (the stream has lost its framing).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_message: impl FnMut(Message<'_>),
    ) -> Result<(), FrameError> {
        while !data.is_empty() {
            if !self.in_body && self.header_fill == 0 {
                if let Some(rest) = self.whole_message(data, &mut on_message)? {
                    data = rest;
                    continue;
                }
            }
            if !self.in_body {
                data = self.fill_header(data);
                if self.header_fill < HEADER_LEN {
                    break;
                }
                self.start_body()?;
                if self.remaining == 0 {
                    self.complete(&mut on_message);
                    continue;
                }
            }
            data = self.fill_body(data);
            if self.remaining == 0 {
                self.complete(&mut on_message);
            }
        }
        Ok(())
    }

    /// The common case, a message that lies whole in `data` at a message boundary: its
    /// kept body is handed over as a slice of `data`, copied nowhere. Returns what follows
    /// it, or `None` (nothing consumed) when `data` holds only part of it.
    fn whole_message<'d>(
        &mut self,
        data: &'d [u8],
        on_message: &mut impl FnMut(Message<'_>),
    ) -> Result<Option<&'d [u8]>, FrameError> {
        let Some((header, rest)) = data.split_first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (tag, body_len) = self.check_header(*header, self.offset)?;
        let Some((body, rest)) = rest.split_at_checked(body_len as usize) else {
            return Ok(None);
        };
        let kept = match self.cap_for(tag) {
            Some(cap) => body.get(..cap).unwrap_or(body),
            None => &[],
        };
        on_message(Message {
            tag,
            len: body_len,
            body: kept,
            offset: self.offset,
        });
        self.offset += (HEADER_LEN + body.len()) as u64;
        Ok(Some(rest))
    }

    /// The type and body length of a message header starting at stream offset `offset`,
    /// checked against the limits.
    fn check_header(&self, header: [u8; HEADER_LEN], offset: u64) -> Result<(u8, u32), FrameError> {
        let [tag, a, b, c, d] = header;
        let len = u32::from_be_bytes([a, b, c, d]);
        let Some(body_len) = len.checked_sub(4) else {
            return Err(FrameError::BadLength { tag, len, offset });
        };
        let limit = if self.direction.is_bulk(tag) {
            self.limits.max_bulk
        } else {
            self.limits.max_other
        };
        if body_len > limit {
            return Err(FrameError::TooLarge {
                tag,
                len,
                limit,
                offset,
            });
        }
        Ok((tag, body_len))
    }

    /// How much of a `tag` message's body is kept for the observer, if any of it is.
    fn cap_for(&self, tag: u8) -> Option<usize> {
        let data_row = tag == b'D' && self.direction == Direction::ServerToClient;
        if data_row {
            self.keep_data_rows
                .then_some(DATA_ROW_CAP.min(self.limits.observe_cap))
        } else {
            self.direction
                .keeps_body(tag)
                .then_some(self.limits.observe_cap)
        }
    }

    fn fill_header<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        if self.header_fill == 0 {
            self.message_start = self.offset;
        }
        let take = (HEADER_LEN - self.header_fill).min(data.len());
        let (head, rest) = data.split_at(take);
        if let Some(slot) = self
            .header
            .get_mut(self.header_fill..self.header_fill + take)
        {
            slot.copy_from_slice(head);
        }
        self.header_fill += take;
        self.offset += take as u64;
        rest
    }

    fn start_body(&mut self) -> Result<(), FrameError> {
        self.header_fill = 0;
        let (tag, body_len) = self.check_header(self.header, self.message_start)?;
        self.tag = tag;
        self.len = body_len;
        self.remaining = body_len as usize;
        self.kept_cap = self.cap_for(tag);
        self.body.clear();
        self.in_body = true;
        Ok(())
    }

    fn fill_body<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let take = self.remaining.min(data.len());
        let (part, rest) = data.split_at(take);
        if let Some(cap) = self.kept_cap {
            let room = cap.saturating_sub(self.body.len());
            // All of `part` when it fits in the room left.
            self.body
                .extend_from_slice(part.get(..room).unwrap_or(part));
        }
        self.remaining -= take;
        self.offset += take as u64;
        rest
    }

    fn complete(&mut self, on_message: &mut impl FnMut(Message<'_>)) {
        on_message(Message {
            tag: self.tag,
            len: self.len,
            body: &self.body,
            offset: self.message_start,
        });
        self.in_body = false;
        if self.body.capacity() > KEEP_SCRATCH {
            self.body = Vec::new();
        }
    }
}

/// The protocol codes of the untyped packets a client may open with.
pub const PROTOCOL_3_0: u32 = 196_608;
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// Startup packets are small; PostgreSQL itself rejects ones over 10 000 bytes.
pub const MAX_STARTUP_LEN: u32 = 10_000;

/// The first packet of a connection, before typed messages start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    /// Forwarded as is on a fresh upstream connection.
    Cancel,
    /// Protocol 3.x with its parameters (`user`, `database`, `application_name`, ...).
    Startup {
        minor: u16,
        params: Vec<(String, String)>,
    },
}

/// Why the opening bytes are not a PostgreSQL startup packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupError {
    /// First byte 0x16: a TLS ClientHello (PostgreSQL 17 `sslnegotiation=direct`).
    DirectTls,
    /// The length field is outside 8..=10 000: not a PostgreSQL client.
    BadLength(u32),
    UnknownCode(u32),
    /// The parameter list is not NUL-terminated key/value pairs.
    BadParameters,
    /// SSL/GSS encryption requests repeated without ever starting up.
    TooManyNegotiations,
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::DirectTls => f.write_str(
                "client opened with TLS directly (sslnegotiation=direct); the proxy negotiates \
                 TLS after an SSLRequest only: connect with sslnegotiation=postgres",
            ),
            StartupError::BadLength(len) => write!(
                f,
                "garbage before startup: length field {len} is not a PostgreSQL startup packet"
            ),
            StartupError::UnknownCode(code) => {
                write!(f, "garbage before startup: unknown protocol code {code}")
            }
            StartupError::BadParameters => {
                f.write_str("malformed startup packet: parameters are not NUL-terminated pairs")
            }
            StartupError::TooManyNegotiations => {
                f.write_str("encryption requested again and again without a startup packet")
            }
        }
    }
}

impl std::error::Error for StartupError {}

/// Checks the 4-byte length prefix of a startup packet; returns the body length.
pub fn startup_body_len(prefix: [u8; 4]) -> Result<usize, StartupError> {
    if prefix[0] == 0x16 {
        return Err(StartupError::DirectTls);
    }
    let len = u32::from_be_bytes(prefix);
    if !(8..=MAX_STARTUP_LEN).contains(&len) {
        return Err(StartupError::BadLength(len));
    }
    Ok(len as usize - 4)
}

/// Parses a startup packet body (after the length prefix).
pub fn parse_startup(body: &[u8]) -> Result<StartupPacket, StartupError> {
    let Some((code, rest)) = body.split_first_chunk::<4>() else {
        return Err(StartupError::BadLength(body.len() as u32 + 4));
    };
    let code = u32::from_be_bytes(*code);
    match code {
        SSL_REQUEST => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST => Ok(StartupPacket::Cancel),
        _ if code >> 16 == 3 => Ok(StartupPacket::Startup {
            minor: (code & 0xffff) as u16,
            params: parse_params(rest)?,
        }),
        _ => Err(StartupError::UnknownCode(code)),
    }
}

fn parse_params(mut rest: &[u8]) -> Result<Vec<(String, String)>, StartupError> {
    let mut params = Vec::new();
    loop {
        let (key, after) = cstr(rest).ok_or(StartupError::BadParameters)?;
        if key.is_empty() {
            return Ok(params);
        }
        let (value, after) = cstr(after).ok_or(StartupError::BadParameters)?;
        params.push((key.to_owned(), value.to_owned()));
        rest = after;
    }
}

/// Splits a NUL-terminated string off the front of `data`, lossily decoded.
pub fn cstr(data: &[u8]) -> Option<(&str, &[u8])> {
    let (bytes, rest) = cstr_bytes(data)?;
    Some((std::str::from_utf8(bytes).ok()?, rest))
}

/// A NUL-terminated field's bytes, not yet checked to be UTF-8, and what follows it. (The
/// standard library's search for the NUL reads a word at a time.)
pub fn cstr_bytes(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = std::ffi::CStr::from_bytes_until_nul(data)
        .ok()?
        .count_bytes();
    Some((data.get(..end)?, data.get(end + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c_string_ends_at_its_first_nul_and_must_be_utf8_as_text() {
        assert_eq!(cstr(b"ab\0cd"), Some(("ab", &b"cd"[..])));
        assert_eq!(cstr(b"\0"), Some(("", &b""[..])));
        assert_eq!(cstr(b"a\0\0b"), Some(("a", &b"\0b"[..])));
        assert_eq!(cstr(b"no end"), None);
        assert_eq!(cstr(b""), None);
        assert_eq!(cstr(b"\xff\0x"), None);
        assert_eq!(cstr_bytes(b"\xff\0x"), Some((&b"\xff"[..], &b"x"[..])));
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn scan_in_pieces(direction: Direction, bytes: &[u8], piece: usize) -> Vec<(u8, Vec<u8>)> {
        messages_in_pieces(direction, FrameLimits::default(), false, bytes, piece)
            .into_iter()
            .map(|(tag, _, body, _)| (tag, body))
            .collect()
    }

    #[test]
    fn frames_survive_any_split() {
        let mut stream = msg(b'Q', b"SELECT 1\0");
        stream.extend(msg(b'S', b""));
        stream.extend(msg(b'd', b"copy payload"));
        stream.extend(msg(b'H', b""));
        for piece in 1..stream.len() {
            let seen = scan_in_pieces(Direction::ClientToServer, &stream, piece);
            let tags: Vec<u8> = seen.iter().map(|(t, _)| *t).collect();
            assert_eq!(tags, b"QSdH", "piece size {piece}");
            assert_eq!(seen[0].1, b"SELECT 1\0");
            assert!(seen[2].1.is_empty(), "CopyData bodies are not kept");
        }
    }

    /// Everything a scanner reports, fed in pieces of `piece` bytes.
    fn messages_in_pieces(
        direction: Direction,
        limits: FrameLimits,
        keep_data_rows: bool,
        bytes: &[u8],
        piece: usize,
    ) -> Vec<(u8, u32, Vec<u8>, u64)> {
        let mut scanner = FrameScanner::new(direction, limits);
        scanner.keep_data_rows(keep_data_rows);
        let mut seen = Vec::new();
        for chunk in bytes.chunks(piece) {
            scanner
                .feed(chunk, |m| {
                    seen.push((m.tag, m.len, m.body.to_vec(), m.offset))
                })
                .unwrap();
        }
        assert_eq!(scanner.offset(), bytes.len() as u64);
        assert_eq!(scanner.partial(), None);
        seen
    }

    /// Whole messages are handed over from the chunk itself, partial ones through the
    /// scanner's own buffer: both must report the same tags, lengths, kept (capped) bodies
    /// and offsets, whatever the chunk boundaries.
    #[test]
    fn whole_messages_read_as_when_split_byte_by_byte() {
        let limits = FrameLimits {
            observe_cap: 6,
            ..FrameLimits::default()
        };
        let mut client = msg(b'P', b"\0SELECT $1\0\0\0");
        client.extend(msg(b'B', b"\0\0\0\0\0\x01\0\0\0\x0242\0\0"));
        client.extend(msg(b'D', b"P\0"));
        client.extend(msg(b'E', b"\0\0\0\0\0"));
        client.extend(msg(b'S', b""));
        client.extend(msg(b'Q', b"SELECT 1\0"));
        let mut server = msg(b'1', b"");
        server.extend(msg(b'T', b"\0\x01id\0"));
        server.extend(msg(b'D', b"\0\x01\0\0\0\x0242"));
        server.extend(msg(b'D', b"\0\x01\0\0\0\x0bforty-three"));
        server.extend(msg(b'C', b"SELECT 2\0"));
        server.extend(msg(b'Z', b"I"));
        let cases = [
            (Direction::ClientToServer, false, &client),
            (Direction::ServerToClient, false, &server),
            (Direction::ServerToClient, true, &server),
        ];
        for (direction, rows, stream) in cases {
            let byte_by_byte = messages_in_pieces(direction, limits, rows, stream, 1);
            assert_eq!(byte_by_byte.len(), 6);
            for piece in 2..=stream.len() {
                assert_eq!(
                    messages_in_pieces(direction, limits, rows, stream, piece),
                    byte_by_byte,
                    "{direction:?}, data rows kept: {rows}, pieces of {piece}"
                );
            }
        }
        let whole = messages_in_pieces(Direction::ServerToClient, limits, true, &server, 1000);
        assert_eq!(
            whole[2].2, b"\0\x01\0\0\0\x02",
            "a data row is cut at the cap"
        );
        assert_eq!(whole[4], (b'C', 9, b"SELECT".to_vec(), 5 + 10 + 13 + 22));
        let unkept = messages_in_pieces(Direction::ServerToClient, limits, false, &server, 1000);
        assert!(unkept[2].2.is_empty() && unkept[1].2.is_empty());
    }

    /// The checks of the fast path name the same byte as those of the buffered one.
    #[test]
    fn a_bad_header_is_reported_at_its_offset_on_either_path() {
        let mut stream = msg(b'S', b"");
        stream.extend([b'Q', 0, 0, 0, 2]);
        for piece in [1, 3, stream.len()] {
            let mut scanner = FrameScanner::new(Direction::ClientToServer, FrameLimits::default());
            let error = stream
                .chunks(piece)
                .find_map(|chunk| scanner.feed(chunk, |_| {}).err())
                .unwrap();
            assert_eq!(
                error,
                FrameError::BadLength {
                    tag: b'Q',
                    len: 2,
                    offset: 5
                },
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn rejects_short_length_and_oversize() {
        let mut scanner = FrameScanner::new(Direction::ClientToServer, FrameLimits::default());
        let err = scanner.feed(&[b'Q', 0, 0, 0, 3], |_| {}).unwrap_err();
        assert!(matches!(err, FrameError::BadLength { len: 3, .. }));

        let limits = FrameLimits {
            max_other: 100,
            ..FrameLimits::default()
        };
        let mut scanner = FrameScanner::new(Direction::ClientToServer, limits);
        let err = scanner
            .feed(&[b'Q', 0, 0, 1, 0], |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("oversized message at byte 0"), "{err}");
        // CopyData may be larger than the limit for other messages.
        let mut scanner = FrameScanner::new(Direction::ClientToServer, limits);
        assert!(scanner.feed(&[b'd', 0, 0, 1, 0], |_| {}).is_ok());
    }

    #[test]
    fn kept_bodies_are_capped() {
        let limits = FrameLimits {
            observe_cap: 4,
            ..FrameLimits::default()
        };
        let mut scanner = FrameScanner::new(Direction::ClientToServer, limits);
        let mut seen = Vec::new();
        scanner
            .feed(&msg(b'Q', b"SELECT 1\0"), |m| {
                seen.push((m.len, m.body.to_vec()))
            })
            .unwrap();
        assert_eq!(seen, vec![(9, b"SELE".to_vec())]);
    }

    #[test]
    fn startup_packets() {
        let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0qc\0database\0app\0\0");
        assert_eq!(
            parse_startup(&body).unwrap(),
            StartupPacket::Startup {
                minor: 0,
                params: vec![
                    ("user".into(), "qc".into()),
                    ("database".into(), "app".into())
                ]
            }
        );
        assert_eq!(
            parse_startup(&SSL_REQUEST.to_be_bytes()).unwrap(),
            StartupPacket::SslRequest
        );
        assert_eq!(
            startup_body_len([0x16, 3, 1, 0]),
            Err(StartupError::DirectTls)
        );
        assert_eq!(
            startup_body_len(*b"GET "),
            Err(StartupError::BadLength(u32::from_be_bytes(*b"GET ")))
        );
        assert!(parse_startup(&[0, 3, 0, 0, b'u', b's']).is_err());
        assert!(parse_startup(&[0, 9, 0, 0]).is_err());
    }
}
