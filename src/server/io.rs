//! What a webhook connection reads and writes through, under actix's HTTP
//! code: the socket in [`ReadAhead`], TLS, then [`Coalesced`], which on
//! HTTP/2 gathers a response's frames so that they leave as one TLS record in
//! one system call.
//!
//! Why [`ReadAhead`]: rustls asks for 4 KiB at a time, so a 10 KB review
//! took three `recvfrom` calls; reading up to a whole TLS record at once
//! takes one.
//!
//! Why [`Coalesced`]: actix's HTTP/2 dispatcher sends a response as
//! HEADERS, DATA and an empty DATA frame that ends the stream, and h2
//! flushes the connection before it queues a frame after a DATA frame over
//! 256 bytes, so each review cost two TLS records and `writev` calls, each
//! waking the client. When what it holds ends in a DATA frame whose stream
//! is still open, [`Coalesced`] answers the flush by yielding once: h2 is
//! polled again straight away, queues the end of the stream, and flushes
//! again.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::rt::net::{ActixStream, Ready, TcpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest TLS record (16 KiB of data and 256 bytes of overhead, plus
/// the 5-byte header): what [`ReadAhead`] asks the socket for.
const READ_AHEAD_BYTES: usize = 16 * 1024 + 256 + 5;

/// A TCP stream read [`READ_AHEAD_BYTES`] at a time into a buffer the
/// connection keeps (allocated at its first read), whatever size its
/// reader asks for; writes pass straight through. Kept, not let go while
/// the connection waits: a fresh buffer is zeroed, and that cost more than
/// the system calls it saves (callgrind: 480k -> 585k instructions per
/// HTTP/2 review).
pub(crate) struct ReadAhead {
    socket: TcpStream,
    buf: Vec<u8>,
    /// The unread part of `buf`.
    start: usize,
    end: usize,
}

impl ReadAhead {
    pub(crate) fn new(socket: TcpStream) -> Self {
        ReadAhead {
            socket,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            if this.buf.is_empty() {
                this.buf = vec![0; READ_AHEAD_BYTES];
            }
            let mut ahead = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.socket).poll_read(cx, &mut ahead))?;
            this.start = 0;
            this.end = ahead.filled().len();
        }
        let n = out.remaining().min(this.end - this.start);
        out.put_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

impl ActixStream for ReadAhead {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        if self.start < self.end {
            return Poll::Ready(Ok(Ready::READABLE));
        }
        ActixStream::poll_read_ready(&self.socket, cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        ActixStream::poll_write_ready(&self.socket, cx)
    }
}

/// Bytes [`Coalesced`] holds before it writes them on without a flush: a
/// TLS record's worth, so a bigger response still goes out in full records.
const HOLD_BYTES: usize = 16 * 1024;

/// Room kept between responses; a connection that wrote more gives the rest
/// back when its writes are out, so idle connections stay small.
const KEEP_BYTES: usize = 4 * 1024;

/// A stream whose writes, when it holds them (HTTP/2 frames), wait in
/// memory until the writer flushes, and for one more flush when they end in
/// an open stream's DATA frame, or until [`HOLD_BYTES`] are waiting. Reads,
/// and writes when it does not hold them, pass straight through.
pub(crate) struct Coalesced<T> {
    inner: T,
    /// Whether writes are held at all (HTTP/2; HTTP/1.1 writes a response
    /// in one piece anyway).
    hold: bool,
    held: Vec<u8>,
    /// How much of `held` has already been written to `inner`.
    written: usize,
    /// A flush of what is held has yielded once (only once in a row).
    yielded: bool,
}

