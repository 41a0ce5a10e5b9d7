// Runs test/helpers/nats-host.mjs as a child process (a real second plughost host) and talks to it over IPC.
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "nats-host.mjs");

/** Starts a host process with `cfg` (see nats-host.mjs); resolves once its plugins are loaded. */
export function startHost(cfg) {
  const child = fork(script, [], { env: { ...process.env, PLUGHOST_NATS_HOST: JSON.stringify(cfg) }, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const seen = [];
  const errors = [];
  const pending = new Map();
  let nextId = 0;
  let output = "";
  const collect = (chunk) => { if (output.length < 50_000) output += chunk; };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let exited = false;
  const ready = new Promise((resolve, reject) => {
    child.on("message", (m) => {
      if (m.type === "ready") resolve();
      else if (m.type === "seen") seen.push(m);
      else if (m.type === "transport-error") errors.push(m);
      else if (m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(Object.assign(new Error(m.error.message), m.error));
      }
    });
    child.on("exit", (code, signal) => {
      exited = true;
      const e = new Error(`host ${cfg.hostId ?? ""} exited (${code ?? signal}):\n${output}`);
      reject(e);
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
  });
  const host = {
    child,
    seen,
    errors,
    get output() { return output; },
    call(op, args = {}) {
      if (exited) return Promise.reject(new Error(`host exited:\n${output}`));
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, op, ...args });
      });
    },
    async until(cond, what, ms = 5000) {
      const end = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; seen ${JSON.stringify(seen)}, errors ${JSON.stringify(errors)}\n${output}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once("exit", r));
      await host.call("stop").catch(() => undefined);
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(kill);
    },
  };
  return ready.then(() => host);
}
