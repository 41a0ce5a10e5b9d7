//! Requests made from an instance's call thread, waiting for the JS thread.
//!
//! A `request` host call made during an asynchronous call cannot be answered
//! by the dispatcher's return value: the host's `request` returns a promise,
//! and the JS thread must not wait for it. So the call thread takes a ticket
//! here before it asks the JS thread, the dispatcher starts the request and
//! returns at once, and when the promise settles the JS side hands the answer
//! to `completeRequest(ticket, …)`, which wakes the call thread. The call
//! thread waits in slices, so a dispose (the stop flag) or the call's deadline
//! ends the wait as it ends any host call; the ticket is then withdrawn and a
//! late answer is dropped. The JS side's request timeout always settles the
//! promise, so it releases the call thread too.

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// An answer as the JS side hands it over: the bytes, or a `request-error` code.
pub type Answer = Result<Vec<u8>, u32>;

static NEXT: AtomicU32 = AtomicU32::new(1);

/// Outstanding calls of call threads waiting for the JS thread, by ticket: `W` is what the answering side needs
/// (at least the sender of the answer). Shared by requests (here) and app-interface calls (iface.rs).
pub struct Tickets<W>(OnceLock<Mutex<HashMap<u32, W>>>);

impl<W> Tickets<W> {
    pub const fn new() -> Tickets<W> {
        Tickets(OnceLock::new())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, W>> {
        self.0.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new ticket (never 0: 0 tells the dispatcher the call is synchronous), its entry made from the answer's sender.
    pub fn take<A>(&'static self, entry: impl FnOnce(mpsc::SyncSender<A>) -> W) -> Ticket<A, W> {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut map = self.lock();
        let id = loop {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !map.contains_key(&id) {
                break id;
            }
        };
        map.insert(id, entry(tx));
        Ticket { id, rx, table: self }
    }

    /// The entry of `ticket`, withdrawn; None when nobody waits any more.
    pub fn remove(&self, ticket: u32) -> Option<W> {
        self.lock().remove(&ticket)
    }
}

static REQUESTS: Tickets<mpsc::SyncSender<Answer>> = Tickets::new();

/// One outstanding call of a call thread; withdrawn when dropped.
pub struct Ticket<A = Answer, W: 'static = mpsc::SyncSender<Answer>> {
    pub id: u32,
    rx: mpsc::Receiver<A>,
    table: &'static Tickets<W>,
}

/// Why a wait ended without an answer.
pub enum NoAnswer {
    Stopped,
    Deadline,
}

impl Ticket {
    /// A new request ticket.
    pub fn take() -> Ticket {
        REQUESTS.take(|tx| tx)
    }
}

impl<A, W> Ticket<A, W> {
    /// Wait for the answer, looking at `stop` and `deadline` every `slice`.
    pub fn wait(&self, stop: &AtomicBool, deadline: Option<Instant>, slice: Duration) -> Result<A, NoAnswer> {
        loop {
            let wait = match deadline {
                Some(at) => at.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(1), slice),
                None => slice,
            };
            match self.rx.recv_timeout(wait) {
                Ok(answer) => return Ok(answer),
                // Only the completing side sends, and the sender lives in the table until then.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(NoAnswer::Stopped),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::Relaxed) {
                        return Err(NoAnswer::Stopped);
                    }
                    if deadline.is_some_and(|at| Instant::now() >= at) {
                        return Err(NoAnswer::Deadline);
                    }
                }
            }
        }
    }
}

impl<A, W> Drop for Ticket<A, W> {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

/// Hand the answer of request `ticket` to the call thread waiting for it:
/// `code` -1 with the answer's bytes, or a `request-error` code. Returns
/// false when nobody waits any more (the call ended: disposed, past its
/// deadline), and the answer is dropped.
#[napi]
pub fn complete_request(ticket: u32, code: i32, answer: Option<Uint8Array>) -> bool {
    let Some(tx) = REQUESTS.remove(ticket) else {
        return false;
    };
    let answer = match u32::try_from(code) {
        Ok(code) => Err(code),
        Err(_) => Ok(answer.map(|a| a.to_vec()).unwrap_or_default()),
    };
    tx.try_send(answer).is_ok()
}
