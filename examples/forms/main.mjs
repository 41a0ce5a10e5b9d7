// The forms example (docs/host-interfaces.md): an application that extends plughost's contract with its own WIT
// package, acme:forms (wit/forms.wit). The host provides `store`; validator-rust (Rust) exports `validate`;
// normalizer-js (JavaScript) imports both, the host wiring its `validate` to validator-rust's export, and runs as
// the `submission.transform` hook. Built by `npm run setup` (scripts/setup/37-forms-example.mjs).
import { PluginRegistry } from "plughost";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

const registry = new PluginRegistry({
  // Each plugin gets the interfaces its manifest asks for and no more.
  grants: {
    "validator-rust": ["iface:acme:forms/store", "iface:acme:forms/types"],
    "normalizer-js": ["iface:acme:forms/store", "iface:acme:forms/validate", "iface:acme:forms/types"],
  },
});

// 1. The application's WIT package: its types are checked on every call, both ways.
registry.defineInterfaces(path.join(here, "wit"));

// 2. The host's side of acme:forms/store, on a Map. Values follow the WIT: a u64 is a bigint, a record an object,
//    an option a value or undefined, a result {tag: "ok" | "err", val}.
const kept = new Map();
let nextId = 1n;
registry.provide("acme:forms/store@1.0.0", {
  save(s) {
    const id = nextId++;
    kept.set(id, s);
    return { tag: "ok", val: id };
  },
  lookup: (id) => kept.get(id),
  count: (form) => [...kept.values()].filter((s) => s.form === form).length,
});

// 3. The exporter first: normalizer-js's import of validate is wired to validator-rust's instance at load.
await registry.load(path.join(here, "validator-rust"));
await registry.load(path.join(here, "normalizer-js"));
console.log(`loaded: ${registry.list().map((p) => `${p.name} (${p.state})`).join(", ")}`);

// 4. Submissions through the hook chain: JSON in, JSON out (normalizer-js/plugin.js says what it returns).
const submissions = [
  { form: "signup", fields: { name: "  Ada Lovelace ", email: " Ada@Example.ORG" } },
  { form: "signup", fields: { name: "", email: "grace.example.org" } },
];
for (const s of submissions) {
  const out = await registry.runHook("submission.transform", enc(JSON.stringify(s)));
  console.log(`\nsubmission.transform ${JSON.stringify(s)}`);
  console.log(`  → ${out.ok ? dec(out.data) : `failed with status ${out.status}`}`);
}

// 5. The typed export called by the host directly: a record in, a list of records out.
const validator = registry.get("validator-rust");
const bob = { form: "signup", fields: [{ name: "name", value: "Bob" }, { name: "email", value: "bob@@example.org" }] };
const problems = await validator.call("acme:forms/validate", "check", bob);
console.log(`\nvalidator-rust check(${JSON.stringify(bob)})\n  → ${JSON.stringify(problems)}`);

console.log(`\nstore: ${kept.size} kept`);
for (const [id, s] of kept) {
  console.log(`  #${id} ${s.form}: ${s.fields.map((f) => `${f.name}=${JSON.stringify(f.value)}`).join(", ")}`);
}

// Every call across an app interface is counted, by caller, interface and function.
console.log("\ninterface calls:");
for (const m of registry.interfaceMetrics()) {
  if (m.calls > 0) console.log(`  ${m.plugin} → ${m.iface} ${m.fn}: ${m.calls} (${m.errors} failed)`);
}

await registry.unloadAll();
console.log(`\nunloaded: ${registry.list().map((p) => `${p.name}=${p.state}`).join(", ")}`);
