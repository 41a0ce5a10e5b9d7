//! WASI preview 2 for one plugin, built from its effective capability set.
//!
//! Only the interfaces the capabilities cover are added to the linker, so a
//! component that imports anything else cannot be instantiated (the TS side
//! checks the imports first and names the missing capability). Within a
//! linked interface the context grants nothing beyond the capability: only
//! the granted directories, environment variables and peers.
//!
//! The filesystem's path-taking methods are linked over wasmtime-wasi's
//! (`add_fs_guard`): each path is bounded and paid for in fuel, a hard link
//! needs its source under a writable grant, and a symlink is created only
//! when its target points down inside its directory (issue 11), with every
//! refusal recorded as a capability violation, as on the v8 engine.

use crate::output::{LogPipe, SharedLog};
use crate::limits::Violation;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Linker, LinkerInstance, Resource};
use wasmtime::{StoreContextMut, Trap};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types as fs;
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings as p2;
use wasmtime_wasi::p2::bindings::sockets::{ip_name_lookup as lookup, network};
use wasmtime_wasi::p2::pipe::ClosedOutputStream;
use wasmtime_wasi::p2::SocketError;
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSockets, WasiSocketsCtxView, WasiSocketsView};
use wasmtime_wasi::{FsPerms, ResourceTable, WasiCtx, WasiCtxBuilder, WasiView};

/// The WASI part of a capability set, normalised by the TS side
/// (directories resolved to absolute paths, env values read from process.env).
#[derive(Clone, Debug, Default)]
pub struct WasiGrant {
    pub stdio: bool,
    pub clock: bool,
    pub random: bool,
    pub env: Vec<(String, String)>,
    /// (absolute directory, writable); mounted in the guest at the same path.
    pub dirs: Vec<(String, bool)>,
    /// `host:port` peers for `net:outbound:<host:port>`.
    pub net: Vec<String>,
}

impl WasiGrant {
    fn fs(&self) -> bool {
        !self.dirs.is_empty()
    }
    fn network(&self) -> bool {
        !self.net.is_empty()
    }
}

/// The context for one store. With `stdio`, stdout/stderr go to the plugin's
/// log; without it they are closed (every write fails), as on the v8 engine.
/// stdin is always empty.
pub fn build_ctx(grant: &WasiGrant, log: &SharedLog) -> wasmtime::Result<(WasiCtx, Arc<NetGuard>)> {
    let mut b = WasiCtxBuilder::new();
    b.args(&["plugin"]);
    for (k, v) in &grant.env {
        b.env(k, v);
    }
    if grant.stdio {
        b.stdout(LogPipe::stdout(log.clone()));
        b.stderr(LogPipe::stderr(log.clone()));
    } else {
        b.stdout(ClosedOutputStream);
        b.stderr(ClosedOutputStream);
    }
    for (dir, writable) in &grant.dirs {
        let perms = if *writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        b.preopened_dir(dir, dir, perms)
            .map_err(|e| wasmtime::format_err!("cannot open granted directory {dir}: {e}"))?;
    }
    // Network: nothing unless granted, and then only the named peers.
    b.allow_tcp(grant.network());
    b.allow_udp(grant.network());
    b.allow_ip_name_lookup(grant.network());
    let guard = Arc::new(NetGuard { rules: grant.net.iter().filter_map(|p| NetRule::parse(p)).collect(), learned: Mutex::default() });
    let check = guard.clone();
    b.socket_addr_check(move |addr, use_| {
        let ok = match use_ {
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => check.allows(&addr),
            // Implicit binds before a connect use the wildcard address.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        };
        Box::pin(async move { ok })
    });
    Ok((b.build(), guard))
}

/// One `net:outbound:<host>:<port>` grant. Named hosts (and IP literals) are
/// resolved once, when the plugin is instantiated. A host of `*` allows any
/// address. A `*.domain` host cannot be checked against an address: it
/// allows the addresses the plugin's own lookups of covered names returned
/// (`NetGuard::learned`), as on the v8 engine.
struct NetRule {
    /// Lower case; `*`, `*.domain` or a name/IP.
    host: String,
    addrs: Option<HashSet<IpAddr>>,
    port: Option<u16>,
}

impl NetRule {
    fn parse(peer: &str) -> Option<NetRule> {
        let (host, port) = peer.rsplit_once(':')?;
        let port = if port == "*" { None } else { Some(port.parse().ok()?) };
        let host = host.to_ascii_lowercase();
        if host == "*" || host.starts_with("*.") {
            return Some(NetRule { host, addrs: None, port });
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs = match bare.parse::<IpAddr>() {
            Ok(ip) => HashSet::from([ip.to_canonical()]),
            Err(_) => (bare, 0).to_socket_addrs().map(|a| a.map(|a| a.ip().to_canonical()).collect()).unwrap_or_default(),
        };
        Some(NetRule { host, addrs: Some(addrs), port })
    }

    /// Whether a lookup of `name` is covered (`*.example.com` covers
    /// `example.com` and `api.example.com`, like `covers` in capabilities.ts).
    fn covers_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(domain) => name == domain || name.ends_with(&format!(".{domain}")),
            None => name == bare || name.trim_start_matches('[').trim_end_matches(']') == bare,
        }
    }

    fn allows(&self, addr: &SocketAddr) -> bool {
        self.port.is_none_or(|p| p == addr.port())
            && match (&self.addrs, self.host.as_str()) {
                (_, "*") => true,
                (Some(h), _) => h.contains(&addr.ip().to_canonical()),
                (None, _) => false,
            }
    }
}

