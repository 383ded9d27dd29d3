//! The one line reader of every log format: a line splitter over any `BufRead` that lends
//! lines out of one large reused buffer.
//!
//! Why not `BufRead::read_until`: it copies every line into a caller buffer and grows without
//! bound on a giant line. Here lines are slices of our own buffer (no copy, found with
//! `memchr`), and a line longer than [`MAX_LINE`] is reported as [`Line::TooLong`] and skipped
//! without ever being held whole in memory.

use std::io::{self, BufRead, ErrorKind};

/// Longest line handed out; longer ones are skipped and reported.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

/// Bytes of an over-long line kept for its reader to look at (does it start a record?).
const LONG_LINE_HEAD: usize = 4096;

/// The first read's buffer: a small input (one log record, a fuzzer's input, a test's log)
/// never pays for zeroing a large one.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// The buffer once the input has proved longer than the first read: larger than the 1 MiB
/// `BufReader`s callers tend to wrap inputs in, so that our reads bypass their buffer instead
/// of being copied out of it.
const LARGE_CAPACITY: usize = 4 * 1024 * 1024;

/// One line of input, without its `\n` (and without a `\r` before it).
/// Buffered input as [`LineReader::block`] lends it.
#[derive(Debug)]
pub(crate) enum Block<'a> {
    Data {
        /// Whole lines, then possibly the start of the next one.
        data: &'a [u8],
        /// Nothing follows `data`.
        eof: bool,
        /// Line number and byte offset of `data[0]`.
        line: u64,
        byte: u64,
    },
    /// A line longer than [`MAX_LINE`]; its bytes were skipped.
    TooLong {
        line: u64,
        byte: u64,
        len: u64,
    },
    End,
}

#[derive(Debug)]
pub(crate) enum Line<'a> {
    Text {
        bytes: &'a [u8],
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line's first byte.
        byte: u64,
        /// False for a final line that ends without `\n` (possibly cut off).
        complete: bool,
    },
    /// A line longer than [`MAX_LINE`]; its bytes were skipped except the first few,
    /// `head`, enough to tell whether it starts a record.
    TooLong {
        line: u64,
        byte: u64,
        len: u64,
        head: &'a [u8],
    },
}

pub(crate) struct LineReader<'r> {
    input: &'r mut dyn BufRead,
    buf: Vec<u8>,
    /// Unconsumed data is `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Input offset of `buf[start]`.
    offset: u64,
    line: u64,
    cap: usize,
    /// The last read filled all the room it was given: the input is long, so the next read
    /// may grow the buffer to [`LARGE_CAPACITY`].
    input_is_long: bool,
    /// The head of the last over-long line, lent by [`Line::TooLong`].
    long_head: Vec<u8>,
}

impl<'r> LineReader<'r> {
    pub(crate) fn new(input: &'r mut dyn BufRead) -> Self {
        Self::with_cap(input, MAX_LINE)
    }

    /// A reader with a custom line cap (tests use a small one).
    pub(crate) fn with_cap(input: &'r mut dyn BufRead, cap: usize) -> Self {
        LineReader {
            input,
            buf: vec![0; INITIAL_CAPACITY.min(cap.saturating_add(1)).max(64)],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            line: 0,
            cap,
            input_is_long: false,
            long_head: Vec::new(),
        }
    }

    /// Bytes consumed so far (the offset of the next line).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The buffered bytes not yet consumed. `start <= end <= buf.len()` always holds, so the
    /// `get` never falls back.
    #[inline]
    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// The first `want` bytes of what is left (fewer at end of input), without consuming
    /// them: for format and prefix detection.
    pub(crate) fn peek(&mut self, want: usize) -> io::Result<&[u8]> {
        let want = want.min(self.cap);
        while self.end - self.start < want && !self.eof {
            self.fill()?;
        }
        let pending = self.pending();
        Ok(pending.get(..want).unwrap_or(pending))
    }

