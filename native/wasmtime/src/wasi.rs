//! WASI preview 2 for one plugin, built from its effective capability set.
//!
//! Only the interfaces the capabilities cover are added to the linker, so a
//! component that imports anything else cannot be instantiated (the TS side
//! checks the imports first and names the missing capability). Within a
//! linked interface the context grants nothing beyond the capability: only
//! the granted directories, environment variables and peers.

use crate::output::{LogPipe, SharedLog};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Linker, Resource};
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
pub fn add_to_linker<T: NetGuarded + 'static>(linker: &mut Linker<T>, grant: &WasiGrant) -> wasmtime::Result<()> {
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
    }
    Ok(())
}

struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}
