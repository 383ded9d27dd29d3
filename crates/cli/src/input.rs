//! Opening inputs: files or stdin, plain, gzip or zstd (detected by magic bytes, not by name), with a
//! peek at the first bytes for format detection and a byte counter for progress.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const BUFFER: usize = 1 << 20;
const PEEK: usize = 64 << 10;

pub struct Input {
    pub name: String,
    /// Size on disk, when known (for a progress percentage).
    pub size: Option<u64>,
    /// The first bytes of the (decompressed) stream, also still readable from `reader`.
    pub head: Vec<u8>,
    pub reader: Box<dyn BufRead>,
    /// What to tell the user when the input held no statement (a live log table: why it
    /// may be empty).
    pub when_empty: Option<&'static str>,
    /// Set when the stream broke part way (a truncated gzip file, a read error): reading
    /// then ends there as if at the end of the input, and this says where and why.
    pub damage: Damage,
}

/// Where and why an input's stream broke, if it did.
#[derive(Clone, Default)]
pub struct Damage(Arc<Mutex<Option<String>>>);

impl Damage {
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, what: String) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(what);
    }
}

/// Opens `path` (`-` is stdin; `mysql://…/mysql.general_log` a live server's log table,
/// see [`crate::log_table`]). `consumed` counts raw bytes read, for progress.
pub fn open(path: &Path, consumed: Arc<AtomicU64>) -> Result<Input, String> {
    let Opened {
        name,
        size,
        raw,
        when_empty,
    } = if path == Path::new("-") {
        Opened::new("<stdin>".to_owned(), None, Box::new(io::stdin()))
    } else if let Some(table) = path.to_str().and_then(log_table) {
        table?
    } else {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{name} is a directory, not a log file"));
        }
        Opened::new(name, Some(meta.len()), Box::new(file))
    };
    let counted = Counting {
        inner: raw,
        consumed,
    };
    let mut raw = BufReader::with_capacity(BUFFER, counted);
    let first = raw
        .fill_buf()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let is_gzip = first.starts_with(&[0x1f, 0x8b]);
    let is_zstd = first.starts_with(&ZSTD_MAGIC);
    let stream: Box<dyn Read> = if is_gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else if is_zstd {
        Box::new(ZstdFrames::new(raw).map_err(|e| format!("cannot read {name}: {e}"))?)
    } else {
        Box::new(raw)
    };
    let damage = Damage::default();
    let stream = Box::new(EndsAtDamage {
        inner: stream,
        delivered: 0,
        compressed: is_gzip,
        damage: damage.clone(),
    });
    let (head, stream) = peek(stream).map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(Input {
        name,
        size,
        head,
        reader: Box::new(BufReader::with_capacity(BUFFER, stream)),
        damage,
        when_empty,
    })
}

/// An opened input before decompression and peeking.
struct Opened {
    name: String,
    /// Size on disk, when known.
    size: Option<u64>,
    raw: Box<dyn Read>,
    when_empty: Option<&'static str>,
}

impl Opened {
    fn new(name: String, size: Option<u64>, raw: Box<dyn Read>) -> Opened {
        Opened {
            name,
            size,
            raw,
            when_empty: None,
        }
    }
}

/// A live server's log table named by `arg`, opened: `None` when `arg` names no such table.
#[cfg(feature = "mysql")]
fn log_table(arg: &str) -> Option<Result<Opened, String>> {
    let opened = crate::log_table::TableUrl::parse(arg)?.and_then(|url| {
        let rows = url
            .open()
            .map_err(|e| format!("cannot read {}: {e}", url.name))?;
        Ok(Opened {
            when_empty: Some(crate::log_table::WHEN_EMPTY),
            ..Opened::new(url.name, None, rows)
        })
    });
    Some(opened)
}