impl<T> Coalesced<T> {
    pub(crate) fn new(inner: T, hold: bool) -> Self {
        Coalesced {
            inner,
            hold,
            held: Vec::new(),
            written: 0,
            yielded: false,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> Coalesced<T> {
    /// Writes everything held to `inner`.
    fn poll_write_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.held.clear();
        self.written = 0;
        self.yielded = false;
        if self.held.capacity() > KEEP_BYTES {
            self.held = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Makes room for `len` more bytes; `true` when they are better written
    /// straight through (they would fill the hold on their own).
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.held.len() + len > HOLD_BYTES {
            ready!(self.poll_write_held(cx))?;
        }
        Poll::Ready(Ok(len >= HOLD_BYTES))
    }
}

/// Whether `frames` (HTTP/2 frames, whole from the first byte) end with a
/// DATA frame that does not end its stream: the frame that ends it is on
/// its way. Anything else held (a whole response, a WINDOW_UPDATE, a PING
/// answer) has nothing to wait for. A wrong answer costs one write or one
/// poll, never a byte.
fn ends_in_open_data(frames: &[u8]) -> bool {
    const DATA: u8 = 0x0;
    const END_STREAM: u8 = 0x1;
    let mut at = 0;
    let mut last = None;
    while let Some(&[l0, l1, l2, kind, flags, ..]) = frames.get(at..at + 9) {
        last = Some((kind, flags));
        at += 9 + (usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2));
    }
    at == frames.len() && matches!(last, Some((DATA, flags)) if flags & END_STREAM == 0)
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesced<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.hold || ready!(this.poll_room(cx, buf.len()))? {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = bufs.iter().map(|b| b.len()).sum();
        if !this.hold || ready!(this.poll_room(cx, len))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        for buf in bufs {
            this.held.extend_from_slice(buf);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        self.hold || self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.yielded && ends_in_open_data(&this.held) {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(this.poll_write_held(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_held(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesced<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Records every write it is given, as one entry each; `1` set: takes
    /// none, as a socket whose client does not read.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>, bool);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.1 {
                return Poll::Pending;
            }
            self.get_mut().0.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn write(c: &mut Coalesced<Writes>, cx: &mut Context<'_>, bytes: &[u8]) {
        let written = Pin::new(c).poll_write(cx, bytes);
        assert!(matches!(written, Poll::Ready(Ok(n)) if n == bytes.len()));
    }

    #[test]
    fn held_writes_leave_in_one_piece_at_the_second_flush() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut c = Coalesced::new(Writes::default(), true);
        let headers = frame(0x1, 0x4, 20);
        let mut data_head = frame(0x0, 0x0, 300);
        let data = data_head.split_off(9);
        let end = frame(0x0, 0x1, 0);
        write(&mut c, &mut cx, &headers);
        // h2 writes a big DATA frame as its header and its payload.
        let vectored = [io::IoSlice::new(&data_head), io::IoSlice::new(&data)];
        let written = Pin::new(&mut c).poll_write_vectored(&mut cx, &vectored);
        assert!(matches!(written, Poll::Ready(Ok(309))));
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_pending());
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the yield wakes its task"
        );
        assert!(
            c.get_ref().0.is_empty(),
            "nothing written at the first flush"
        );
        write(&mut c, &mut cx, &end);
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_ready());
        assert_eq!(c.get_ref().0, [[headers, data_head, data, end].concat()]);
        // Nothing held, or nothing to wait for: a flush writes at once.
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_ready());
        let window_update = frame(0x8, 0x0, 4);
        write(&mut c, &mut cx, &window_update);
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_ready());
        assert_eq!(c.get_ref().0.len(), 2);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    }

    /// An HTTP/2 frame of `kind` with `flags` and `len` bytes of payload.
    fn frame(kind: u8, flags: u8, len: usize) -> Vec<u8> {
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.resize(9 + len, 0xab);
        f
    }

    #[test]
    fn only_an_open_data_frame_at_the_end_is_waited_for() {
        let open = frame(0x0, 0x0, 10);
        let ended = frame(0x0, 0x1, 10);
        assert!(ends_in_open_data(&open));
        assert!(ends_in_open_data(
            &[frame(0x1, 0x4, 5), open.clone()].concat()
        ));
        assert!(!ends_in_open_data(&[open.clone(), ended].concat()));
        assert!(!ends_in_open_data(&frame(0x8, 0x0, 4)));
        assert!(!ends_in_open_data(&open[..12]), "a frame cut short");
        assert!(!ends_in_open_data(b""));
    }

    #[test]
    fn writes_not_held_or_too_big_to_hold_pass_straight_through() {
        let waker = Waker::from(Arc::new(Wakes::default()));
        let mut cx = Context::from_waker(&waker);
        let mut plain = Coalesced::new(Writes::default(), false);
        write(&mut plain, &mut cx, b"one");
        write(&mut plain, &mut cx, b"two");
        assert_eq!(plain.get_ref().0, [b"one".to_vec(), b"two".to_vec()]);

        let mut held = Coalesced::new(Writes::default(), true);
        write(&mut held, &mut cx, b"small");
        let big = vec![7u8; HOLD_BYTES];
        write(&mut held, &mut cx, &big);
        assert_eq!(
            held.get_ref().0,
            [b"small".to_vec(), big],
            "in order, the held first"
        );
        assert!(held.held.is_empty());
    }

    #[test]
    fn a_client_that_does_not_read_holds_at_most_hold_bytes() {
        let waker = Waker::from(Arc::new(Wakes::default()));
        let mut cx = Context::from_waker(&waker);
        let mut c = Coalesced::new(Writes(Vec::new(), true), true);
        let frame = [1u8; 1000];
        let mut taken = 0;
        while Pin::new(&mut c).poll_write(&mut cx, &frame).is_ready() {
            taken += frame.len();
            assert!(taken <= HOLD_BYTES, "took {taken} bytes it cannot write");
        }
        assert!(c.held.len() <= HOLD_BYTES);
        assert!(Pin::new(&mut c).poll_flush(&mut cx).is_pending());
        assert!(
            Pin::new(&mut c).poll_flush(&mut cx).is_pending(),
            "still blocked"
        );
        assert!(Pin::new(&mut c).poll_shutdown(&mut cx).is_pending());
    }

    #[tokio::test]
    async fn small_reads_take_a_whole_record_from_the_socket_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let mut server = ReadAhead::new(socket);
        let sent: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&sent).await.unwrap();
        // Loopback delivers as it sends; the pause only makes sure.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut first = [0u8; 4096];
        assert_eq!(server.read(&mut first).await.unwrap(), 4096);
        assert_eq!(
            server.end,
            sent.len(),
            "one read from the socket took it all"
        );
        let waker = Waker::from(Arc::new(Wakes::default()));
        let mut cx = Context::from_waker(&waker);
        assert!(
            server.poll_read_ready(&mut cx).is_ready(),
            "buffered data counts as readable though the socket may have none"
        );
        let mut received = first.to_vec();
        let mut rest = vec![0u8; sent.len() - 4096];
        server.read_exact(&mut rest).await.unwrap();
        received.extend_from_slice(&rest);
        assert_eq!(received, sent);
        let mut more = ReadBuf::new(&mut first);
        assert!(Pin::new(&mut server)
            .poll_read(&mut cx, &mut more)
            .is_pending());
        drop(client);
        assert_eq!(server.read(&mut first).await.unwrap(), 0, "end of stream");
    }
}