/// A plugin's network grants, shared by the socket address check and the
/// guarded name lookup.
pub struct NetGuard {
    rules: Vec<NetRule>,
    /// (address, port) pairs learned from lookups: an address a covered name
    /// resolved to, with the port of each grant covering that name.
    learned: Mutex<HashSet<(IpAddr, Option<u16>)>>,
}

impl NetGuard {
    fn allows(&self, addr: &SocketAddr) -> bool {
        if self.rules.iter().any(|r| r.allows(addr)) {
            return true;
        }
        let ip = addr.ip().to_canonical();
        let learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        learned.contains(&(ip, None)) || learned.contains(&(ip, Some(addr.port())))
    }

    /// The ports of the grants covering a lookup of `name`; empty: refuse the lookup.
    fn ports_for(&self, name: &str) -> Vec<Option<u16>> {
        self.rules.iter().filter(|r| r.covers_name(name)).map(|r| r.port).collect()
    }

    fn learn(&self, ip: IpAddr, ports: &[Option<u16>]) {
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        for p in ports {
            // Bounded by what lookups return; a plugin cannot grow it without resolving names.
            if learned.len() < 4096 {
                learned.insert((ip.to_canonical(), *p));
            }
        }
    }
}

/// `wasi:sockets/ip-name-lookup` over wasmtime-wasi's, refusing names no grant
/// covers (`access-denied`) and teaching the guard each address a lookup returns.
pub struct GuardedLookup<'a> {
    inner: WasiSocketsCtxView<'a>,
    guard: Arc<NetGuard>,
    /// The covering grants' ports per open resolve stream.
    streams: &'a mut HashMap<u32, Vec<Option<u16>>>,
}

/// What the store must give the guarded lookup.
pub trait NetGuarded: WasiView {
    fn net(&mut self) -> GuardedLookup<'_>;
}

impl<'a> GuardedLookup<'a> {
    pub fn new(inner: WasiSocketsCtxView<'a>, guard: Arc<NetGuard>, streams: &'a mut HashMap<u32, Vec<Option<u16>>>) -> Self {
        GuardedLookup { inner, guard, streams }
    }
}

struct HasLookup;

impl wasmtime::component::HasData for HasLookup {
    type Data<'a> = GuardedLookup<'a>;
}

// The lookup bindings need the network interface's host traits too; all delegated.
impl network::Host for GuardedLookup<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<network::ErrorCode> {
        network::Host::convert_error_code(&mut self.inner, error)
    }
    fn network_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<network::ErrorCode>> {
        network::Host::network_error_code(&mut self.inner, err)
    }
}

impl network::HostNetwork for GuardedLookup<'_> {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.inner, this)
    }
}

impl lookup::Host for GuardedLookup<'_> {
    fn resolve_addresses(&mut self, network: Resource<network::Network>, name: String) -> Result<Resource<lookup::ResolveAddressStream>, SocketError> {
        let ports = self.guard.ports_for(&name);
        if ports.is_empty() {
            return Err(network::ErrorCode::AccessDenied.into());
        }
        let stream = lookup::Host::resolve_addresses(&mut self.inner, network, name)?;
        if self.streams.len() < 1024 {
            self.streams.insert(stream.rep(), ports);
        }
        Ok(stream)
    }
}

impl lookup::HostResolveAddressStream for GuardedLookup<'_> {
    fn resolve_next_address(&mut self, stream: Resource<lookup::ResolveAddressStream>) -> Result<Option<network::IpAddress>, SocketError> {
        let rep = stream.rep();
        let next = lookup::HostResolveAddressStream::resolve_next_address(&mut self.inner, stream)?;
        if let (Some(addr), Some(ports)) = (&next, self.streams.get(&rep)) {
            let ip = match *addr {
                network::IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]),
                network::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::from([a, b, c, d, e, f, g, h]),
            };
            self.guard.learn(ip, ports);
        }
        Ok(next)
    }

    fn subscribe(&mut self, stream: Resource<lookup::ResolveAddressStream>) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        lookup::HostResolveAddressStream::subscribe(&mut self.inner, stream)
    }

    fn drop(&mut self, stream: Resource<lookup::ResolveAddressStream>) -> wasmtime::Result<()> {
        self.streams.remove(&stream.rep());
        lookup::HostResolveAddressStream::drop(&mut self.inner, stream)
    }
}

