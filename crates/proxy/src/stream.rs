//! A connection leg: plain TCP (the fast path, split without locks) or a TLS session.

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

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Anything a TLS session runs over or is.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<dyn Io>),
}

pub(crate) enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<Box<dyn Io>>),
}

pub(crate) enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<Box<dyn Io>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    pub fn split(self) -> (ReadSide, WriteSide) {
        match self {
            Stream::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadSide::Plain(r), WriteSide::Plain(w))
            }
            Stream::Tls(tls) => {
                let (r, w) = tokio::io::split(tls);
                (ReadSide::Tls(r), WriteSide::Tls(w))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl ReadSide {
    /// Reads the next chunk into `buf` (replacing its contents); 0 at end of stream.
    pub async fn read_chunk(&mut self, buf: &mut Vec<u8>, size: usize) -> io::Result<usize> {
        match self {
            ReadSide::Plain(from) => read_plain(from, buf, size).await,
            ReadSide::Tls(from) => {
                buf.clear();
                buf.reserve(size);
                from.read_buf(buf).await
            }
        }
    }
}

impl WriteSide {
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            WriteSide::Plain(to) => to.write_all(data).await,
            WriteSide::Tls(to) => {
                to.write_all(data).await?;
                // TLS buffers records; the peer waits for these bytes now.
                to.flush().await
            }
        }
    }

    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            WriteSide::Plain(to) => to.shutdown().await,
            WriteSide::Tls(to) => to.shutdown().await,
        }
    }
}

/// Reads the next chunk into `buf`, which holds memory only while data flows: when the
/// socket runs dry the buffer is freed before waiting, so an idle connection holds no read
/// buffers (1,000 idle clients cost a few MB, not 24 MB). `try_read_buf` fills spare
/// capacity, so a fresh buffer is never zeroed. Returns 0 at end of stream.
async fn read_plain(from: &OwnedReadHalf, buf: &mut Vec<u8>, size: usize) -> io::Result<usize> {
    buf.clear();
    loop {
        if buf.capacity() > 0 {
            match from.try_read_buf(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *buf = Vec::new(),
                Err(e) => return Err(e),
            }
        }
        from.readable().await?;
        if buf.capacity() == 0 {
            *buf = Vec::with_capacity(size);
        }
        match from.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}