#[cfg(not(feature = "mysql"))]
fn log_table(arg: &str) -> Option<Result<Opened, String>> {
    (arg.starts_with("mysql://") || arg.starts_with("mariadb://")).then(|| {
        Err("this querycomb was built without MySQL support (cargo feature `mysql`)".to_owned())
    })
}

/// Turns the first read error into the end of the stream, remembering it in `damage`: what
/// was read before the break is still a good log (a `.gz` cut short by a full disk or a
/// copy in progress is 70% readable), and losing it all would help nobody.
struct EndsAtDamage {
    inner: Box<dyn Read>,
    /// Bytes handed out so far (decompressed, for gzip).
    delivered: u64,
    compressed: bool,
    damage: Damage,
}

impl Read for EndsAtDamage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.delivered += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let stream = if self.compressed {
                        "gzip stream"
                    } else {
                        "input"
                    };
                    let unit = if self.compressed {
                        " (decompressed)"
                    } else {
                        ""
                    };
                    self.damage.set(format!(
                        "the {stream} broke after byte {}{unit}: {e}",
                        self.delivered
                    ));
                    return Ok(0);
                }
            }
        }
    }
}

/// Reads up to [`PEEK`] bytes and hands back a reader that yields them again first.
fn peek(mut stream: Box<dyn Read>) -> io::Result<(Vec<u8>, Box<dyn Read>)> {
    let mut head = Vec::with_capacity(PEEK);
    (&mut stream).take(PEEK as u64).read_to_end(&mut head)?;
    let replay = Cursor::new(head.clone()).chain(stream);
    Ok((head, Box::new(replay)))
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A zstd stream of one or more frames (writers that append compress each batch on its own).
struct ZstdFrames<R: BufRead> {
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(inner: R) -> io::Result<Self> {
        let frame = ruzstd::decoding::StreamingDecoder::new(inner)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
        Ok(ZstdFrames { frame: Some(frame) })
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(frame) = self.frame.as_mut() else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // End of a frame: another one may follow.
            let Some(mut inner) = self.frame.take().map(|f| f.into_inner()) else {
                return Ok(0);
            };
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let next = ruzstd::decoding::StreamingDecoder::new(inner)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
            self.frame = Some(next);
        }
    }
}

struct Counting<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(input: Input) -> Vec<u8> {
        let mut out = Vec::new();
        let mut reader = input.reader;
        reader.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn plain_file_is_replayed_after_peek() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"line one\nline two\n").unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let input = open(file.path(), counter.clone()).unwrap();
        assert_eq!(input.head, b"line one\nline two\n");
        assert_eq!(read_all(input), b"line one\nline two\n");
        assert_eq!(counter.load(Ordering::Relaxed), 18);
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"compressed text\n").unwrap();
        file.write_all(&gz.finish().unwrap()).unwrap();
        let input = open(file.path(), Arc::default()).unwrap();
        assert_eq!(input.head, b"compressed text\n");
        assert_eq!(read_all(input), b"compressed text\n");
    }

    #[test]
    fn zstd_of_several_frames_is_detected_by_magic_bytes() {
        use ruzstd::encoding::{compress_to_vec, CompressionLevel};
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&compress_to_vec(
            &b"first frame\n"[..],
            CompressionLevel::Fastest,
        ))
        .unwrap();
        file.write_all(&compress_to_vec(
            &b"second frame\n"[..],
            CompressionLevel::Fastest,
        ))
        .unwrap();
        let input = open(file.path(), Arc::default()).unwrap();
        assert_eq!(input.head, b"first frame\nsecond frame\n");
        assert_eq!(read_all(input), b"first frame\nsecond frame\n");
    }

    #[test]
    fn missing_file_and_directory_are_named() {
        let err = open(Path::new("/no/such/file.log"), Arc::default())
            .err()
            .unwrap();
        assert!(err.contains("/no/such/file.log"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = open(dir.path(), Arc::default()).err().unwrap();
        assert!(err.contains("is a directory"), "{err}");
    }
}
