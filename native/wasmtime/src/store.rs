//! One plugin's `Store`: its WASI context, limiter and host bridge, and the
//! instantiation that fills it.

use crate::engine::engine;
use crate::fault::Fault;
use crate::host::{HostBridge, PluginPre};
use crate::limits::{LimitSpec, Limiter};
use crate::profile::ProfileSlot;
use crate::wasi::{self, GuardedLookup, NetGuard, NetGuarded, WasiGrant};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct StoreData {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: Limiter,
    pub host: HostBridge,
    /// The plugin's network grants and what its name lookups taught them.
    pub net: Arc<NetGuard>,
    /// Open name-lookup streams and the ports of the grants that covered them.
    pub lookups: HashMap<u32, Vec<Option<u16>>>,
    /// Set by `dispose()` from the JS thread: the running call stops at its next epoch check.
    pub stop: Arc<AtomicBool>,
    /// Epoch ticks of the current call's deadline not yet handed to wasmtime (see `epoch_check`).
    pub ticks_left: u64,
    /// The instance's guest profile, when one runs (profile.rs); shared with the JS object.
    pub profile: Arc<ProfileSlot>,
    /// The JS dispatcher of the app interfaces the component imports (iface.rs); None when it imports none.
    pub iface: Option<crate::iface::IfaceBridge>,
    /// Open files, sockets and bytes written against the plugin's limits.
    pub ledger: wasi::ResourceLedger,
}

/// How often (in epoch ticks) a running call checks the stop flag and its deadline.
pub const CHECK_TICKS: u64 = 5;

/// A call ended because the instance was disposed while it ran.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the instance was disposed while this call was running")
    }
}
impl std::error::Error for Stopped {}

/// Runs every CHECK_TICKS ticks of a call (every tick while a profile runs,
/// taking a sample): stop when disposed, trap at the deadline, otherwise hand
/// out the next slice of the deadline. The slices add up to the same deadline
/// either way.
fn epoch_check(mut cx: wasmtime::StoreContextMut<'_, StoreData>) -> wasmtime::Result<UpdateDeadline> {
    if cx.data().stop.load(Ordering::Relaxed) {
        return Err(Stopped.into());
    }
    let profiling = cx.data().profile.active();
    if profiling {
        let slot = cx.data().profile.clone();
        slot.sample(&cx);
    }
    let d = cx.data_mut();
    if d.ticks_left == 0 {
        return Err(wasmtime::Trap::Interrupt.into());
    }
    let step = d.ticks_left.min(if profiling { 1 } else { CHECK_TICKS });
    d.ticks_left -= step;
    Ok(UpdateDeadline::Continue(step))
}

impl NetGuarded for StoreData {
    fn net(&mut self) -> GuardedLookup<'_> {
        let guard = self.net.clone();
        let inner = WasiSocketsCtxView { ctx: self.wasi.sockets(), table: &mut self.table };
        GuardedLookup::new(inner, guard, &mut self.lookups)
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Which WASI families are linked: a linker depends only on these (stdio is
/// always linked, closed without the grant, so it is not part of the key).
fn linker_key(g: &WasiGrant) -> u8 {
    u8::from(g.clock) << 1 | u8::from(g.random) << 2 | u8::from(!g.dirs.is_empty()) << 3 | u8::from(!g.net.is_empty()) << 4
}

static LINKERS: OnceLock<Mutex<HashMap<u8, Arc<Linker<StoreData>>>>> = OnceLock::new();

fn linker_for(grant: &WasiGrant) -> Result<Arc<Linker<StoreData>>, Fault> {
    let key = linker_key(grant);
    let map = LINKERS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(l) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(l.clone());
    }
    let mut linker = Linker::<StoreData>::new(engine());
    crate::host::add_to_linker(&mut linker).map_err(|e| Fault::Load(format!("{e:#}")))?;
    wasi::add_to_linker(&mut linker, grant).map_err(|e| Fault::Load(format!("{e:#}")))?;
    let linker = Arc::new(linker);
    map.lock().unwrap_or_else(|e| e.into_inner()).insert(key, linker.clone());
    Ok(linker)
}

/// Pre-instantiation per linked family set, kept with the compiled component.
/// `app_imports`: the component's imported app functions (iface.rs), linked into a copy of the shared linker made
/// for this component alone (the cache is per component, so the key stays the grant's).
pub fn instance_pre(
    component: &Component,
    grant: &WasiGrant,
    app_imports: &[Arc<crate::iface::FnPlan>],
    cache: &Mutex<HashMap<u8, PluginPre<StoreData>>>,
) -> Result<PluginPre<StoreData>, Fault> {
    let key = linker_key(grant);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let mut linker = linker_for(grant)?;
    if !app_imports.is_empty() {
        let mut own = (*linker).clone();
        crate::iface::link(&mut own, app_imports).map_err(|e| Fault::Load(format!("linking the app interfaces: {e:#}")))?;
        linker = Arc::new(own);
    }
    let pre = linker.instantiate_pre(component).map_err(|e| {
        let msg = format!("{e:#}");
        if msg.contains("matching implementation was not found") || msg.contains("not found in the linker") || msg.contains("import") {
            Fault::Missing(first_line(&msg))
        } else {
            Fault::Load(first_line(&msg))
        }
    })?;
    let pre = PluginPre::new(pre).map_err(|e| Fault::Invalid(format!("the component does not export the plughost guest interface: {}", first_line(&format!("{e:#}")))))?;
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, pre.clone());
    Ok(pre)
}

pub fn new_store(data: StoreData) -> Store<StoreData> {
    let mut store = Store::new(engine(), data);
    store.limiter(|d| &mut d.limiter);
    store.epoch_deadline_callback(epoch_check);
    store
}

pub fn new_data(
    grant: &WasiGrant,
    limits: &LimitSpec,
    host: HostBridge,
    stop: Arc<AtomicBool>,
    profile: Arc<ProfileSlot>,
    iface: Option<crate::iface::IfaceBridge>,
) -> Result<StoreData, Fault> {
    let (wasi, net) = wasi::build_ctx(grant, &host.log).map_err(|e| Fault::Load(format!("{e:#}")))?;
    Ok(StoreData {
        wasi,
        table: ResourceTable::new(),
        limiter: Limiter::new(limits),
        host,
        net,
        lookups: HashMap::new(),
        stop,
        ticks_left: 0,
        profile,
        iface,
        ledger: wasi::ResourceLedger::new(grant, limits),
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_owned()
}
