//! WASI preview 2 for one plugin, built from its effective capability set.
//!
//! Only the interfaces the capabilities cover are added to the linker, so a
//! component that imports anything else cannot be instantiated (the TS side
//! checks the imports first and names the missing capability). Within a
//! linked interface the context grants nothing beyond the capability: only
//! the granted directories, environment variables and peers.

use crate::output::{LogPipe, SharedLog};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings as p2;
use wasmtime_wasi::p2::pipe::ClosedOutputStream;
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSockets, WasiSocketsView};
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
pub fn build_ctx(grant: &WasiGrant, log: &SharedLog) -> wasmtime::Result<WasiCtx> {
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
    let peers = Arc::new(grant.net.iter().filter_map(|p| NetRule::parse(p)).collect::<Vec<_>>());
    b.socket_addr_check(move |addr, use_| {
        let ok = match use_ {
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => peers.iter().any(|r| r.allows(&addr)),
            // Implicit binds before a connect use the wildcard address.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        };
        Box::pin(async move { ok })
    });
    Ok(b.build())
}

/// One `net:outbound:<host>:<port>` grant, checked against socket addresses.
/// Host names are resolved once, when the plugin is instantiated. A host of
/// `*` allows any address; `*.domain` cannot be checked against an address
/// and allows nothing.
struct NetRule {
    hosts: Option<HashSet<IpAddr>>,
    port: Option<u16>,
}

impl NetRule {
    fn parse(peer: &str) -> Option<NetRule> {
        let (host, port) = peer.rsplit_once(':')?;
        let port = if port == "*" { None } else { Some(port.parse().ok()?) };
        if host == "*" {
            return Some(NetRule { hosts: None, port });
        }
        if host.starts_with("*.") {
            return None;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let hosts = match bare.parse::<IpAddr>() {
            Ok(ip) => HashSet::from([ip]),
            Err(_) => (bare, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect(),
        };
        Some(NetRule { hosts: Some(hosts), port })
    }

    fn allows(&self, addr: &SocketAddr) -> bool {
        self.port.is_none_or(|p| p == addr.port()) && self.hosts.as_ref().is_none_or(|h| h.contains(&addr.ip()))
    }
}

/// Add exactly the interfaces `grant` covers. `wasi:io`, `wasi:cli/exit` and
/// `wasi:cli/environment` carry no authority of their own and are always
/// linked (exit becomes `PluginExited`; the environment holds only granted
/// variables), matching the v8 engine. The stdio interfaces are always linked
/// too: without `stdio` the context holds closed streams (`build_ctx`), the
/// shared table's `inertWithoutGrant`, because the preview1 adapter imports
/// stderr even in plugins that never print.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>, grant: &WasiGrant) -> wasmtime::Result<()> {
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
        p2::sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)?;
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