/// Add exactly the interfaces `grant` covers. `wasi:io`, `wasi:cli/exit` and
/// `wasi:cli/environment` carry no authority of their own and are always
/// linked (exit becomes `PluginExited`; the environment holds only granted
/// variables), matching the v8 engine. The stdio interfaces are always linked
/// too: without `stdio` the context holds closed streams (`build_ctx`), the
/// shared table's `inertWithoutGrant`, because the preview1 adapter imports
/// stderr even in plugins that never print.
pub fn add_to_linker<T: NetGuarded + FsGuarded + Ledgered + 'static>(linker: &mut Linker<T>, grant: &WasiGrant) -> wasmtime::Result<()> {
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    p2::sync::io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    p2::sync::io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    p2::cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;

    p2::cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    p2::cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    if grant.clock {
        p2::clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
        p2::clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    }
    if grant.random {
        p2::random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
        p2::random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
        p2::random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    }
    if grant.fs() {
        p2::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
        p2::sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
        add_fs_guard(l)?;
    }
    if grant.network() {
        let opts = p2::sockets::network::LinkOptions::default();
        p2::sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
        p2::sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
        p2::sockets::network::add_to_linker::<T, WasiSockets>(l, &opts, T::sockets)?;
        lookup::add_to_linker::<T, HasLookup>(l, T::net)?;
        p2::sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
        p2::sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
        p2::sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
        add_socket_guard(l)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ resources

/// What a plugin instance holds at once, counted against its limits.
#[derive(Clone, Copy, PartialEq)]
pub enum Held {
    File,
    Socket,
}

/// The instance's WASI resource limits (`limits.openFiles`, `connections`,
/// `fsWriteBytes`) and what it holds: the handles it opened, checked against
/// the table (a handle the guest dropped is gone from it), and the bytes
/// written under each writable grant. The same rules as the v8 engine's
/// `ResourceLedger` (src/engines/v8/wasi.ts).
pub struct ResourceLedger {
    open_files: Option<u64>,
    connections: Option<u64>,
    files: HashSet<u32>,
    sockets: HashSet<u32>,
    pub quota: Arc<Quota>,
}

/// The bytes written under each writable grant, shared with the file
/// streams (which live in the table, away from the store).
pub struct Quota {
    limit: Option<u64>,
    /// Real paths of the writable grants, deepest first.
    roots: Vec<PathBuf>,
    written: Mutex<HashMap<usize, u64>>,
    /// Refusals seen by streams, moved to the limiter's violations after each call.
    pub pending: Mutex<Vec<Violation>>,
}

impl ResourceLedger {
    pub fn new(grant: &WasiGrant, limits: &crate::limits::LimitSpec) -> ResourceLedger {
        let mut roots: Vec<PathBuf> = grant.dirs.iter().filter(|(_, w)| *w).filter_map(|(d, _)| std::fs::canonicalize(d).ok()).collect();
        roots.sort_by_key(|r| std::cmp::Reverse(r.components().count()));
        ResourceLedger {
            open_files: limits.open_files,
            connections: limits.connections,
            files: HashSet::new(),
            sockets: HashSet::new(),
            quota: Arc::new(Quota { limit: limits.fs_write_bytes, roots, written: Mutex::default(), pending: Mutex::default() }),
        }
    }
}

impl Quota {
    /// The writable grant a file lies under (by its real path), if any.
    fn root_of(&self, file: &std::fs::File) -> Option<usize> {
        let real = real_path(file)?;
        self.roots.iter().position(|r| real.starts_with(r))
    }

    /// Count `bytes` written under `root`; false (and a pending violation) past the quota.
    fn charge(&self, root: Option<usize>, bytes: u64, what: &str) -> bool {
        let (Some(limit), Some(root)) = (self.limit, root) else { return true };
        if bytes == 0 {
            return true;
        }
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let used = written.get(&root).copied().unwrap_or(0).saturating_add(bytes);
        if used > limit {
            let dir = self.roots[root].display();
            let detail = format!("{what} under {dir}: would write {used} bytes there, past the quota of {limit} (limits.fsWriteBytes)");
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.len() < MAX_PENDING_VIOLATIONS {
                pending.push(Violation { kind: "resource", detail, usage: Some(("fs-write-bytes", used, limit)) });
            }
            return false;
        }
        written.insert(root, used);
        true
    }
}

/// What the store must give the resource limits.
pub trait Ledgered: WasiView {
    /// Ok when one more `kind` may be held; Err((used, limit)) past the limit.
    fn hold_check(&mut self, kind: Held) -> Result<(), (u64, u64)>;
    fn hold_add(&mut self, kind: Held, rep: u32);
    fn quota(&self) -> Arc<Quota>;
    fn resource_denied(&mut self, v: Violation);
}

impl Ledgered for crate::store::StoreData {
    fn hold_check(&mut self, kind: Held) -> Result<(), (u64, u64)> {
        let table = &mut self.table;
        let l = &mut self.ledger;
        let (limit, set) = match kind {
            Held::File => (l.open_files, &mut l.files),
            Held::Socket => (l.connections, &mut l.sockets),
        };
        let Some(limit) = limit else { return Ok(()) };
        // A handle the guest dropped is gone from the table, or holds something else now.
        set.retain(|rep| {
            table.get_any_mut(*rep).is_ok_and(|a| match kind {
                Held::File => a.is::<Descriptor>(),
                Held::Socket => a.is::<wasmtime_wasi::p2::TcpSocket>() || a.is::<wasmtime_wasi::p2::UdpSocket>(),
            })
        });
        let used = set.len() as u64 + 1;
        if used > limit { Err((used, limit)) } else { Ok(()) }
    }
    fn hold_add(&mut self, kind: Held, rep: u32) {
        match kind {
            Held::File if self.ledger.open_files.is_some() => self.ledger.files.insert(rep),
            Held::Socket if self.ledger.connections.is_some() => self.ledger.sockets.insert(rep),
            _ => false,
        };
    }
    fn quota(&self) -> Arc<Quota> {
        self.ledger.quota.clone()
    }
    fn resource_denied(&mut self, v: Violation) {
        let l = &mut self.limiter;
        if l.violations.len() < MAX_PENDING_VIOLATIONS {
            l.violations.push(v);
        } else {
            l.dropped_violations += 1;
        }
    }
}

/// Refuse one more held resource past its limit, with a "resource" violation.
fn hold<T: Ledgered>(store: &mut StoreContextMut<'_, T>, kind: Held, what: &str) -> Result<(), (u64, u64)> {
    let d = store.data_mut();
    d.hold_check(kind).inspect_err(|&(used, limit)| {
        let (resource, noun, field) = match kind {
            Held::File => ("open-files", "open files", "limits.openFiles"),
            Held::Socket => ("connections", "sockets", "limits.connections"),
        };
        let detail = format!("{what}: would hold {used} {noun}, past the limit of {limit} ({field})");
        d.resource_denied(Violation { kind: "resource", detail, usage: Some((resource, used, limit)) });
    })
}

const TCP_CREATE: &str = "wasi:sockets/tcp-create-socket@0.2.12";
const UDP_CREATE: &str = "wasi:sockets/udp-create-socket@0.2.12";

/// Count the sockets a plugin creates against `limits.connections`
/// (`new-socket-limit` past it), over wasmtime-wasi's create functions.
fn add_socket_guard<T: Ledgered + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    use p2::sockets::network::{ErrorCode, IpAddressFamily};
    use p2::sockets::tcp_create_socket::Host as TcpCreate;
    use p2::sync::sockets::udp_create_socket::Host as UdpCreate;
    l.allow_shadowing(true);
    let result = (|| -> wasmtime::Result<()> {
        l.instance(TCP_CREATE)?.func_wrap("create-tcp-socket", |mut s: StoreContextMut<'_, T>, (family,): (IpAddressFamily,)| {
            if hold(&mut s, Held::Socket, "create a TCP socket").is_err() {
                return Ok((Err(ErrorCode::NewSocketLimit),));
            }
            let mut view = WasiSocketsView::sockets(s.data_mut());
            let r = match TcpCreate::create_tcp_socket(&mut view, family) {
                Ok(sock) => Ok(sock),
                Err(e) => Err(network::Host::convert_error_code(&mut view, e)?),
            };
            if let Ok(sock) = &r {
                s.data_mut().hold_add(Held::Socket, sock.rep());
            }
            Ok((r,))
        })?;
        l.instance(UDP_CREATE)?.func_wrap("create-udp-socket", |mut s: StoreContextMut<'_, T>, (family,): (IpAddressFamily,)| {
            if hold(&mut s, Held::Socket, "create a UDP socket").is_err() {
                return Ok((Err(ErrorCode::NewSocketLimit),));
            }
            let mut view = WasiSocketsView::sockets(s.data_mut());
            let r = match UdpCreate::create_udp_socket(&mut view, family) {
                Ok(sock) => Ok(sock),
                Err(e) => Err(network::Host::convert_error_code(&mut view, e)?),
            };
            if let Ok(sock) = &r {
                s.data_mut().hold_add(Held::Socket, sock.rep());
            }
            Ok((r,))
        })?;
        Ok(())
    })();
    l.allow_shadowing(false);
    result
}

