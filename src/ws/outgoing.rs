//! `Outgoing`: everything a session sends, in the order it must leave, for
//! whichever writer serves its connection.
//!
//! A session's bytes come from two places: its [`Outbox`] (its own text
//! frames and its hubs' batches, already in wire form) and its
//! `WebsocketContext` (pings, pongs and the Close frame, which the context
//! encodes). [`Outgoing::fill`] runs the context when it asked to be run,
//! then takes the outbox's frames, then the context's: a text frame the
//! session queued while handling a message goes out before the Close it
//! sent after it, and a hub batch never overtakes the `server-join`
//! (queued before the session registers with the hub). When the context
//! ends, the outbox is closed (hub batches still waiting are dropped; the
//! session's own frames are not).
//!
//! The connection's pump (`crate::ws::upgrade`) writes what it yields to
//! the socket. The context is polled only when its own waker fired, so a hub delivery
//! does not also poll the actor's timers and streams.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::Stream;

use crate::wire::outbox::{Outbox, Queued};

/// The context's waker: notes that the context asked to be polled, and
/// wakes the writer's task.
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

/// A session's outgoing bytes: its context and its outbox.
pub(crate) struct Outgoing<S> {
    /// The session's `WebsocketContext` stream.
    frames: S,
    /// Set by the context's waker; the context is polled only then.
    woken: Arc<Woken>,
    /// `woken` as the waker the context is polled with.
    context_waker: Waker,
    outbox: Arc<Outbox>,
    /// The outbox's swapped-out queue (kept to reuse its allocation).
    spare: VecDeque<Queued>,
    /// The context has ended: nothing more will come.
    ended: bool,
}

impl<S, E> Outgoing<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub(crate) fn new(frames: S, outbox: Arc<Outbox>) -> Self {
        let woken = Arc::new(Woken {
            flag: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Outgoing {
            frames,
            context_waker: Waker::from(woken.clone()),
            woken,
            outbox,
            spare: VecDeque::new(),
            ended: false,
        }
    }

    /// The context has ended and everything it and the outbox had is out.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Appends to `queue` what is ready to go, in order, and registers
    /// `cx` to be woken when more is.
    pub(crate) fn fill(&mut self, cx: &Context<'_>, queue: &mut VecDeque<Bytes>) {
        if self.ended {
            return;
        }
        // Registered before the flag is read, so a wake-up after the read
        // is not lost.
        self.woken.task.register(cx.waker());
        let mut control = Vec::new();
        if self.woken.flag.swap(false, Ordering::Acquire) {
            self.run_context(&mut control);
        }
        if self.ended {
            self.outbox.close();
        }
        self.outbox
            .drain(cx, &mut self.spare, |chunk| queue.push_back(chunk.clone()));
        queue.extend(control);
    }

    /// Polls the session's context until it waits or ends, keeping what
    /// it writes (control frames).
    fn run_context(&mut self, control: &mut Vec<Bytes>) {
        let mut inner = Context::from_waker(&self.context_waker);
        while !self.ended {
            match Pin::new(&mut self.frames).poll_next(&mut inner) {
                Poll::Ready(Some(Ok(bytes))) => {
                    if !bytes.is_empty() {
                        control.push(bytes);
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
    }
}
