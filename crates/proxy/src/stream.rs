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

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

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
    /// Reads the next chunk (empty at end of stream). On plain TCP the chunk's buffer is
    /// taken from the thread's pool only once the socket is readable, and given back if
    /// the read finds nothing after all, so an idle connection holds no read buffer; a
    /// read that leaves part of the buffer empty tells tokio the socket is drained, so the
    /// next wait goes straight to epoll without a read that would only say "would block".
    pub async fn read_chunk(&mut self) -> io::Result<Chunk> {
        match self {
            ReadSide::Plain(from) => std::future::poll_fn(|cx| poll_plain_chunk(from, cx)).await,
            // A pending TLS read has taken no bytes into the chunk (what arrived stays in
            // the TLS session until a whole record can be returned), so the chunk is lent
            // for one poll only, and an idle TLS connection holds no read buffer either.
            ReadSide::Tls(from) => std::future::poll_fn(|cx| poll_into_lent_chunk(from, cx)).await,
        }
    }
}

/// One poll of a plain leg's read. Readiness is awaited through the socket's own waker slot
/// (no waiter node in the connection's future, which every idle connection would carry),
/// and a buffer is lent only once the socket says it is readable. Readiness can be stale
/// (the start-up exchange reads exact lengths and never sees "would block"): a read that
/// finds nothing gives the buffer back to the pool at once, and tokio, having cleared the
/// readiness, wakes the task when data really comes. A read pending on tokio's
/// cooperative budget has asked to be polled again, so it yields rather than spins.
fn poll_plain_chunk(from: &mut OwnedReadHalf, cx: &mut Context<'_>) -> Poll<io::Result<Chunk>> {
    if let Err(error) = ready!(from.as_ref().poll_read_ready(cx)) {
        return Poll::Ready(Err(error));
    }
    poll_into_lent_chunk(from, cx)
}

/// One read into a chunk lent for this poll: given back to the pool when nothing came.
fn poll_into_lent_chunk(
    from: &mut (impl AsyncRead + Unpin),
    cx: &mut Context<'_>,
) -> Poll<io::Result<Chunk>> {
    let mut chunk = Chunk::lend();
    let polled = {
        let mut read = std::pin::pin!(from.read_buf(&mut chunk.bytes));
        read.as_mut().poll(cx)
    };
    polled.map(|read| read.map(|_| chunk))
}

impl WriteSide {
    /// Sends what the socket takes right now, without waiting; returns how many bytes that
    /// was. Always 0 on a TLS leg, whose records are written by [`WriteSide::write_all`].
    pub fn try_write_now(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            WriteSide::Plain(to) => match to.try_write(data) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            },
            WriteSide::Tls(_) => Ok(0),
        }
    }

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

/// Bytes read from a leg in one go. Large enough for a typical result set in one read,
/// small enough that a pool of them stays small.
pub(crate) const CHUNK_SIZE: usize = 16 << 10;

/// Buffers kept for reuse per connection thread: more in flight at once are allocated and
/// freed as needed.
const POOLED_CHUNKS: usize = 64;

thread_local! {
    /// Read buffers of the connections this thread serves. A buffer is lent while its
    /// chunk is in flight (read, observed, forwarded) and comes back when the chunk is
    /// dropped, so 10,000 idle connections hold none and a busy one does not allocate per
    /// read.
    static CHUNK_POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// One read's bytes, in a buffer lent by the thread's pool (see [`CHUNK_POOL`]).
pub(crate) struct Chunk {
    bytes: Vec<u8>,
}

impl Chunk {
    fn lend() -> Chunk {
        let pooled = CHUNK_POOL
            .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten();
        Chunk {
            bytes: pooled.unwrap_or_else(|| Vec::with_capacity(CHUNK_SIZE)),
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.capacity() < CHUNK_SIZE {
            return;
        }
        bytes.clear();
        let _ = CHUNK_POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() < POOLED_CHUNKS {
                    pool.push(bytes);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_reused_and_the_pool_is_bounded() {
        let first = Chunk::lend();
        let address = first.bytes.as_ptr();
        drop(first);
        assert_eq!(
            Chunk::lend().bytes.as_ptr(),
            address,
            "the buffer came back"
        );
        let many: Vec<Chunk> = (0..POOLED_CHUNKS + 10).map(|_| Chunk::lend()).collect();
        drop(many);
        let pooled = CHUNK_POOL.with(|pool| pool.borrow().len());
        assert_eq!(pooled, POOLED_CHUNKS);
    }

    /// After a start-up exchange read with exact lengths, tokio still thinks the socket
    /// is readable: the wait that follows must not keep a buffer while nothing arrives.
    #[tokio::test]
    async fn an_idle_connection_holds_no_read_buffer_after_stale_readiness() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"login").await.unwrap();
        let mut exact = [0u8; 5];
        server.read_exact(&mut exact).await.unwrap();
        let (mut read, _write) = Stream::Plain(server).split();
        a_pending_read_holds_no_chunk(&mut read, &mut client, b"query").await;
    }

    /// A read with nothing to read is pending and holds no pooled chunk; once `payload`
    /// is written to the other end, the read returns it.
    async fn a_pending_read_holds_no_chunk(
        read: &mut ReadSide,
        other_end: &mut (impl AsyncWrite + Unpin),
        payload: &[u8],
    ) {
        let pooled = || CHUNK_POOL.with(|pool| pool.borrow().len());
        drop(Chunk::lend());
        let before = pooled();
        let mut reading = Box::pin(read.read_chunk());
        let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx).is_pending()));
        assert!(first.await, "nothing to read yet");
        assert_eq!(pooled(), before, "a pending read holds no buffer");
        other_end.write_all(payload).await.unwrap();
        assert_eq!(&*reading.await.unwrap(), payload);
    }

    /// A TLS leg's read goes through the session's own buffer: a pending one must not keep
    /// a chunk either (an in-memory pipe stands in for the TLS stream: same read half).
    #[tokio::test]
    async fn an_idle_tls_leg_holds_no_read_buffer() {
        let (mut near, far) = tokio::io::duplex(64);
        let (mut read, _write) = Stream::Tls(Box::new(far)).split();
        a_pending_read_holds_no_chunk(&mut read, &mut near, b"record").await;
    }

    #[tokio::test]
    async fn a_chunk_holds_what_one_read_returned() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (mut read, _write) = Stream::Plain(server).split();
        client.write_all(b"hello").await.unwrap();
        assert_eq!(&*read.read_chunk().await.unwrap(), b"hello");
        client.write_all(b" again").await.unwrap();
        assert_eq!(&*read.read_chunk().await.unwrap(), b" again");
        drop(client);
        assert!(read.read_chunk().await.unwrap().is_empty(), "end of stream");
    }
}
