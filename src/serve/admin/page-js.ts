// The admin page's script: plain browser JavaScript kept as a TS string so it ships in dist/
// with no bundler. It must not contain backticks or dollar-brace (it lives in a template literal).
// Every server value reaches the DOM through textContent, never innerHTML.

/** JavaScript of the admin page, served at `<prefix>/admin.js`. */
export const ADMIN_JS = String.raw`
(function () {
  "use strict";
  var doc = document.documentElement;
  var API = doc.getAttribute("data-api") || "/admin/api";
  var REFRESH_MS = Number(doc.getAttribute("data-refresh-ms")) || 2000;
  var TOKEN_KEY = "plughost.admin.token";
  var READONLY_KEY = "plughost.admin.readonly";

  var byId = function (id) { return document.getElementById(id); };
  var timer = null;
  var selected = null;
  var rows = new Map();
  var previous = new Map(); // name -> { calls, at } for the calls-per-second column
  var latest = new Map(); // name -> the plugin's last entry from the list, for the detail panel
  var busy = false;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function readOnly() { return sessionStorage.getItem(READONLY_KEY) === "1"; }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function AuthRequired(message) { this.message = message; }

  // One request to the admin API. 401 ends the session; 403 is returned to the caller.
  async function api(method, path) {
    var res;
    try {
      res = await fetch(API + path, {
        method: method,
        headers: { authorization: "Bearer " + token(), accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (err) {
      throw new Error("the server did not answer (" + (err && err.message ? err.message : err) + ")");
    }
    if (res.status === 401) throw new AuthRequired("That token was refused (401). Enter a valid token.");
    var body = null;
    var text = await res.text();
    if (text) { try { body = JSON.parse(text); } catch (e) { body = { message: text }; } }
    return { status: res.status, ok: res.ok, body: body };
  }

  function errorText(r) {
    // The admin API answers { error: "E_...", message }; fastify's own errors { code, error, message }.
    var b = r.body || {};
    var code = b.code || b.error || "";
    return "HTTP " + r.status + (code ? " " + code : "") + (b.message ? ": " + b.message : "");
  }

  function fmtNs(ns) {
    if (typeof ns !== "number" || !isFinite(ns) || ns <= 0) return "\u2013";
    if (ns < 1e3) return Math.round(ns) + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : 1) + " \u00b5s";
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + " ms";
    return (ns / 1e9).toFixed(2) + " s";
  }
  function fmtCount(n) { return typeof n === "number" ? n.toLocaleString("en-US") : "\u2013"; }
  function fmtTime(v) {
    if (v === undefined || v === null || v === "") return "";
    var d = typeof v === "number" ? new Date(v > 1e14 ? v / 1e6 : v) : new Date(v);
    if (isNaN(d.getTime())) return String(v);
    return d.toISOString().slice(11, 23);
  }

  function showLogin(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(READONLY_KEY);
    byId("dashboard").hidden = true;
    byId("logout").hidden = true;
    byId("login").hidden = false;
    var err = byId("login-error");
    err.textContent = message || "";
    err.hidden = !message;
    byId("status").textContent = "";
    notice("");
    rows.forEach(function (tr) { tr.remove(); });
    rows.clear();
    previous.clear();
    latest.clear();
    selected = null;
    byId("detail").hidden = true;
    byId("token").focus();
  }

  function showDashboard() {
    byId("login").hidden = true;
    byId("dashboard").hidden = false;
    byId("logout").hidden = false;
    renderRole();
  }

  function renderRole() {
    var ro = readOnly();
    byId("role").textContent = ro ? "read-only token: actions are refused" : "";
    document.body.classList.toggle("read-only", ro);
  }

  // kind: "refused" (403 or a failed action), "done", or nothing for an action under way.
  function notice(message, kind) {
    var n = byId("notice");
    n.textContent = message || "";
    n.hidden = !message;
    n.classList.toggle("refused", kind === "refused");
    n.classList.toggle("done", kind === "done");
  }

  function stop() { if (timer) { clearTimeout(timer); timer = null; } }
  function schedule() {
    stop();
    if (byId("auto").checked && token()) timer = setTimeout(tick, REFRESH_MS);
  }
  async function tick() {
    try { await refresh(); } finally { schedule(); }
  }

  async function refresh() {
    if (!token()) return false;
    try {
      var r = await api("GET", "/plugins");
      if (!r.ok) { byId("status").textContent = "plugin list failed: " + errorText(r); return false; }
      renderPlugins((r.body && r.body.plugins) || []);
      if (selected) await renderDetail(selected);
      byId("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      byId("status").textContent = "";
      return true;
    } catch (err) {
      if (err instanceof AuthRequired) { showLogin(err.message); return false; }
      byId("status").textContent = String(err && err.message ? err.message : err);
      return false;
    }
  }

  var COLUMNS = ["name", "version", "engine", "state", "health", "calls", "rate", "errors", "p50", "p99", "actions"];

  function makeRow(name) {
    var tr = el("tr", { "data-plugin": name });
    COLUMNS.forEach(function (c) {
      var td = el("td", { "data-col": c });
      if (["calls", "rate", "errors", "p50", "p99"].indexOf(c) >= 0) td.className = "num";
      if (c === "name") {
        var b = el("button", { type: "button", "class": "link", "data-action": "select", title: "Show violations and logs" }, name);
        td.appendChild(b);
      }
      if (c === "actions") {
        td.className = "actions";
        ["suspend", "resume", "reload"].forEach(function (a) {
          td.appendChild(el("button", { type: "button", "data-action": a }, a[0].toUpperCase() + a.slice(1)));
        });
      }
      tr.appendChild(td);
    });
    return tr;
  }

  function setCell(tr, col, text, cls, title) {
    var td = tr.querySelector('td[data-col="' + col + '"]');
    if (cls !== undefined) {
      var span = td.firstChild;
      if (!span) { span = el("span"); td.appendChild(span); }
      span.className = cls;
      span.textContent = text;
      if (title) span.title = title; else span.removeAttribute("title");
    } else {
      td.textContent = text;
    }
  }

  function renderPlugins(list) {
    var tbody = byId("plugins").tBodies[0];
    var seen = new Set();
    var now = performance.now();
    var ro = readOnly();
    list.forEach(function (p) {
      seen.add(p.name);
      latest.set(p.name, p);
      var tr = rows.get(p.name);
      if (!tr) { tr = makeRow(p.name); rows.set(p.name, tr); tbody.appendChild(tr); }
      var health = p.health || { status: "unknown", reasons: [] };
      var reasons = (health.reasons || []).join("; ");
      setCell(tr, "version", p.version || "");
      setCell(tr, "engine", p.engine || "");
      setCell(tr, "state", p.state, "badge state-" + p.state);
      setCell(tr, "health", health.status, "badge health-" + health.status, reasons);
      setCell(tr, "calls", fmtCount(p.calls));
      setCell(tr, "errors", fmtCount(p.errors));
      var prev = previous.get(p.name);
      var rate = "\u2013";
      if (prev && now > prev.at && typeof p.calls === "number" && p.calls >= prev.calls) {
        rate = ((p.calls - prev.calls) / ((now - prev.at) / 1000)).toFixed(1);
      }
      previous.set(p.name, { calls: p.calls, at: now });
      setCell(tr, "rate", rate);
      var lat = p.latency || {};
      setCell(tr, "p50", fmtNs(lat.p50Ns));
      setCell(tr, "p99", fmtNs(lat.p99Ns));
      tr.setAttribute("data-state", p.state);
      tr.classList.toggle("selected", selected === p.name);
      var can = { suspend: p.state === "active", resume: p.state === "suspended", reload: p.state === "active" || p.state === "suspended" };
      tr.querySelectorAll("td.actions button").forEach(function (b) {
        var a = b.getAttribute("data-action");
        b.disabled = busy || ro || !can[a];
        b.title = ro ? "This token may only read (403)" : can[a] ? a + " " + p.name : "not possible while " + p.state;
      });
    });
    rows.forEach(function (tr, name) {
      if (!seen.has(name)) { tr.remove(); rows.delete(name); previous.delete(name); latest.delete(name); }
    });
    byId("empty").hidden = list.length > 0;
    if (selected && !seen.has(selected)) { selected = null; byId("detail").hidden = true; }
  }

  // Entries come as an array or as an object holding one; each is shown as time, kind and text.
  function entriesOf(body) {
    if (Array.isArray(body)) return body;
    if (body && typeof body === "object") {
      for (var k in body) if (Array.isArray(body[k])) return body[k];
    }
    return [];
  }
  function pick(o, keys) {
    for (var i = 0; i < keys.length; i++) if (o[keys[i]] !== undefined && o[keys[i]] !== null) return o[keys[i]];
    return undefined;
  }
  function fillList(id, r, what) {
    var ol = byId(id);
    ol.replaceChildren();
    if (!r.ok) {
      ol.appendChild(el("li", { "class": "none" }, r.status === 403 ? what + ": refused (403)" : what + " failed: " + errorText(r)));
      return;
    }
    var items = entriesOf(r.body).slice(-50).reverse();
    if (!items.length) { ol.appendChild(el("li", { "class": "none" }, "no " + what)); return; }
    items.forEach(function (e) {
      var li = el("li");
      if (e && typeof e === "object") {
        var t = pick(e, ["time", "timestamp", "at", "ts"]);
        var k = pick(e, ["level", "kind", "code", "type"]);
        var m = pick(e, ["message", "msg", "detail", "text"]);
        if (t !== undefined) li.appendChild(el("span", { "class": "t" }, fmtTime(t)));
        if (k !== undefined) li.appendChild(el("span", { "class": "k" }, k));
        li.appendChild(document.createTextNode(m !== undefined ? String(m) : JSON.stringify(e)));
      } else {
        li.textContent = String(e);
      }
      ol.appendChild(li);
    });
  }

  async function renderDetail(name) {
    var enc = encodeURIComponent(name);
    var results = await Promise.all([api("GET", "/plugins/" + enc + "/violations"), api("GET", "/plugins/" + enc + "/logs")]);
    if (selected !== name) return;
    byId("detail-name").textContent = name;
    var h = (latest.get(name) || {}).health || { status: "unknown", reasons: [] };
    byId("detail-health").textContent = "health " + h.status + ((h.reasons || []).length ? ": " + h.reasons.join("; ") : "");
    fillList("violations", results[0], "violations");
    fillList("logs", results[1], "logs");
    byId("detail").hidden = false;
  }

  async function act(name, action) {
    busy = true;
    // No second click while this one is under way; the refresh after it sets the buttons again.
    document.querySelectorAll("td.actions button").forEach(function (b) { b.disabled = true; });
    notice(action + " " + name + "\u2026");
    try {
      var r = await api("POST", "/plugins/" + encodeURIComponent(name) + "/" + action);
      if (r.status === 403) {
        sessionStorage.setItem(READONLY_KEY, "1");
        renderRole();
        notice("Refused (403): this token may only read; " + action + " needs an admin token.", "refused");
      } else if (!r.ok) {
        notice(action + " " + name + " failed: " + errorText(r), "refused");
      } else {
        notice(name + ": " + action + " done", "done");
      }
    } catch (err) {
      if (err instanceof AuthRequired) { showLogin(err.message); return; }
      notice(action + " " + name + " failed: " + (err && err.message ? err.message : err), "refused");
    } finally {
      busy = false;
    }
    await refresh();
  }

  byId("login-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var value = byId("token").value.trim();
    if (!value) { byId("login-error").textContent = "Enter a token."; byId("login-error").hidden = false; return; }
    sessionStorage.setItem(TOKEN_KEY, value);
    sessionStorage.removeItem(READONLY_KEY);
    if (await refresh()) {
      byId("token").value = "";
      byId("login-error").hidden = true;
      showDashboard();
      schedule();
    }
  });

  byId("logout").addEventListener("click", function () { showLogin(""); });
  byId("auto").addEventListener("change", schedule);

  byId("plugins").addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b || b.disabled) return;
    var name = b.closest("tr").getAttribute("data-plugin");
    var action = b.getAttribute("data-action");
    if (action === "select") {
      selected = selected === name ? null : name;
      rows.forEach(function (tr, n) { tr.classList.toggle("selected", n === selected); });
      if (selected) renderDetail(selected).catch(function (err) {
        if (err instanceof AuthRequired) showLogin(err.message);
      });
      else byId("detail").hidden = true;
      return;
    }
    act(name, action);
  });

  // A token kept from earlier in this tab signs in again after a reload of the page.
  if (token()) {
    refresh().then(function (ok) { if (ok) { showDashboard(); schedule(); } });
  } else {
    showLogin("");
  }
})();
`;