/// A file's output stream under a writable grant: each write is counted
/// against the grant's quota first; past it the write fails
/// (`last-operation-failed`, which `filesystem-error-code` reads as `quota`).
struct QuotaStream {
    inner: wasmtime_wasi::p2::DynOutputStream,
    quota: Arc<Quota>,
    root: Option<usize>,
}

impl QuotaStream {
    fn charge(&self, bytes: usize, what: &str) -> wasmtime_wasi::p2::StreamResult<()> {
        if self.quota.charge(self.root, bytes as u64, what) {
            Ok(())
        } else {
            Err(wasmtime_wasi::p2::StreamError::LastOperationFailed(wasmtime::Error::new(QuotaExceeded)))
        }
    }
}

/// A stream write refused for the quota: `filesystem-error-code` answers `quota` for it (see `shadow_fs`).
#[derive(Debug)]
struct QuotaExceeded;

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fs:write quota exceeded (limits.fsWriteBytes)")
    }
}
impl std::error::Error for QuotaExceeded {}

type BoxFuture<'a, R> = std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send + 'a>>;

// async_trait's desugaring, written out (the crate is not a dependency here).
impl wasmtime_wasi::p2::Pollable for QuotaStream {
    fn ready<'a, 'b>(&'a mut self) -> BoxFuture<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        self.inner.ready()
    }
}

