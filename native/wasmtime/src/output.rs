//! The plugin's log: `host.log` calls and stdio, routed to the host's logger.
//!
//! Entries are buffered in order during a call and handed to JS when the call
//! returns (or faults). That keeps `log` off the thread-safe-function path and
//! preserves the order of `log` and `printf` output. The buffer is bounded:
//! past the caps, entries are counted and dropped, never allocated.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

pub const LEVEL_INFO: u8 = 1;
pub const LEVEL_WARN: u8 = 2;

const MAX_ENTRIES: usize = 1024;
const MAX_BYTES: usize = 1 << 20;
/// A stdio line longer than this is split.
const MAX_LINE: usize = 16 * 1024;

#[derive(Default)]
pub struct LogBuffer {
    entries: Vec<(u8, String)>,
    bytes: usize,
    dropped: u64,
    partial: [Vec<u8>; 2],
}

impl LogBuffer {
    pub fn push(&mut self, level: u8, message: String) {
        if self.entries.len() >= MAX_ENTRIES || self.bytes + message.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.entries.push((level, message));
    }

    fn write_stdio(&mut self, which: usize, mut bytes: &[u8]) {
        let level = if which == 0 { LEVEL_INFO } else { LEVEL_WARN };
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[which]);
            line.extend_from_slice(&bytes[..nl]);
            self.push(level, String::from_utf8_lossy(&line).into_owned());
            bytes = &bytes[nl + 1..];
        }
        let partial = &mut self.partial[which];
        let room = MAX_LINE.saturating_sub(partial.len());
        partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if partial.len() >= MAX_LINE {
            let line = std::mem::take(partial);
            self.push(level, String::from_utf8_lossy(&line).into_owned());
        }
    }

    /// Flush unterminated stdio lines (at the end of each call).
    pub fn flush_partial(&mut self) {
        for which in 0..2 {
            if !self.partial[which].is_empty() {
                let line = std::mem::take(&mut self.partial[which]);
                let level = if which == 0 { LEVEL_INFO } else { LEVEL_WARN };
                self.push(level, String::from_utf8_lossy(&line).into_owned());
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.entries.len() + usize::from(self.dropped > 0)
    }

    /// Everything buffered, oldest first, and how many entries were dropped
    /// (past the caps) since the last take; the TS side counts those in the
    /// plugin's `logsDropped` metric.
    pub fn take(&mut self) -> (Vec<(u8, String)>, u64) {
        let out = std::mem::take(&mut self.entries);
        let dropped = std::mem::take(&mut self.dropped);
        self.bytes = 0;
        (out, dropped)
    }
}

/// The buffer, and a flag that spares the hot path a lock when a call logged nothing.
#[derive(Default)]
pub struct LogShared {
    dirty: AtomicBool,
    buf: Mutex<LogBuffer>,
}

impl LogShared {
    pub fn lock(&self) -> MutexGuard<'_, LogBuffer> {
        self.dirty.store(true, Ordering::Relaxed);
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a call: flush partial stdio lines and return the pending count,
    /// or `None` when nothing was written since the last check.
    pub fn settle(&self) -> Option<usize> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return None;
        }
        let mut b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        b.flush_partial();
        Some(b.pending())
    }
}

pub type SharedLog = Arc<LogShared>;

/// `wasi:cli/stdout` or `stderr`, writing into the plugin's log.
#[derive(Clone)]
pub struct LogPipe {
    log: SharedLog,
    which: usize,
}

impl LogPipe {
    pub fn stdout(log: SharedLog) -> LogPipe {
        LogPipe { log, which: 0 }
    }
    pub fn stderr(log: SharedLog) -> LogPipe {
        LogPipe { log, which: 1 }
    }
    fn write_bytes(&self, bytes: &[u8]) {
        self.log.lock().write_stdio(self.which, bytes);
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
