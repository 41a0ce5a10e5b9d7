//! Per-plugin limits: fuel budgets and the memory/table limiter.
//!
//! Memory is capped across *all* linear memories of an instance (DESIGN.md),
//! which `StoreLimits` cannot express (its cap is per memory), hence a
//! `ResourceLimiter` that sums growth. Table elements are capped the same way,
//! summed over all tables (a per-table cap let 64 tables of a million elements
//! each through). Both sums include what instantiation creates, since the
//! limiter is asked then too (with `current` 0). A refused grow returns -1 to
//! the guest and is recorded as a violation for the host to report.

use wasmtime::ResourceLimiter;

/// Limits as the host passes them (numbers from JS).
#[derive(Clone, Debug, Default)]
pub struct LimitSpec {
    pub open_files: Option<u64>,
    pub connections: Option<u64>,
    pub fs_write_bytes: Option<u64>,
    pub fuel: Option<u64>,
    pub fuel_lifetime: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub table_elements: Option<u64>,
    pub deadline_ms: Option<f64>,
}

/// Fuel given to a call when the plugin is unmetered; wasmtime keeps fuel in
/// an i64, so stay well inside it.
pub const UNMETERED_FUEL: u64 = u64::MAX >> 2;

/// What a call may spend, and what the plugin has spent.
#[derive(Debug, Default)]
pub struct FuelAccount {
    pub per_call: Option<u64>,
    pub lifetime: Option<u64>,
    pub lifetime_used: u64,
    pub last_call: u64,
}

/// The budget of one call, and whether it is the lifetime budget that binds.
pub struct CallBudget {
    pub fuel: u64,
    pub lifetime_binds: bool,
}

impl FuelAccount {
    pub fn new(spec: &LimitSpec) -> FuelAccount {
        FuelAccount { per_call: spec.fuel, lifetime: spec.fuel_lifetime, ..Default::default() }
    }

    pub fn budget(&self) -> CallBudget {
        let per_call = self.per_call.unwrap_or(UNMETERED_FUEL);
        match self.lifetime {
            Some(total) => {
                let left = total.saturating_sub(self.lifetime_used);
                CallBudget { fuel: per_call.min(left), lifetime_binds: left < per_call }
            }
            None => CallBudget { fuel: per_call, lifetime_binds: false },
        }
    }

    pub fn record(&mut self, used: u64) {
        self.last_call = used;
        self.lifetime_used = self.lifetime_used.saturating_add(used);
    }
}

/// A limit breach that did not fail the call (the guest saw -1).
#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: &'static str,
    pub detail: String,
    /// Kind "resource": (resource, used, limit).
    pub usage: Option<(&'static str, u64, u64)>,
}

/// Bounds the pending-violation list: a guest retrying a refused grow in a
/// loop must not make the host allocate without bound.
const MAX_PENDING_VIOLATIONS: usize = 64;

pub struct Limiter {
    memory_cap: Option<usize>,
    table_cap: Option<usize>,
    memory_total: usize,
    table_total: usize,
    pub violations: Vec<Violation>,
    pub dropped_violations: u64,
    /// Set when growth was refused, so a failed instantiation can say why.
    pub refused_memory: bool,
    pub refused_table: bool,
}

impl Limiter {
    /// Bytes of linear memory the store's instances hold (Wasm memory never shrinks).
    pub fn memory_total(&self) -> usize {
        self.memory_total
    }

    pub fn new(spec: &LimitSpec) -> Limiter {
        Limiter {
            memory_cap: spec.memory_bytes.map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
            table_cap: spec.table_elements.map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
            memory_total: 0,
            table_total: 0,
            violations: Vec::new(),
            dropped_violations: 0,
            refused_memory: false,
            refused_table: false,
        }
    }

    pub fn memory_cap(&self) -> Option<usize> {
        self.memory_cap
    }

    pub fn table_cap(&self) -> Option<usize> {
        self.table_cap
    }

    fn violate(&mut self, kind: &'static str, detail: String) {
        if self.violations.len() < MAX_PENDING_VIOLATIONS {
            self.violations.push(Violation { kind, detail, usage: None });
        } else {
            self.dropped_violations += 1;
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if let Some(max) = maximum {
            if desired > max {
                return Ok(false);
            }
        }
        let delta = desired.saturating_sub(current);
        let total = self.memory_total.saturating_add(delta);
        if let Some(cap) = self.memory_cap {
            if total > cap {
                self.refused_memory = true;
                self.violate(
                    "memory",
                    format!(
                        "memory.grow from {current} to {desired} bytes refused: the instance would hold {total} bytes of linear memory, cap {cap}"
                    ),
                );
                return Ok(false);
            }
        }
        self.memory_total = total;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if let Some(max) = maximum {
            if desired > max {
                return Ok(false);
            }
        }
        let delta = desired.saturating_sub(current);
        let total = self.table_total.saturating_add(delta);
        if let Some(cap) = self.table_cap {
            if total > cap {
                self.refused_table = true;
                self.violate(
                    "memory",
                    format!("table.grow from {current} to {desired} elements refused: the instance would hold {total} table elements in all, cap {cap}"),
                );
                return Ok(false);
            }
        }
        self.table_total = total;
        Ok(true)
    }
}