impl wasmtime_wasi::p2::OutputStream for QuotaStream {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.charge(bytes.len(), "write")?;
        self.inner.write(bytes)
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        self.inner.flush()
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        self.inner.check_write()
    }
    fn blocking_write_and_flush<'a, 'b>(&'a mut self, bytes: bytes::Bytes) -> BoxFuture<'b, wasmtime_wasi::p2::StreamResult<()>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            self.charge(bytes.len(), "write")?;
            self.inner.blocking_write_and_flush(bytes).await
        })
    }
    fn write_zeroes(&mut self, nelem: usize) -> wasmtime_wasi::p2::StreamResult<()> {
        self.charge(nelem, "write-zeroes")?;
        self.inner.write_zeroes(nelem)
    }
    fn write_ready<'a, 'b>(&'a mut self) -> BoxFuture<'b, wasmtime_wasi::p2::StreamResult<usize>>
    where
        'a: 'b,
        Self: 'b,
    {
        self.inner.write_ready()
    }
    fn cancel<'a, 'b>(&'a mut self) -> BoxFuture<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        self.inner.cancel()
    }
}

/// The grant a file descriptor lies under, for the quota.
fn file_root<T: Ledgered>(store: &mut StoreContextMut<'_, T>, fd: &Resource<Descriptor>) -> Option<usize> {
    let quota = store.data().quota();
    match store.data_mut().ctx().table.get(fd) {
        Ok(Descriptor::File(f)) => quota.root_of(&f.file),
        _ => None,
    }
}

/// Wrap a file stream just made in a `QuotaStream`.
fn meter_stream<T: Ledgered>(store: &mut StoreContextMut<'_, T>, stream: &Resource<wasmtime_wasi::p2::DynOutputStream>, root: Option<usize>) -> wasmtime::Result<()> {
    let quota = store.data().quota();
    let slot = store.data_mut().ctx().table.get_mut(stream)?;
    let inner = std::mem::replace(slot, Box::new(ClosedOutputStream));
    *slot = Box::new(QuotaStream { inner, quota, root });
    Ok(())
}

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

// ---------------------------------------------------------------- filesystem

/// Host work per WASI path is bounded (issue 11: a 100 KB path of 50,000
/// segments cost the v8 host 39 s): longer paths fail with `name-too-long`.
/// The same numbers as src/engines/v8-wasi.ts.
pub const MAX_PATH_BYTES: usize = 4096;
pub const MAX_PATH_SEGMENTS: usize = 256;
/// Fuel charged per segment of each path the host resolves for the guest.
pub const FUEL_PER_SEGMENT: u64 = 100;
/// The interface whose functions `add_fs_guard` replaces; it must be the name
/// wasmtime-wasi's bindings use (test/hostile-fs.test.ts fails otherwise).
const FS_TYPES: &str = "wasi:filesystem/types@0.2.12";
/// Pending violations kept per call, as the limiter does.
const MAX_PENDING_VIOLATIONS: usize = 64;

/// What the store must give the guarded filesystem: where refusals go.
pub trait FsGuarded: WasiView {
    fn fs_denied(&mut self, detail: String);
}

impl FsGuarded for crate::store::StoreData {
    fn fs_denied(&mut self, detail: String) {
        let l = &mut self.limiter;
        if l.violations.len() < MAX_PENDING_VIOLATIONS {
            l.violations.push(Violation { kind: "capability", detail, usage: None });
        } else {
            l.dropped_violations += 1;
        }
    }
}

/// The number of segments of a path, or None past the bounds.
fn path_segments(p: &str) -> Option<usize> {
    if p.len() > MAX_PATH_BYTES {
        return None;
    }
    let n = p.split('/').filter(|s| !s.is_empty()).count();
    (n <= MAX_PATH_SEGMENTS).then_some(n)
}

/// Why a symlink with this target may not be created, or None when it points
/// down inside the link's own directory. Any `..` is refused: even one that
/// stays inside today is carried out of the grant when its directory is
/// renamed to a shallower place. (v8: `outwardTarget` in v8-wasi.ts.)
fn outward_target(target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(format!("symlink target {target} is an absolute path, outside the grant"));
    }
    if target.split('/').any(|s| s == "..") {
        return Some(format!("symlink target {target} climbs with \"..\": a link may only point down inside its directory"));
    }
    None
}