    /// All buffered input not yet consumed, holding at least one whole line (or the end of
    /// input, or an over-long line, which is skipped and reported as [`Block::TooLong`]).
    /// For callers that want to look past a line's end before deciding what to do with it;
    /// they say what they used with [`LineReader::consume`] and, when a block was not
    /// enough to decide anything, ask for more with [`LineReader::fill_more`].
    pub(crate) fn block(&mut self) -> io::Result<Block<'_>> {
        loop {
            let pending = self.pending();
            if pending.is_empty() && self.eof {
                return Ok(Block::End);
            }
            let first_len = memchr::memchr(b'\n', pending).unwrap_or(pending.len());
            if first_len > self.cap {
                return match self.skip_long_line()? {
                    Line::TooLong {
                        line, byte, len, ..
                    } => Ok(Block::TooLong { line, byte, len }),
                    Line::Text { .. } => Ok(Block::End),
                };
            }
            if self.eof || first_len < pending.len() {
                return Ok(Block::Data {
                    data: self.pending(),
                    eof: self.eof,
                    line: self.line + 1,
                    byte: self.offset,
                });
            }
            self.fill()?;
        }
    }

    /// Marks `bytes` holding `lines` whole lines of the last block as used.
    pub(crate) fn consume(&mut self, bytes: usize, lines: u64) {
        let bytes = bytes.min(self.end - self.start);
        self.start += bytes;
        self.offset += bytes as u64;
        self.line += lines;
    }

    /// Reads more input into the block, for a caller that could not use any of it yet.
    pub(crate) fn fill_more(&mut self) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        self.fill()
    }

    /// The next line, or `None` at end of input. A final line without `\n` is returned too.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut searched = 0;
        loop {
            let pending = self.pending().get(searched..).unwrap_or_default();
            if let Some(pos) = memchr::memchr(b'\n', pending) {
                let len = searched + pos;
                return Ok(Some(self.take_line(len, len + 1, true)));
            }
            searched = self.end - self.start;
            if searched > self.cap {
                return self.skip_long_line().map(Some);
            }
            if self.eof {
                if searched == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.take_line(searched, searched, false)));
            }
            self.fill()?;
        }
    }

    /// Hands out `len` bytes as a line and consumes `consumed` bytes (the line plus `\n`).
    fn take_line(&mut self, len: usize, consumed: usize, complete: bool) -> Line<'_> {
        let begin = self.start;
        self.start += consumed;
        self.line += 1;
        let byte = self.offset;
        self.offset += consumed as u64;
        let mut bytes = self.buf.get(begin..begin + len).unwrap_or_default();
        if let [text @ .., b'\r'] = bytes {
            bytes = text;
        }
        Line::Text {
            bytes,
            line: self.line,
            byte,
            complete,
        }
    }

    /// Drops the current over-long line, reading on to its end without keeping more than
    /// its first [`LONG_LINE_HEAD`] bytes.
    fn skip_long_line(&mut self) -> io::Result<Line<'_>> {
        let kept = self.end.min(self.start.saturating_add(LONG_LINE_HEAD));
        self.long_head.clear();
        self.long_head
            .extend_from_slice(self.buf.get(self.start..kept).unwrap_or_default());
        self.line += 1;
        let line = self.line;
        let byte = self.offset;
        let mut len: u64 = 0;
        loop {
            let pending = self.pending();
            if let Some(pos) = memchr::memchr(b'\n', pending) {
                len += pos as u64;
                self.start += pos + 1;
                self.offset += pos as u64 + 1;
                return Ok(Line::TooLong {
                    line,
                    byte,
                    len,
                    head: &self.long_head,
                });
            }
            len += pending.len() as u64;
            self.offset += pending.len() as u64;
            self.start = self.end;
            if self.eof {
                return Ok(Line::TooLong {
                    line,
                    byte,
                    len,
                    head: &self.long_head,
                });
            }
            self.fill()?;
        }
    }

    /// Reads more input after the unconsumed data, moving or growing the buffer as needed.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && (self.end == self.buf.len() || self.start == self.end) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let large = if self.input_is_long {
            LARGE_CAPACITY.min(self.cap.saturating_add(1))
        } else {
            0
        };
        if self.end == self.buf.len() || self.buf.len() < large {
            let grown = (self.buf.len() * 2)
                .min(self.cap.saturating_add(2))
                .max(self.end + 64 * 1024)
                .max(large);
            self.buf.resize(grown, 0);
        }
        loop {
            // `end < buf.len()` here (the buffer was just made room in), so the read has room.
            match self
                .input
                .read(self.buf.get_mut(self.end..).unwrap_or_default())
            {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.input_is_long = self.end == self.buf.len();
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], cap: usize) -> Vec<String> {
        let mut reader: &[u8] = input;
        let mut lines = LineReader::with_cap(&mut reader, cap);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text {
                    bytes,
                    line,
                    byte,
                    complete,
                } => {
                    let cut = if complete { "" } else { " (cut)" };
                    format!("{line}@{byte}:{}{cut}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong {
                    line,
                    byte,
                    len,
                    head,
                } => format!(
                    "{line}@{byte}:too long {len}, head {}",
                    String::from_utf8_lossy(&head[..head.len().min(3)])
                ),
            });
        }
        out
    }

    #[test]
    fn splits_lines_with_positions_and_strips_cr() {
        assert_eq!(
            collect(b"ab\r\ncd\n\nlast", 1000),
            ["1@0:ab", "2@4:cd", "3@7:", "4@8:last (cut)"]
        );
        assert!(collect(b"", 1000).is_empty());
    }

    #[test]
    fn skips_an_over_long_line_and_goes_on() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 500));
        input.extend(b"\nafter\n");
        assert_eq!(
            collect(&input, 100),
            ["1@0:short", "2@6:too long 500, head xxx", "3@507:after"]
        );
    }

    #[test]
    fn over_long_final_line_without_newline() {
        let input = vec![b'y'; 300];
        assert_eq!(collect(&input, 64), ["1@0:too long 300, head yyy"]);
    }

    #[test]
    fn lines_across_buffer_refills() {
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let got = collect(text.as_bytes(), 128);
        assert_eq!(got.len(), 5000);
        assert!(got[4999].ends_with(":line 4999"));
    }
}
