// The admin page's HTML shell. The script fills it from the admin JSON API after sign-in.

/** Where the page finds its assets and the admin API, and how often it refreshes. */
export interface AdminHtmlOptions {
  /** URL path the page's own assets are served under, e.g. `/admin`. */
  assetBase: string;
  /** URL path of the admin JSON API, e.g. `/admin/api`. */
  apiBase: string;
  /** Refresh period in milliseconds. */
  refreshMs: number;
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The admin page's HTML, with its asset and API paths written into attributes (escaped). */
export function adminHtml(o: AdminHtmlOptions): string {
  const assets = escapeAttr(o.assetBase);
  return `<!doctype html>
<html lang="en" data-api="${escapeAttr(o.apiBase)}" data-refresh-ms="${Math.max(250, Math.floor(o.refreshMs))}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>plughost admin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets}/admin.css">
<script src="${assets}/admin.js" defer></script>
</head>
<body>
<header>
  <h1>plughost admin</h1>
  <span id="status" role="status"></span>
  <button type="button" id="logout" hidden>Sign out</button>
</header>
<main>
  <section id="login">
    <form id="login-form" autocomplete="off">
      <label for="token">Admin API bearer token</label>
      <input id="token" name="token" type="password" spellcheck="false" autocomplete="off">
      <button type="submit" class="primary">Sign in</button>
      <p id="login-error" class="error" role="alert" hidden></p>
    </form>
  </section>
  <section id="dashboard" hidden>
    <div class="toolbar">
      <strong>Plugins</strong>
      <span id="role"></span>
      <span class="spacer"></span>
      <label><input type="checkbox" id="auto" checked> auto-refresh</label>
      <span id="updated"></span>
    </div>
    <p id="notice" role="alert" hidden></p>
    <table id="plugins">
      <thead><tr>
        <th>Plugin</th><th>Version</th><th>Engine</th><th>State</th><th>Health</th>
        <th>Calls</th><th>Calls/s</th><th>Errors</th><th>p50</th><th>p99</th><th>Actions</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <p id="empty" hidden>No plugins loaded.</p>
    <section id="detail" hidden>
      <h2 id="detail-name"></h2>
      <p id="detail-health" class="reasons"></p>
      <div class="cols">
        <div><h3>Recent violations</h3><ol id="violations"></ol></div>
        <div><h3>Recent logs</h3><ol id="logs"></ol></div>
      </div>
    </section>
  </section>
</main>
</body>
</html>
`;
}