/// Refused before any work: an error code for the guest, or a trap (out of fuel).
enum Refusal {
    Code(fs::ErrorCode),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for Refusal {
    fn from(e: wasmtime::Error) -> Self {
        Refusal::Trap(e)
    }
}

/// Bound `paths` and bill them to the call's fuel before the host resolves them.
fn pay<T>(store: &mut StoreContextMut<'_, T>, paths: &[&str]) -> Result<(), Refusal> {
    let mut segments = 0u64;
    for p in paths {
        match path_segments(p) {
            Some(n) => segments += n.max(1) as u64,
            None => return Err(Refusal::Code(fs::ErrorCode::NameTooLong)),
        }
    }
    let cost = FUEL_PER_SEGMENT * segments;
    let fuel = store.get_fuel()?;
    if fuel < cost {
        store.set_fuel(0)?;
        return Err(Refusal::Trap(Trap::OutOfFuel.into()));
    }
    store.set_fuel(fuel - cost)?;
    Ok(())
}

/// A directory descriptor's grant: writable, and where it is on the host.
struct DirInfo {
    writable: bool,
    real: Option<PathBuf>,
}

fn dir_info<T: WasiView>(store: &mut StoreContextMut<'_, T>, fd: &Resource<Descriptor>) -> Option<DirInfo> {
    match store.data_mut().ctx().table.get(fd) {
        Ok(Descriptor::Dir(d)) => Some(DirInfo { writable: !d.perms.write_not_permitted(), real: real_path(&d.dir) }),
        _ => None, // not a directory or no descriptor: wasmtime-wasi gives the error
    }
}

#[cfg(target_os = "linux")]
fn real_path(f: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn real_path(_: &std::fs::File) -> Option<PathBuf> {
    None
}

/// When `rel` under `dir` is a symlink whose target `outward_target` refuses:
/// why. Only for paths that stay inside lexically (cap-std refuses the rest).
fn outward_symlink(dir: Option<&Path>, rel: &str) -> Option<String> {
    let dir = dir?;
    let mut depth = 0usize;
    for s in rel.split('/') {
        match s {
            "" | "." => {}
            ".." if depth == 0 => return None,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    let p = dir.join(rel);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    let target = std::fs::read_link(&p).ok()?;
    outward_target(&target.to_string_lossy()).map(|why| format!("its source is a symlink ({why})"))
}

/// Refuse with `code`, recording a capability violation.
fn deny<T: FsGuarded>(store: &mut StoreContextMut<'_, T>, code: fs::ErrorCode, detail: String) -> Refusal {
    store.data_mut().fs_denied(detail);
    Refusal::Code(code)
}

/// The guest's answer: the original's result, or the refusal.
fn answer<T: WasiView, R>(
    mut store: StoreContextMut<'_, T>,
    checked: Result<(), Refusal>,
    run: impl FnOnce(&mut WasiFilesystemCtxView<'_>) -> FsResult<R>,
) -> wasmtime::Result<(Result<R, fs::ErrorCode>,)> {
    match checked {
        Err(Refusal::Trap(e)) => Err(e),
        Err(Refusal::Code(c)) => Ok((Err(c),)),
        Ok(()) => {
            let data = store.data_mut();
            let mut view = wasmtime_wasi::filesystem::WasiFilesystemView::filesystem(data);
            Ok((match run(&mut view) {
                Ok(v) => Ok(v),
                Err(e) => Err(fs::Host::convert_error_code(&mut view, e)?),
            },))
        }
    }
}

fn is_write(oflags: fs::OpenFlags, flags: fs::DescriptorFlags) -> bool {
    oflags.intersects(fs::OpenFlags::CREATE | fs::OpenFlags::TRUNCATE) || flags.intersects(fs::DescriptorFlags::WRITE | fs::DescriptorFlags::MUTATE_DIRECTORY)
}

/// Under `fs:read`, a refused write recorded as a violation (wasmtime-wasi
/// refuses it too, with the same code, but reports nothing).
fn need_write<T: FsGuarded>(store: &mut StoreContextMut<'_, T>, info: &Option<DirInfo>, what: String) -> Result<(), Refusal> {
    match info {
        Some(i) if !i.writable => Err(deny(store, fs::ErrorCode::NotPermitted, format!("{what}: the grant is fs:read, not fs:write"))),
        _ => Ok(()),
    }
}

/// Replace the path-taking `descriptor` methods with guarded ones that call
/// wasmtime-wasi's after the checks. Functions with `StoreContextMut` (not the
/// bindings' `&mut T` getters) so that they can spend the store's fuel.
fn add_fs_guard<T: FsGuarded + Ledgered + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    l.allow_shadowing(true);
    let result = shadow_fs(&mut l.instance(FS_TYPES)?);
    l.allow_shadowing(false);
    result
}

type Fd = Resource<Descriptor>;

fn shadow_fs<T: FsGuarded + Ledgered + 'static>(inst: &mut LinkerInstance<'_, T>) -> wasmtime::Result<()> {
    use fs::HostDescriptor as D;
    use wasmtime::AsContextMut;
    inst.func_wrap("[method]descriptor.open-at", |mut s: StoreContextMut<'_, T>, (fd, pf, path, of, df): (Fd, fs::PathFlags, String, fs::OpenFlags, fs::DescriptorFlags)| {
        let checked = pay(&mut s, &[path.as_str()]).and_then(|()| {
            let info = if is_write(of, df) { dir_info(&mut s, &fd) } else { None };
            need_write(&mut s, &info, format!("open \"{path}\" for writing"))?;
            // Past limits.openFiles: insufficient-memory (ENOMEM), as on the v8 engine.
            hold(&mut s, Held::File, &format!("open \"{path}\"")).map_err(|_| Refusal::Code(fs::ErrorCode::InsufficientMemory))
        });
        let r = answer(s.as_context_mut(), checked, |v| D::open_at(v, fd, pf, path, of, df))?;
        if let (Ok(child),) = &r {
            s.data_mut().hold_add(Held::File, child.rep());
        }
        Ok(r)
    })?;
    // wasmtime-wasi maps no errno to `quota`: a QuotaStream refusal is answered here, the rest delegated.
    inst.func_wrap("filesystem-error-code", |mut s: StoreContextMut<'_, T>, (err,): (Resource<wasmtime::Error>,)| {
        if s.data_mut().ctx().table.get(&err)?.downcast_ref::<QuotaExceeded>().is_some() {
            return Ok((Some(fs::ErrorCode::Quota),));
        }
        let data = s.data_mut();
        let mut view = wasmtime_wasi::filesystem::WasiFilesystemView::filesystem(data);
        Ok((fs::Host::filesystem_error_code(&mut view, err)?,))
    })?;
    // Bytes written under a writable grant count against its quota first (limits.fsWriteBytes).
    inst.func_wrap("[method]descriptor.write", |mut s: StoreContextMut<'_, T>, (fd, buf, offset): (Fd, Vec<u8>, u64)| {
        let root = file_root(&mut s, &fd);
        let quota = s.data().quota();
        if !quota.charge(root, buf.len() as u64, "write") {
            let pending: Vec<Violation> = quota.pending.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
            for v in pending {
                s.data_mut().resource_denied(v);
            }
            return Ok((Err(fs::ErrorCode::Quota),));
        }
        answer(s, Ok(()), |v| D::write(v, fd, buf, offset))
    })?;
    inst.func_wrap("[method]descriptor.set-size", |mut s: StoreContextMut<'_, T>, (fd, size): (Fd, u64)| {
        let root = file_root(&mut s, &fd);
        let current = match s.data_mut().ctx().table.get(&fd) {
            Ok(Descriptor::File(f)) => f.file.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        };
        let quota = s.data().quota();
        // Growing a file reserves space: counted as written.
        if !quota.charge(root, size.saturating_sub(current), "set-size") {
            let pending: Vec<Violation> = quota.pending.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
            for v in pending {
                s.data_mut().resource_denied(v);
            }
            return Ok((Err(fs::ErrorCode::Quota),));
        }
        answer(s, Ok(()), |v| D::set_size(v, fd, size))
    })?;
    inst.func_wrap("[method]descriptor.write-via-stream", |mut s: StoreContextMut<'_, T>, (fd, offset): (Fd, u64)| {
        let root = file_root(&mut s, &fd);
        let r = answer(s.as_context_mut(), Ok(()), |v| D::write_via_stream(v, fd, offset))?;
        if let (Ok(stream),) = &r {
            meter_stream(&mut s, stream, root)?;
        }
        Ok(r)
    })?;
    inst.func_wrap("[method]descriptor.append-via-stream", |mut s: StoreContextMut<'_, T>, (fd,): (Fd,)| {
        let root = file_root(&mut s, &fd);
        let r = answer(s.as_context_mut(), Ok(()), |v| D::append_via_stream(v, fd))?;
        if let (Ok(stream),) = &r {
            meter_stream(&mut s, stream, root)?;
        }
        Ok(r)
    })?;
    inst.func_wrap("[method]descriptor.stat-at", |mut s: StoreContextMut<'_, T>, (fd, pf, path): (Fd, fs::PathFlags, String)| {
        let checked = pay(&mut s, &[path.as_str()]);
        answer(s, checked, |v| D::stat_at(v, fd, pf, path))
    })?;
    inst.func_wrap("[method]descriptor.metadata-hash-at", |mut s: StoreContextMut<'_, T>, (fd, pf, path): (Fd, fs::PathFlags, String)| {
        let checked = pay(&mut s, &[path.as_str()]);
        answer(s, checked, |v| D::metadata_hash_at(v, fd, pf, path))
    })?;
    inst.func_wrap("[method]descriptor.readlink-at", |mut s: StoreContextMut<'_, T>, (fd, path): (Fd, String)| {
        let checked = pay(&mut s, &[path.as_str()]);
        answer(s, checked, |v| D::readlink_at(v, fd, path))
    })?;
    inst.func_wrap(
        "[method]descriptor.set-times-at",
        |mut s: StoreContextMut<'_, T>, (fd, pf, path, a, m): (Fd, fs::PathFlags, String, fs::NewTimestamp, fs::NewTimestamp)| {
            let checked = pay(&mut s, &[path.as_str()]).and_then(|()| {
                let info = dir_info(&mut s, &fd);
                need_write(&mut s, &info, format!("set times of \"{path}\""))
            });
            answer(s, checked, |v| D::set_times_at(v, fd, pf, path, a, m))
        },
    )?;
    inst.func_wrap("[method]descriptor.create-directory-at", |mut s: StoreContextMut<'_, T>, (fd, path): (Fd, String)| {
        let checked = pay(&mut s, &[path.as_str()]).and_then(|()| {
            let info = dir_info(&mut s, &fd);
            need_write(&mut s, &info, format!("create directory \"{path}\""))
        });
        answer(s, checked, |v| D::create_directory_at(v, fd, path))
    })?;
    inst.func_wrap("[method]descriptor.remove-directory-at", |mut s: StoreContextMut<'_, T>, (fd, path): (Fd, String)| {
        let checked = pay(&mut s, &[path.as_str()]).and_then(|()| {
            let info = dir_info(&mut s, &fd);
            need_write(&mut s, &info, format!("remove directory \"{path}\""))
        });
        answer(s, checked, |v| D::remove_directory_at(v, fd, path))
    })?;
    inst.func_wrap("[method]descriptor.unlink-file-at", |mut s: StoreContextMut<'_, T>, (fd, path): (Fd, String)| {
        let checked = pay(&mut s, &[path.as_str()]).and_then(|()| {
            let info = dir_info(&mut s, &fd);
            need_write(&mut s, &info, format!("unlink \"{path}\""))
        });
        answer(s, checked, |v| D::unlink_file_at(v, fd, path))
    })?;
    inst.func_wrap("[method]descriptor.symlink-at", |mut s: StoreContextMut<'_, T>, (fd, target, path): (Fd, String, String)| {
        let checked = pay(&mut s, &[target.as_str(), path.as_str()]).and_then(|()| {
            let what = format!("symlink \"{path}\" -> {target}");
            let info = dir_info(&mut s, &fd);
            need_write(&mut s, &info, what.clone())?;
            match outward_target(&target) {
                Some(why) => Err(deny(&mut s, fs::ErrorCode::NotPermitted, format!("{what}: {why}"))),
                None => Ok(()),
            }
        });
        answer(s, checked, |v| D::symlink_at(v, fd, target, path))
    })?;
    inst.func_wrap(
        "[method]descriptor.link-at",
        |mut s: StoreContextMut<'_, T>, (fd, pf, old, new_fd, new): (Fd, fs::PathFlags, String, Fd, String)| {
            let checked = pay(&mut s, &[old.as_str(), new.as_str()]).and_then(|()| {
                let what = format!("link \"{old}\" to \"{new}\"");
                let from = dir_info(&mut s, &fd);
                // A second name for a file under fs:read would be a writable one.
                if matches!(&from, Some(i) if !i.writable) {
                    let why = "its source lies under an fs:read grant; a hard link needs the source under fs:write";
                    return Err(deny(&mut s, fs::ErrorCode::NotPermitted, format!("{what}: {why}")));
                }
                let to = dir_info(&mut s, &new_fd);
                need_write(&mut s, &to, what.clone())?;
                // A hard link to a symlink is a new symlink with its target: symlink-at's rule.
                match outward_symlink(from.as_ref().and_then(|i| i.real.as_deref()), &old) {
                    Some(why) => Err(deny(&mut s, fs::ErrorCode::NotPermitted, format!("{what}: {why}"))),
                    None => Ok(()),
                }
            });
            answer(s, checked, |v| D::link_at(v, fd, pf, old, new_fd, new))
        },
    )?;
    inst.func_wrap("[method]descriptor.rename-at", |mut s: StoreContextMut<'_, T>, (fd, old, new_fd, new): (Fd, String, Fd, String)| {
        let checked = pay(&mut s, &[old.as_str(), new.as_str()]).and_then(|()| {
            let what = format!("rename \"{old}\" to \"{new}\"");
            let from = dir_info(&mut s, &fd);
            need_write(&mut s, &from, what.clone())?;
            let to = dir_info(&mut s, &new_fd);
            need_write(&mut s, &to, what.clone())?;
            // Moved elsewhere, a symlink with ".." in its target may point out of the grant.
            match outward_symlink(from.as_ref().and_then(|i| i.real.as_deref()), &old) {
                Some(why) => Err(deny(&mut s, fs::ErrorCode::NotPermitted, format!("{what}: {why}"))),
                None => Ok(()),
            }
        });
        answer(s, checked, |v| D::rename_at(v, fd, old, new_fd, new))
    })?;
    Ok(())
}
