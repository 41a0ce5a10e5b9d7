//! The conformance plugin: exactly guest-sdks/CONFORMANCE.md, in Rust.
use std::cell::RefCell;
use std::sync::atomic::{AtomicI32, Ordering};

use plughost::{Level, Plugin, RegisterError, UNHANDLED};

const CALLBACKS: [&str; 20] = [
    "echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric",
    "request", "message", "state", "context", "config", "remember", "recall",
];

static COUNTER: AtomicI32 = AtomicI32::new(0);

thread_local! {
    // What `grow` allocated, kept alive so the linear memory stays grown.
    static GROWN: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    // What `remember` kept: the snapshot, and what `restore` sets.
    static REMEMBERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    // The configuration received last (init's, then on-config-changed's).
    static CONFIG: RefCell<String> = const { RefCell::new(String::new()) };
}

struct Conformance;

impl Plugin for Conformance {
    fn init(api_version: &str, config: &str) -> i32 {
        if config.contains("\"fail-init\":true") {
            return -1;
        }
        if !api_version.starts_with("0.") {
            return -2;
        }
        CONFIG.with(|c| *c.borrow_mut() = config.to_string());
        plughost::info!("conformance init {api_version}");
        if CALLBACKS.iter().all(|name| plughost::register_callback(name).is_ok()) {
            0
        } else {
            -3
        }
    }

    fn teardown() -> i32 {
        plughost::info!("conformance teardown");
        0
    }

    fn on_suspend() -> i32 {
        plughost::info!("conformance suspended");
        0
    }

    fn on_resume() -> i32 {
        plughost::info!("conformance resumed");
        0
    }

    fn on_config_changed(config: &str) -> i32 {
        if config.contains("\"reject-change\":true") {
            plughost::info!("conformance config rejected");
            return 1;
        }
        CONFIG.with(|c| *c.borrow_mut() = config.to_string());
        plughost::info!("conformance config changed");
        0
    }

    fn snapshot() -> Vec<u8> {
        REMEMBERED.with(|r| r.borrow().clone())
    }

    fn restore(data: Vec<u8>) -> i32 {
        plughost::info!("conformance restored {}", data.len());
        REMEMBERED.with(|r| *r.borrow_mut() = data);
        0
    }

    fn on_event(name: &str, data: &[u8]) -> i32 {
        match name {
            "echo" => data.len() as i32,
            "sum" => (data.iter().map(|&b| u64::from(b)).sum::<u64>() % (1 << 31)) as i32,
            "fail" => -7,
            "log" => {
                let message = String::from_utf8_lossy(data);
                for level in [Level::Debug, Level::Info, Level::Warn, Level::Error] {
                    plughost::log(level, &message);
                }
                0
            }
            "register" => match plughost::register_callback(&String::from_utf8_lossy(data)) {
                Ok(()) => 0,
                Err(RegisterError::InvalidName) => 1,
                Err(RegisterError::LimitReached) => 2,
                Err(RegisterError::Denied) => 3,
            },
            // A panic is this SDK's trap: the build aborts on panic, which is `unreachable`.
            "trap" => panic!("conformance: trap requested"),
            "spin" => spin(),
            "grow" => grow(data),
            "read-file" => match std::fs::read(String::from_utf8_lossy(data).as_ref()) {
                Ok(_) => 0,
                Err(_) => 1,
            },
            "emit" => {
                let event = String::from_utf8_lossy(data);
                match plughost::emit(&event, data) {
                    Ok(count) => count as i32,
                    Err(e) => -1 - i32::from(e.code()),
                }
            }
            "counter" => COUNTER.fetch_add(1, Ordering::Relaxed) + 1,
            "metric" => {
                let value = String::from_utf8_lossy(data);
                match plughost::define_metric(plughost::MetricKind::Counter, "conformance_bytes_total", "bytes seen by the metric event", &["event"])
                    .and_then(|m| m.record(data.len() as f64, &[&value]))
                {
                    Ok(()) => 0,
                    Err(e) => -1 - i32::from(e.code()),
                }
            }
            "request" => match request(data) {
                Some(Ok(answer)) => answer.len() as i32,
                Some(Err(code)) => code,
                None => UNHANDLED,
            },
            "message" => match envelope() {
                Some(text) => {
                    plughost::info!("{text}");
                    0
                }
                None => 1,
            },
            "remember" => {
                REMEMBERED.with(|r| *r.borrow_mut() = data.to_vec());
                data.len() as i32
            }
            _ => UNHANDLED,
        }
    }

    fn on_hook(name: &str, mut data: Vec<u8>) -> Result<Vec<u8>, i32> {
        match name {
            "echo" => Ok(data),
            "upper" => {
                data.make_ascii_uppercase();
                Ok(data)
            }
            "fail" => Err(-7),
            "request" => request(&data).unwrap_or(Err(UNHANDLED)),
            "message" => envelope().map(String::into_bytes).ok_or(1),
            "state" => state(&data),
            "context" => context(&data),
            "config" => Ok(CONFIG.with(|c| c.borrow().clone().into_bytes())),
            "recall" => Ok(REMEMBERED.with(|r| r.borrow().clone())),
            _ => Err(UNHANDLED),
        }
    }
}

