// The admin page's stylesheet, kept as a TS string so it ships in dist/ with no copy step.

/** CSS of the admin page, served at `<prefix>/admin.css`. */
export const ADMIN_CSS = String.raw`
:root {
  color-scheme: light;
  --fg: #1d2430; --muted: #5b6678; --line: #d9dee7; --bg: #f6f7f9; --card: #fff;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0b5fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #1d2430; color: #fff; }
header h1 { font-size: 1.05rem; margin: 0; font-weight: 600; letter-spacing: .02em; }
header #status { flex: 1; color: #c8d1e0; font-size: .85rem; }
main { padding: 1.2rem; max-width: 1200px; margin: 0 auto; }
button { font: inherit; padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 5px; background: var(--card); color: var(--fg); cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: .45; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.link { border: 0; background: none; padding: 0; color: var(--accent); font-weight: 600; }
#login form { max-width: 380px; margin: 3rem auto; padding: 1.4rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px; display: grid; gap: .6rem; }
#login input { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 5px; }
.error { color: var(--bad); margin: 0; }
.toolbar { display: flex; gap: 1rem; align-items: center; margin-bottom: .8rem; color: var(--muted); }
.toolbar .spacer { flex: 1; }
#notice { padding: .5rem .8rem; border-radius: 5px; background: #fff8c5; border: 1px solid #d4a72c; margin: 0 0 .8rem; }
#notice.refused { background: #ffebe9; border-color: #ff8182; }
#notice.done { background: #dafbe1; border-color: #4ac26b; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: #eef1f5; font-weight: 600; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.selected td { background: #eaf1ff; }
td.actions button + button { margin-left: .3rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.state-active, .health-healthy { color: var(--ok); }
.state-suspended, .health-warning { color: var(--warn); }
.health-critical, .state-error { color: var(--bad); }
.state-unloaded, .state-loading, .state-loaded, .state-initializing, .state-stopping, .state-stopped, .state-unloading, .health-unknown { color: var(--muted); }
#detail { margin-top: 1.2rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1.1rem; }
#detail h2 { margin: 0 0 .4rem; font-size: 1.05rem; }
#detail .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; }
#detail h3 { font-size: .85rem; text-transform: uppercase; color: var(--muted); margin: .6rem 0 .3rem; }
#detail ol { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow: auto; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
#detail li { padding: .15rem 0; border-bottom: 1px dashed var(--line); white-space: pre-wrap; word-break: break-word; }
#detail li .t { color: var(--muted); margin-right: .5rem; }
#detail li .k { font-weight: 700; margin-right: .5rem; }
#detail li.none { color: var(--muted); border: 0; }
#detail .reasons { color: var(--muted); margin: 0; }
@media (max-width: 800px) { #detail .cols { grid-template-columns: 1fr; } }
`;
