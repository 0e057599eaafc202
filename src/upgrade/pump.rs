//! Moves a taken-over connection's bytes between its socket and its
//! session's `WebsocketContext`, holding no buffer of its own while idle.
//!
//! [`Reader`] is the context's input: each read lands in a stack buffer
//! and is handed on as a `Bytes` of exactly what arrived. [`Pump`] drives
//! the context (the actor runs inside its stream's poll) and writes what it
//! yields, and what hubs put in the connection's [`Outbox`], with vectored
//! writes, so a batch of frames is one system call. An outbox frame is
//! the hub's shared wire bytes, written uncopied. The
//! context is polled only when something woke it (its own waker sets a
//! flag), so a delivery does not also run the actor's timers and streams.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use actix_http::error::PayloadError;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::outbound::Meter;
use crate::outbox::{Outbox, Queued};

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

/// The context's input: the socket's bytes as they arrive.
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

/// The context's waker: notes that the context asked to be polled, and
/// wakes the pump's task.
struct Woken {
    flag: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The output side: a future that ends when the connection is done.
pub(crate) struct Pump<T, S> {
    write: Shared<T>,
    /// The session's `WebsocketContext` stream.
    frames: S,
    /// Set by the context's waker; the context is polled only then.
    woken: Arc<Woken>,
    /// `woken` as the waker the context is polled with.
    context_waker: Waker,
    /// Hub batches for this connection.
    outbox: Arc<Outbox>,
    /// The outbox's swapped-out queue (kept to reuse its allocation).
    spare: VecDeque<Queued>,
    /// Bytes yielded by the context and not yet taken by the socket.
    queue: VecDeque<Bytes>,
    /// The context has ended: flush, shut down, done.
    ended: bool,
    meter: Arc<Meter>,
    close_timeout: Duration,
    /// Started when the context ends with bytes still queued.
    linger: Option<Pin<Box<Sleep>>>,
}

impl<T, S> Pump<T, S> {
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
        let woken = Arc::new(Woken {
            flag: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Pump {
            write,
            frames,
            context_waker: Waker::from(woken.clone()),
            woken,
            outbox,
            spare: VecDeque::new(),
            queue: VecDeque::from([first]),
            ended: false,
            meter,
            close_timeout,
            linger: None,
        }
    }

    /// Polls the session's context until it waits, queueing what it
    /// writes; when it ends, the outbox closes (what hubs still push is
    /// dropped).
    fn run_context<E>(&mut self)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut inner = Context::from_waker(&self.context_waker);
        while !self.ended {
            match Pin::new(&mut self.frames).poll_next(&mut inner) {
                Poll::Ready(Some(Ok(bytes))) => {
                    if !bytes.is_empty() {
                        self.queue.push_back(bytes);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    log::debug!("websocket output ended: {e}");
                    self.ended = true;
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => return,
            }
        }
        self.outbox.close();
    }

    /// Queues the outbox's frames (shared, already in wire form).
    fn take_outbox(&mut self, cx: &Context<'_>) {
        let queue = &mut self.queue;
        self.outbox
            .drain(cx, &mut self.spare, |frame| queue.push_back(frame.clone()));
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
        // Run the session if it asked to be: whatever it writes joins the
        // queue first (its `server-join` goes before any hub batch). The
        // task's waker is registered before the flag is read, so a wake-up
        // after the read is not lost.
        this.woken.task.register(cx.waker());
        if !this.ended && this.woken.flag.swap(false, Ordering::Acquire) {
            this.run_context();
        }
        if !this.ended {
            this.take_outbox(cx);
        }
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
        if !this.ended {
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