/// `data` is `<target>\n<event>\n<payload>`: the answer, or `-1 - request-error
/// code`; `None` when `data` has fewer than two newlines.
fn request(data: &[u8]) -> Option<Result<Vec<u8>, i32>> {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (target, event, payload) = (parts.next()?, parts.next()?, parts.next()?);
    let (target, event) = (String::from_utf8_lossy(target), String::from_utf8_lossy(event));
    Some(plughost::request(&target, &event, payload, 0).map_err(|e| -1 - i32::from(e.code())))
}

fn state_err(e: plughost::StateError) -> i32 {
    -1 - i32::from(e.code())
}

fn yes_no(b: bool) -> Vec<u8> {
    (if b { "true" } else { "false" }).as_bytes().to_vec()
}

/// CONFORMANCE.md's `state` hook: `<op>\n<key>[\n<args>]`.
fn state(data: &[u8]) -> Result<Vec<u8>, i32> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (op, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => return Err(UNHANDLED),
    };
    let split2 = |b: &[u8]| b.iter().position(|&c| c == b'\n').map(|i| (b[..i].to_vec(), b[i + 1..].to_vec()));
    use plughost::state;
    match op {
        b"get" => match state::get(&text(rest)) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(1),
            Err(e) => Err(state_err(e)),
        },
        b"set" => {
            let (key, value) = split2(rest).ok_or(UNHANDLED)?;
            state::set(&text(&key), &value).map(|()| Vec::new()).map_err(state_err)
        }
        b"delete" => state::delete(&text(rest)).map(yes_no).map_err(state_err),
        b"exists" => state::exists(&text(rest)).map(yes_no).map_err(state_err),
        b"incr" => {
            let (key, delta) = split2(rest).ok_or(UNHANDLED)?;
            let delta: i64 = text(&delta).parse().map_err(|_| UNHANDLED)?;
            state::increment(&text(&key), delta).map(|n| n.to_string().into_bytes()).map_err(state_err)
        }
        b"cas" => {
            let (key, rest) = split2(rest).ok_or(UNHANDLED)?;
            let (expected, value) = split2(&rest).ok_or(UNHANDLED)?;
            let expected = match expected.split_first() {
                Some((b'-', [])) => None,
                Some((b'=', tail)) => Some(tail),
                _ => return Err(UNHANDLED),
            };
            state::compare_and_swap(&text(&key), expected, &value).map(yes_no).map_err(state_err)
        }
        b"list" => {
            let (limit, cursor) = split2(rest).ok_or(UNHANDLED)?;
            let limit: u32 = text(&limit).parse().map_err(|_| UNHANDLED)?;
            let cursor = text(&cursor);
            let page = state::list_keys(if cursor.is_empty() { None } else { Some(&cursor) }, limit).map_err(state_err)?;
            let mut out = String::new();
            for key in &page.keys {
                out.push_str(key);
                out.push('\n');
            }
            match &page.cursor {
                Some(c) => out.push_str(&format!("next {c}")),
                None => out.push_str("end"),
            }
            Ok(out.into_bytes())
        }
        _ => Err(UNHANDLED),
    }
}

/// CONFORMANCE.md's `context` hook: `<key>` reads, `<key>=<json>` writes.
fn context(data: &[u8]) -> Result<Vec<u8>, i32> {
    let text = String::from_utf8_lossy(data);
    let code = |e: plughost::ContextError| -1 - i32::from(e.code());
    match text.split_once('=') {
        Some((key, json)) => plughost::context::set(key, json).map(|()| Vec::new()).map_err(code),
        None => match plughost::context::get(&text) {
            Ok(Some(json)) => Ok(json.into_bytes()),
            Ok(None) => Err(1),
            Err(e) => Err(code(e)),
        },
    }
}

/// The current message as CONFORMANCE.md's envelope text.
fn envelope() -> Option<String> {
    let m = plughost::current_message()?;
    let mut lines = vec![format!("id {}", m.id)];
    if let Some(parent) = m.parent_id {
        lines.push(format!("parent {parent}"));
    }
    if let Some(source) = &m.source {
        lines.push(format!("source {source}"));
    }
    if let Some(target) = &m.target {
        lines.push(format!("target {target}"));
    }
    lines.push(format!("event {}", m.event_name));
    lines.push(format!("kind {}", m.kind.as_str()));
    lines.extend(m.metadata.iter().map(|(k, v)| format!("meta {k}={v}")));
    Some(lines.join("\n"))
}

/// Loop forever; `black_box` keeps the optimiser from proving the loop useless.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// `data` is a little-endian u32 count of MiB: allocate that much and keep it.
fn grow(data: &[u8]) -> i32 {
    let Some(mib) = data.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else {
        return 1;
    };
    let Some(bytes) = (mib as usize).checked_mul(1 << 20) else {
        return 1;
    };
    let mut block = Vec::new();
    // try_reserve reports the allocator's refusal (memory.grow failing)
    // instead of aborting.
    if block.try_reserve_exact(bytes).is_err() {
        return 1;
    }
    block.resize(bytes, 0);
    GROWN.with(|g| g.borrow_mut().push(block));
    0
}

plughost::export!(Conformance);
