//! Moves a taken-over connection's bytes between its socket and its
//! session's `WebsocketContext`, holding no buffer of its own while idle.
//!
//! [`Reader`] is the input of the session's frame parser
//! (`crate::wire::inbound`): each read lands in a stack buffer
//! and is handed on as a `Bytes` of exactly what arrived. [`Pump`] writes
//! what the session's [`Outgoing`] yields (the actor runs inside it) with
//! vectored writes, so a batch of frames is one system call. An outbox
//! frame is the hub's shared wire bytes, written uncopied.
//! While the socket is full it keeps polling the context, so the session
//! still handles evictions and timers; the frames it produces wait in a
//! queue that the session's `Meter` counts (bytes leave the meter only when
//! the socket takes them), which is what the hub's backlog limit reads.
//! When the context ends (the session closed), the rest is flushed, the
//! write side is shut down (FIN, or TLS close_notify first), and the
//! connection closes; a peer that reads nothing more is dropped after
//! `close_timeout`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::wire::outbound::Meter;
use crate::wire::outbox::Outbox;
use crate::ws::outgoing::Outgoing;

/// Largest single read; client frames are small, and a big one simply
/// takes several reads.
const READ_CHUNK: usize = 4096;

/// Frames gathered into one vectored write at most.
const MAX_SLICES: usize = 64;

/// The connection, shared by its [`Reader`] and its [`Pump`]. Both run on
/// the connection's thread and never inside each other's borrow: the
/// reader is polled from the context's stream, which the pump polls before
/// it borrows the socket to write.
pub(crate) type Shared<T> = Rc<RefCell<T>>;

/// The frame parser's input: the socket's bytes as they arrive.
pub(crate) struct Reader<T> {
    read: Shared<T>,
    /// Bytes that came with the request, delivered first.
    early: Option<Bytes>,
    done: bool,
}

impl<T> Reader<T> {
    pub(crate) fn new(read: Shared<T>, early: Option<Bytes>) -> Self {
        Reader {
            read,
            early,
            done: false,
        }
    }
}

impl<T: AsyncRead + Unpin> Stream for Reader<T> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(early) = self.early.take() {
            return Poll::Ready(Some(Ok(early)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        // Not zeroed: the context polls its input on every wake-up (each
        // delivery), and clearing 4 KiB each time showed in profiles.
        let mut buf = [const { MaybeUninit::<u8>::uninit() }; READ_CHUNK];
        let mut filled = ReadBuf::uninit(&mut buf);
        let polled = Pin::new(&mut *self.read.borrow_mut()).poll_read(cx, &mut filled);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) if filled.filled().is_empty() => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(filled.filled())))),
            Poll::Ready(Err(e)) => {
                self.done = true;
                Poll::Ready(Some(Err(PayloadError::Io(e))))
            }
        }
    }
}

/// The output side: a future that ends when the connection is done.
pub(crate) struct Pump<T, S> {
    write: Shared<T>,
    /// The session's context and outbox.
    out: Outgoing<S>,
    /// Bytes ready and not yet taken by the socket.
    queue: VecDeque<Bytes>,
    meter: Arc<Meter>,
    close_timeout: Duration,
    /// Started when the context ends with bytes still queued.
    linger: Option<Pin<Box<Sleep>>>,
}

impl<T, S, E> Pump<T, S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// `first` (the handshake response) is written before any frame, and
    /// metered like them.
    pub(crate) fn new(
        write: Shared<T>,
        frames: S,
        first: Bytes,
        meter: Arc<Meter>,
        outbox: Arc<Outbox>,
        close_timeout: Duration,
    ) -> Self {
        meter.add(first.len() as u64);
        Pump {
            write,
            out: Outgoing::new(frames, outbox),
            queue: VecDeque::from([first]),
            meter,
            close_timeout,
            linger: None,
        }
    }

    /// Drops `n` written bytes from the front of the queue.
    fn advance(&mut self, mut n: usize) {
        self.meter.taken(n);
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.queue.pop_front();
            } else {
                *front = front.slice(n..);
                n = 0;
            }
        }
    }
}

impl<T, S, E> Future for Pump<T, S>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.out.fill(cx, &mut this.queue);
        while !this.queue.is_empty() {
            let written = {
                let mut io = this.write.borrow_mut();
                let io = Pin::new(&mut *io);
                if this.queue.len() == 1 {
                    // One frame (an idle viewer's usual case): a plain write.
                    io.poll_write(cx, &this.queue[0])
                } else {
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let mut count = 0;
                    for (slot, bytes) in slices.iter_mut().zip(this.queue.iter()) {
                        *slot = IoSlice::new(bytes);
                        count += 1;
                    }
                    io.poll_write_vectored(cx, &slices[..count])
                }
            };
            match written {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(n)) => this.advance(n),
                Poll::Pending => break,
            }
        }
        if !this.out.ended() {
            return Poll::Pending;
        }
        if this.queue.is_empty() {
            // FIN (after TLS's close_notify); errors mean it is closed anyway.
            let mut io = this.write.borrow_mut();
            return Pin::new(&mut *io).poll_shutdown(cx).map(|_| ());
        }
        let timeout = this.close_timeout;
        let linger = this
            .linger
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        linger.as_mut().poll(cx)
    }
}
