/**
 * The panel's single page: markup, styles and a small script (no framework, no build step).
 * The script talks to the API with the token from a `<meta>` tag and follows the host's state
 * over server-sent events. Every text from the host goes in with `textContent`, never as HTML.
 */

export interface PageInit {
  /** Per-response CSP nonce for the inline style and script. */
  nonce: string
  /** The panel token, for the script's API calls. */
  token: string
}

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

export function renderPage({ nonce, token }: PageInit): string {
  const n = escapeAttribute(nonce)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="panel-token" content="${escapeAttribute(token)}">
<meta name="referrer" content="no-referrer">
<title>p2p-llm · Share your model</title>
<style nonce="${n}">${STYLE}</style>
</head>
<body>
${BODY}
<script nonce="${n}">${SCRIPT}</script>
</body>
</html>
`
}

const LOGO = `<svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
<circle cx="7" cy="16" r="4.5"/><circle cx="25" cy="7" r="4.5"/><circle cx="25" cy="25" r="4.5"/>
<path d="M11 14.2 21 8.8M11 17.8l10 5.4M25 11.5v9" fill="none" stroke-width="2.4" stroke-linecap="round"/>
</svg>`

const BODY = `<header class="topbar">
  <div class="brand">${LOGO}<div><h1>p2p-llm</h1><p>Share your local model, peer to peer</p></div></div>
  <div class="topbar-right">
    <div id="status" class="status" data-status="stopped" role="status" aria-live="polite">
      <span class="dot"></span><span id="status-text">Not sharing</span>
    </div>
    <button id="toggle" class="btn btn-primary btn-lg" type="button">Start P2P Sharing</button>
  </div>
</header>
<div id="banner" class="banner" role="alert" hidden><span id="banner-text"></span><button id="banner-close" class="btn-link" type="button" aria-label="Dismiss">✕</button></div>
<main class="layout">
  <section class="card settings" aria-labelledby="settings-title">
    <div class="card-head"><h2 id="settings-title">Settings</h2><span id="restart-hint" class="hint-pill" hidden>Restart sharing to apply</span></div>
    <form id="settings-form" class="settings-form" autocomplete="off" novalidate>
      <div class="card-body scroll">
      <div class="field">
        <label for="signalling">Signalling server</label>
        <input id="signalling" name="signalling" placeholder="Built-in hub (leave blank)" spellcheck="false">
        <small>A <code>p2p-llm relay</code> both sides can reach (<code>host:port</code>). Blank: this machine is the hub; guests dial it directly.</small>
      </div>
      <div class="field">
        <span class="label">Backend</span>
        <div class="segmented" role="radiogroup" aria-label="Backend">
          <label><input type="radio" name="backend" value="llama-cpp" checked><span>llama.cpp</span></label>
          <label><input type="radio" name="backend" value="openai"><span>OpenAI API</span></label>
          <label><input type="radio" name="backend" value="gguf"><span>GGUF file</span></label>
        </div>
      </div>
      <div class="field" data-backend="llama-cpp">
        <label for="llamaEndpoint">llama.cpp endpoint</label>
        <input id="llamaEndpoint" name="llamaEndpoint" placeholder="http://127.0.0.1:8080 or /path/to/llama.sock" spellcheck="false">
        <small>The URL of <code>llama-server</code>, or the path of its Unix socket.</small>
      </div>
      <div data-backend="openai">
        <div class="field">
          <label for="openaiBaseURL">Server base URL</label>
          <input id="openaiBaseURL" name="openaiBaseURL" placeholder="http://127.0.0.1:11434/v1" spellcheck="false">
        </div>
        <div class="field-row">
          <div class="field"><label for="openaiModel">Model</label><input id="openaiModel" name="openaiModel" placeholder="server default" spellcheck="false"></div>
          <div class="field"><label for="openaiKey">Server key</label><input id="openaiKey" name="openaiKey" type="password" placeholder="none"></div>
        </div>
      </div>
      <div class="field" data-backend="gguf">
        <label for="modelPath">GGUF file</label>
        <input id="modelPath" name="modelPath" placeholder="/home/me/models/model.gguf" spellcheck="false">
        <small>Runs inside the panel's process (needs the <code>node-llama-cpp</code> package).</small>
      </div>
      <div class="health" id="health" data-ok="unknown">
        <span class="dot"></span>
        <div class="health-text"><strong id="health-title">Backend not checked</strong><span id="health-detail"></span></div>
        <button id="health-check" class="btn btn-small" type="button">Check</button>
      </div>
      <div class="field">
        <label for="apiKey">API key</label>
        <div class="input-group">
          <input id="apiKey" name="apiKey" type="password" placeholder="No key: open to anyone with the URL" spellcheck="false">
          <button id="apiKey-show" class="btn btn-small" type="button" aria-pressed="false">Show</button>
        </div>
        <small>Guests must send this key. Share it separately from the URL.</small>
      </div>
      <div class="field">
        <label for="maxConnections">Max connections</label>
        <div class="range-row">
          <input id="maxConnectionsRange" type="range" min="1" max="10" value="10" aria-label="Max connections">
          <input id="maxConnections" name="maxConnections" type="number" min="1" max="10" value="10">
        </div>
        <label class="check"><input id="allowMoreConnections" name="allowMoreConnections" type="checkbox"> Allow more than 10</label>
      </div>
      <label class="check"><input id="logPrompts" name="logPrompts" type="checkbox"> Show prompts in the request log</label>
      <details class="field advanced">
        <summary>Advanced</summary>
        <div class="field">
          <label for="hubPort">Hub port</label>
          <input id="hubPort" name="hubPort" type="number" min="0" max="65535" value="0">
          <small>WebSocket port of the built-in hub; 0 picks a free one. Fix it to forward a port on your router.</small>
        </div>
        <small class="muted" id="config-path"></small>
      </details>
      </div>
      <div class="form-actions"><span id="save-status" class="muted" aria-live="polite"></span><button id="save" class="btn" type="submit">Save settings</button></div>
    </form>
  </section>
  <div class="main-col">
    <section class="card share" aria-labelledby="share-title">
      <div class="share-main">
        <div class="card-head"><h2 id="share-title">Share URL</h2></div>
        <div class="url-row">
          <div id="share-url" class="share-url" data-url="" aria-label="Share URL">Start sharing to get a URL</div>
          <button id="copy" class="btn" type="button" disabled>Copy</button>
        </div>
        <dl class="facts">
          <dt>Backend</dt><dd id="fact-backend">—</dd>
          <dt>Model</dt><dd id="fact-model">—</dd>
          <dt>Peer id</dt><dd id="fact-peer" class="mono">—</dd>
        </dl>
        <div class="stats">
          <div><span id="stat-guests">0</span><label>guests</label></div>
          <div><span id="stat-active">0</span><label>running</label></div>
          <div><span id="stat-done">0</span><label>answered</label></div>
          <div><span id="stat-tokens">0</span><label>tokens</label></div>
          <div><span id="stat-failed">0</span><label>failed</label></div>
        </div>
      </div>
      <div class="qr-box"><img id="qr" alt="QR code of the share URL" hidden><span id="qr-empty">QR code appears when sharing</span></div>
    </section>
    <section class="card peers" aria-labelledby="peers-title">
      <div class="card-head"><h2 id="peers-title">Connected peers</h2><span id="peers-count" class="count">0</span></div>
      <div class="card-body scroll">
        <table class="table" id="peers-table">
          <thead><tr><th>Peer</th><th>Kind</th><th>Connected</th><th class="num">Requests</th><th class="actions"></th></tr></thead>
          <tbody id="peers-body"></tbody>
        </table>
        <p id="peers-empty" class="empty">No one is connected.</p>
        <div id="blocked" class="blocked" hidden><span class="muted">Blocked:</span><span id="blocked-list"></span></div>
      </div>
    </section>
    <section class="card log" aria-labelledby="log-title">
      <div class="card-head"><h2 id="log-title">Request log</h2><span id="log-prompts-note" class="muted small">Prompts hidden</span></div>
      <div class="card-body scroll">
        <table class="table" id="log-table">
          <thead><tr><th>Time</th><th>Peer</th><th>Kind</th><th class="num">Tokens</th><th class="num">Duration</th><th>Result</th></tr></thead>
          <tbody id="log-body"></tbody>
        </table>
        <p id="log-empty" class="empty">Requests will show up here.</p>
      </div>
    </section>
  </div>
</main>`

const STYLE = `
:root {
  --bg: #f3f5f9; --card: #fff; --border: #e2e6ee; --text: #18202c; --muted: #6b7687;
  --accent: #4f46e5; --accent-hover: #4338ca; --accent-soft: #eef0ff;
  --ok: #15803d; --ok-soft: #e8f6ed; --warn: #b45309; --warn-soft: #fdf3e1;
  --err: #c2410c; --err-strong: #dc2626; --err-soft: #fdecec; --info: #1d6fd8; --info-soft: #e7f0fd;
  --radius: 10px; --shadow: 0 1px 2px rgba(16,24,40,.05), 0 1px 3px rgba(16,24,40,.06);
  color-scheme: light;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f131a; --card: #171c25; --border: #2a3140; --text: #e6e9ef; --muted: #98a2b3;
    --accent: #7c83ff; --accent-hover: #959bff; --accent-soft: #22264a;
    --ok: #4ade80; --ok-soft: #15301f; --warn: #fbbf24; --warn-soft: #3a2c10;
    --err: #fb923c; --err-strong: #f87171; --err-soft: #3b1c1c; --info: #60a5fa; --info-soft: #172a45;
    color-scheme: dark;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body { background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; display: flex; flex-direction: column; }
code, .mono, input[readonly] { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
code { font-size: 12px; background: var(--bg); padding: 0 4px; border-radius: 4px; }
h1, h2 { margin: 0; }
.topbar { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--border); }
.brand { display: flex; align-items: center; gap: 12px; }
.brand h1 { font-size: 18px; letter-spacing: -.01em; }
.brand p { margin: 0; color: var(--muted); font-size: 13px; }
.logo { width: 34px; height: 34px; fill: var(--accent); stroke: var(--accent); }
.topbar-right { display: flex; align-items: center; gap: 16px; }
.status { display: inline-flex; align-items: center; gap: 8px; padding: 6px 12px; border-radius: 999px; background: var(--bg); color: var(--muted); font-weight: 600; font-size: 13px; }
.status .dot, .health .dot { width: 9px; height: 9px; border-radius: 50%; background: currentColor; flex: none; }
.status[data-status="sharing"] { background: var(--ok-soft); color: var(--ok); }
.status[data-status="sharing"] .dot { animation: pulse 2s infinite; }
.status[data-status="starting"], .status[data-status="stopping"] { background: var(--warn-soft); color: var(--warn); }
.status[data-status="starting"] .dot, .status[data-status="stopping"] .dot { animation: blink 1s infinite; }
@keyframes pulse { 0% { box-shadow: 0 0 0 0 rgba(21,128,61,.45); } 70% { box-shadow: 0 0 0 7px rgba(21,128,61,0); } 100% { box-shadow: 0 0 0 0 rgba(21,128,61,0); } }
@keyframes blink { 50% { opacity: .3; } }
.btn { font: inherit; font-weight: 600; font-size: 13px; border: 1px solid var(--border); background: var(--card); color: var(--text); border-radius: 8px; padding: 7px 14px; cursor: pointer; white-space: nowrap; transition: background .15s, border-color .15s, color .15s; }
.btn:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
.btn:disabled { opacity: .5; cursor: default; }
.btn:focus-visible, input:focus-visible, summary:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.btn-primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn-primary:hover:not(:disabled) { background: var(--accent-hover); color: #fff; }
.btn-stop { background: var(--card); border-color: var(--err-strong); color: var(--err-strong); }
.btn-stop:hover:not(:disabled) { background: var(--err-soft); border-color: var(--err-strong); color: var(--err-strong); }
.btn-lg { padding: 10px 20px; font-size: 14px; min-width: 190px; }
.btn-small { padding: 4px 10px; font-size: 12px; }
.btn-danger:hover:not(:disabled) { border-color: var(--err-strong); color: var(--err-strong); }
.btn-link { border: 0; background: none; color: inherit; cursor: pointer; font-size: 14px; }
.banner { display: flex; justify-content: space-between; align-items: center; gap: 12px; margin: 12px 24px 0; padding: 10px 14px; border-radius: var(--radius); background: var(--err-soft); color: var(--err-strong); border: 1px solid color-mix(in srgb, var(--err-strong) 30%, transparent); font-weight: 500; }
.banner[data-kind="warn"] { background: var(--warn-soft); color: var(--warn); }
.banner[hidden] { display: none; }
.layout { flex: 1; min-height: 0; display: grid; grid-template-columns: 380px minmax(0, 1fr); gap: 16px; padding: 16px 24px 20px; }
.main-col { display: grid; grid-template-rows: auto minmax(150px, 1fr) minmax(180px, 1.4fr); gap: 16px; min-height: 0; }
.card { min-width: 0; background: var(--card); border: 1px solid var(--border); border-radius: var(--radius); box-shadow: var(--shadow); display: flex; flex-direction: column; min-height: 0; }
.card-head { display: flex; align-items: center; gap: 10px; padding: 14px 18px 10px; }
.card-head h2 { font-size: 15px; font-weight: 650; }
.card-body { padding: 0 18px 16px; }
.scroll { overflow: auto; min-height: 0; flex: 1; }
.count { background: var(--accent-soft); color: var(--accent); border-radius: 999px; padding: 1px 9px; font-size: 12px; font-weight: 700; }
.hint-pill { margin-left: auto; background: var(--warn-soft); color: var(--warn); border-radius: 999px; padding: 2px 10px; font-size: 12px; font-weight: 600; }
.hint-pill[hidden] { display: none; }
.muted { color: var(--muted); }
.small { font-size: 12px; margin-left: auto; }
.field { display: flex; flex-direction: column; gap: 5px; margin-bottom: 14px; }
.field label, .field .label { font-weight: 600; font-size: 13px; }
.field small { color: var(--muted); font-size: 12px; }
.field-row { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
input[type=text], input:not([type]), input[type=password], input[type=number] { font: inherit; width: 100%; padding: 7px 10px; border: 1px solid var(--border); border-radius: 7px; background: var(--card); color: var(--text); }
input::placeholder { color: color-mix(in srgb, var(--muted) 75%, transparent); }
input[readonly] { background: var(--bg); font-size: 13px; }
.input-group { display: flex; gap: 6px; }
.segmented { display: grid; grid-template-columns: repeat(3, 1fr); border: 1px solid var(--border); border-radius: 8px; padding: 3px; gap: 3px; background: var(--bg); }
.segmented label { position: relative; cursor: pointer; }
.segmented input { position: absolute; opacity: 0; pointer-events: none; }
.segmented span { display: block; text-align: center; padding: 5px 4px; border-radius: 6px; font-size: 12px; font-weight: 600; color: var(--muted); }
.segmented input:checked + span { background: var(--card); color: var(--text); box-shadow: var(--shadow); }
.segmented input:focus-visible + span { outline: 2px solid var(--accent); }
[data-backend][hidden] { display: none; }
.range-row { display: flex; align-items: center; gap: 12px; }
.range-row input[type=range] { flex: 1; accent-color: var(--accent); }
.range-row input[type=number] { width: 76px; }
.range-row input[type=range][hidden] { display: none; }
.check { display: flex; align-items: center; gap: 8px; font-size: 13px; font-weight: 500 !important; margin-bottom: 10px; cursor: pointer; }
.check input { accent-color: var(--accent); width: 15px; height: 15px; }
.health { display: flex; align-items: center; gap: 10px; padding: 9px 12px; border-radius: 8px; background: var(--bg); margin-bottom: 16px; color: var(--muted); }
.health[data-ok="true"] { background: var(--ok-soft); color: var(--ok); }
.health[data-ok="false"] { background: var(--err-soft); color: var(--err-strong); }
.health-text { display: flex; flex-direction: column; min-width: 0; flex: 1; font-size: 12px; }
.health-text strong { font-size: 13px; }
.health-text span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
.advanced summary { cursor: pointer; font-weight: 600; font-size: 13px; color: var(--muted); margin-bottom: 8px; }
.settings-form { display: flex; flex-direction: column; min-height: 0; flex: 1; }
.form-actions { display: flex; align-items: center; justify-content: flex-end; gap: 12px; padding: 12px 18px; border-top: 1px solid var(--border); }
.share { flex-direction: row; gap: 18px; padding-right: 18px; }
.share-main { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.share .card-head { padding-bottom: 8px; }
.url-row { display: flex; gap: 8px; padding: 0 18px; }
.url-row { align-items: flex-start; }
.share-url { flex: 1; min-width: 0; font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13.5px; line-height: 1.45; padding: 7px 10px; border: 1px solid color-mix(in srgb, var(--accent) 35%, transparent); border-radius: 7px; background: var(--accent-soft); color: var(--text); word-break: break-all; user-select: all; }
.share-url[data-url=""] { user-select: none; background: var(--bg); border-color: var(--border); color: var(--muted); font-family: inherit; }
.facts { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 3px 14px; margin: 12px 18px 0; align-items: baseline; }
.facts dt { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; font-weight: 600; }
.facts dd { margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-size: 13px; }
.stats { display: flex; gap: 8px; margin: 12px 18px 16px; }
.stats div { flex: 1; background: var(--bg); border-radius: 8px; padding: 6px 10px; display: flex; flex-direction: column; }
.stats span { font-size: 18px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }
.stats label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .04em; font-weight: 600; }
.qr-box { width: 176px; flex: none; display: flex; align-items: center; justify-content: center; margin: 16px 0; border: 1px dashed var(--border); border-radius: 8px; color: var(--muted); font-size: 12px; text-align: center; padding: 8px; }
.qr-box img { width: 156px; height: 156px; image-rendering: pixelated; background: #fff; border-radius: 4px; }
.qr-box:has(img:not([hidden])) { border-style: solid; background: #fff; }
.table { width: 100%; border-collapse: collapse; font-size: 13px; }
.table th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--border); position: sticky; top: 0; background: var(--card); }
.table td { padding: 7px 8px; border-bottom: 1px solid var(--border); vertical-align: middle; }
.table tr:last-child td { border-bottom: 0; }
.table .num { text-align: right; font-variant-numeric: tabular-nums; }
.table .actions { text-align: right; white-space: nowrap; }
.table .actions .btn + .btn { margin-left: 6px; }
.table tbody tr { transition: background .3s; }
.table tbody tr.fresh { background: var(--accent-soft); }
.peer { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.addr { display: block; color: var(--muted); font-size: 11.5px; font-family: ui-monospace, Menlo, Consolas, monospace; max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11.5px; font-weight: 650; background: var(--bg); color: var(--muted); }
.badge-direct { background: var(--ok-soft); color: var(--ok); }
.badge-webrtc { background: var(--info-soft); color: var(--info); }
.badge-relayed { background: var(--warn-soft); color: var(--warn); }
.result-ok { color: var(--ok); font-weight: 600; }
.result-running { color: var(--info); font-weight: 600; }
.result-error { color: var(--err-strong); font-weight: 600; }
.result-detail { color: var(--muted); font-weight: 400; margin-left: 4px; }
.prompt-row td { padding-top: 0; color: var(--muted); font-style: italic; border-bottom: 1px solid var(--border); }
tr.has-prompt td { border-bottom: 0; }
.empty { color: var(--muted); text-align: center; margin: 18px 0 8px; }
.empty[hidden] { display: none; }
.blocked { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 12px; padding-top: 10px; border-top: 1px dashed var(--border); font-size: 12px; }
.blocked[hidden] { display: none; }
.chip { display: inline-flex; align-items: center; gap: 6px; background: var(--err-soft); color: var(--err-strong); border-radius: 999px; padding: 2px 4px 2px 10px; }
.chip button { border: 0; background: var(--card); color: var(--text); border-radius: 999px; font: inherit; font-size: 11px; padding: 1px 8px; cursor: pointer; }
@media (max-width: 900px) {
  body { height: auto; }
  .layout { grid-template-columns: minmax(0, 1fr); padding: 12px; }
  .topbar { padding: 10px 12px; flex-wrap: wrap; }
  .main-col { grid-template-rows: auto; }
  .share { flex-direction: column; padding-right: 0; }
  .qr-box { margin: 0 18px 16px; width: auto; }
  .scroll { overflow: visible; }
}
`

// Plain JavaScript (no build step): no template literals, so it can live in this one.
const SCRIPT = `
'use strict';
(function () {
  var token = document.querySelector('meta[name="panel-token"]').getAttribute('content');
  // The token has done its job in the address bar: the cookie and this page carry it now.
  if (location.search.indexOf('token=') !== -1) history.replaceState(null, '', location.pathname);
  var $ = function (id) { return document.getElementById(id); };
  var form = $('settings-form');
  var state = null;
  var settings = null;
  var dirty = false;
  var seenPeers = new Set();
  var firstPeersRender = true;
  var shownError;
  var LOST = 'Lost the connection to the panel; retrying…';

  function api(method, path, body) {
    var init = { method: method, headers: { 'x-panel-token': token } };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
        return data;
      });
    });
  }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (key) {
      if (key === 'text') node.textContent = props[key];
      else if (key === 'className') node.className = props[key];
      else if (key === 'dataset') Object.assign(node.dataset, props[key]);
      else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), props[key]);
      else node.setAttribute(key, props[key]);
    });
    (children || []).forEach(function (child) { if (child != null) node.append(child); });
    return node;
  }

  function shortPeer(id) { return id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id; }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function clock(ms) { var d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
  function duration(ms) {
    if (ms == null) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  }
  function ago(since) {
    var s = Math.max(0, Math.round((Date.now() - since) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ago';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min ago';
  }
  function baseName(path) { return String(path).split(/[\\/]/).pop(); }
  function withoutPeerId(address) { return address.replace(/\\/p2p\\/[^/]+$/, ''); }
  function number(n) { return (n || 0).toLocaleString(); }

  // ---- settings form ----
  function backendChoice() { return form.querySelector('input[name=backend]:checked').value; }
  function showBackendFields() {
    var choice = backendChoice();
    form.querySelectorAll('[data-backend]').forEach(function (node) { node.hidden = node.dataset.backend !== choice; });
  }
  function syncConnectionsRange() {
    var more = $('allowMoreConnections').checked;
    var input = $('maxConnections');
    input.max = more ? '250' : '10';
    if (!more && Number(input.value) > 10) input.value = '10';
    $('maxConnectionsRange').hidden = more;
    $('maxConnectionsRange').value = String(Math.min(10, Number(input.value) || 1));
  }
  function fillForm(s) {
    settings = s;
    ['signalling', 'llamaEndpoint', 'openaiBaseURL', 'openaiModel', 'openaiKey', 'modelPath', 'apiKey'].forEach(function (name) { $(name).value = s[name] || ''; });
    $('maxConnections').value = String(s.maxConnections);
    $('allowMoreConnections').checked = !!s.allowMoreConnections;
    $('logPrompts').checked = !!s.logPrompts;
    $('hubPort').value = String(s.hubPort || 0);
    var radio = form.querySelector('input[name=backend][value="' + s.backend + '"]');
    if (radio) radio.checked = true;
    showBackendFields();
    syncConnectionsRange();
    dirty = false;
  }
  function readForm() {
    return {
      signalling: $('signalling').value.trim(),
      backend: backendChoice(),
      llamaEndpoint: $('llamaEndpoint').value.trim(),
      openaiBaseURL: $('openaiBaseURL').value.trim(),
      openaiModel: $('openaiModel').value.trim(),
      openaiKey: $('openaiKey').value,
      modelPath: $('modelPath').value.trim(),
      apiKey: $('apiKey').value,
      maxConnections: Math.max(1, Math.round(Number($('maxConnections').value) || 1)),
      allowMoreConnections: $('allowMoreConnections').checked,
      logPrompts: $('logPrompts').checked,
      hubPort: Math.max(0, Math.round(Number($('hubPort').value) || 0))
    };
  }
  function saved(message) {
    $('save-status').textContent = message;
    clearTimeout(saved.timer);
    saved.timer = setTimeout(function () { $('save-status').textContent = ''; }, 2500);
  }
  function save() {
    return api('PUT', '/api/settings', readForm()).then(function (s) { fillForm(s); saved('Saved'); return s; });
  }
  form.addEventListener('input', function () { dirty = true; $('save-status').textContent = 'Unsaved changes'; });
  form.addEventListener('change', function (event) {
    if (event.target.name === 'backend') showBackendFields();
    if (event.target.id === 'allowMoreConnections') syncConnectionsRange();
  });
  $('maxConnectionsRange').addEventListener('input', function () { $('maxConnections').value = $('maxConnectionsRange').value; });
  $('maxConnections').addEventListener('input', function () { $('maxConnectionsRange').value = String(Math.min(10, Number($('maxConnections').value) || 1)); });
  form.addEventListener('submit', function (event) { event.preventDefault(); save().catch(showError); });
  $('apiKey-show').addEventListener('click', function () {
    var show = $('apiKey').type === 'password';
    $('apiKey').type = show ? 'text' : 'password';
    this.textContent = show ? 'Hide' : 'Show';
    this.setAttribute('aria-pressed', String(show));
  });
  $('health-check').addEventListener('click', function () {
    var button = this;
    button.disabled = true;
    var check = function () { return api('POST', '/api/health').then(renderHealth); };
    (dirty && (!state || state.status === 'stopped') ? save().then(check) : check())
      .catch(showError).finally(function () { button.disabled = false; });
  });

  // ---- actions ----
  $('toggle').addEventListener('click', function () {
    var button = this;
    button.disabled = true;
    hideBanner();
    var request = state && state.status === 'sharing'
      ? api('POST', '/api/sharing/stop')
      : api('POST', '/api/sharing/start', readForm()).then(function (snapshot) { dirty = false; saved('Saved'); return snapshot; });
    request.then(render).catch(showError).finally(function () { if (state) render(state); });
  });
  $('copy').addEventListener('click', function () {
    var url = $('share-url').dataset.url;
    if (!url) return;
    var done = function () { $('copy').textContent = 'Copied ✓'; setTimeout(function () { $('copy').textContent = 'Copy'; }, 1500); };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents($('share-url'));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      document.execCommand('copy');
      done();
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).then(done, fallback);
    else fallback();
  });
  $('banner-close').addEventListener('click', hideBanner);
  function peerAction(peerId, action) {
    return function () {
      this.disabled = true;
      api('POST', '/api/peers/' + encodeURIComponent(peerId) + '/' + action).then(render).catch(showError);
    };
  }

  // ---- rendering ----
  function showError(err) { showBanner(err && err.message ? err.message : String(err), 'error'); }
  function showBanner(message, kind) { $('banner-text').textContent = message; $('banner').dataset.kind = kind; $('banner').hidden = false; }
  function hideBanner() { $('banner').hidden = true; }

  var STATUS_TEXT = { stopped: 'Not sharing', starting: 'Starting…', sharing: 'Sharing', stopping: 'Stopping…' };
  function renderHealth(health) {
    var box = $('health');
    box.dataset.ok = health.ok == null ? 'unknown' : String(health.ok);
    $('health-title').textContent = health.ok == null ? 'Backend not checked' : health.ok ? 'Backend ready' : 'Backend not answering';
    $('health-detail').textContent = health.ok ? (health.model ? baseName(health.model) : health.message) : health.message;
    $('health-detail').title = health.model || health.message;
    $('fact-model').textContent = health.model ? baseName(health.model) : '—';
    $('fact-model').title = health.model || '';
  }

  function render(s) {
    state = s;
    var status = s.status;
    $('status').dataset.status = status;
    $('status-text').textContent = status === 'starting' && s.progress ? s.progress : STATUS_TEXT[status];
    var toggle = $('toggle');
    var sharing = status === 'sharing';
    toggle.textContent = sharing || status === 'stopping' ? 'Stop P2P Sharing' : 'Start P2P Sharing';
    toggle.className = 'btn btn-lg ' + (sharing || status === 'stopping' ? 'btn-stop' : 'btn-primary');
    toggle.disabled = status === 'starting' || status === 'stopping';
    // Each new error once (dismissing it sticks); the config warning until settings are saved.
    if (s.error && s.error !== shownError) showBanner(s.error, 'error');
    else if (!s.error && s.configWarning && s.configWarning !== shownError) showBanner(s.configWarning, 'warn');
    shownError = s.error || s.configWarning;
    $('restart-hint').hidden = !s.restartNeeded;
    $('config-path').textContent = 'Settings file: ' + s.configPath;

    $('share-url').dataset.url = s.shareUrl || '';
    $('share-url').textContent = s.shareUrl || 'Start sharing to get a URL';
    $('copy').disabled = !s.shareUrl;
    $('qr').hidden = !s.qrCode;
    $('qr-empty').hidden = !!s.qrCode;
    if (s.qrCode && $('qr').getAttribute('src') !== s.qrCode) $('qr').src = s.qrCode;
    $('fact-backend').textContent = s.backendLabel || '—';
    $('fact-backend').title = s.backendLabel || '';
    $('fact-peer').textContent = s.peerId ? shortPeer(s.peerId) : '—';
    $('fact-peer').title = s.peerId || '';
    renderHealth(s.health);

    var stats = s.stats || {};
    $('stat-guests').textContent = number(stats.guests) + (s.maxConnections ? ' / ' + s.maxConnections : '');
    $('stat-active').textContent = number(stats.activeRequests);
    $('stat-done').textContent = number(stats.completedRequests);
    $('stat-tokens').textContent = number(stats.tokensGenerated);
    $('stat-failed').textContent = number(stats.failedRequests);

    renderPeers(s.peers);
    renderBlocked(s.blockedPeers);
    renderLog(s.log);
  }

  function renderPeers(peers) {
    var body = $('peers-body');
    body.replaceChildren.apply(body, peers.map(function (peer) {
      var fresh = !firstPeersRender && !seenPeers.has(peer.peerId);
      seenPeers.add(peer.peerId);
      var row = el('tr', { dataset: { peer: peer.peerId }, className: fresh ? 'fresh' : '' }, [
        el('td', {}, [el('span', { className: 'peer', title: peer.peerId, text: shortPeer(peer.peerId) }), el('span', { className: 'addr', title: peer.remoteAddr, text: withoutPeerId(peer.remoteAddr) })]),
        el('td', {}, [el('span', { className: 'badge badge-' + peer.kind, text: peer.kind })]),
        el('td', { className: 'since', dataset: { since: String(peer.since) }, title: new Date(peer.since).toLocaleString(), text: ago(peer.since) }),
        el('td', { className: 'num', text: peer.activeRequests ? peer.totalRequests + ' (' + peer.activeRequests + ' running)' : String(peer.totalRequests) }),
        el('td', { className: 'actions' }, [
          el('button', { type: 'button', className: 'btn btn-small', text: 'Disconnect', dataset: { action: 'disconnect' }, onclick: peerAction(peer.peerId, 'disconnect') }),
          el('button', { type: 'button', className: 'btn btn-small btn-danger', text: 'Block', dataset: { action: 'block' }, onclick: peerAction(peer.peerId, 'block') })
        ])
      ]);
      if (fresh) setTimeout(function () { row.classList.remove('fresh'); }, 1200);
      return row;
    }));
    firstPeersRender = false;
    $('peers-count').textContent = String(peers.length);
    $('peers-empty').hidden = peers.length > 0;
    $('peers-empty').textContent = state.status === 'sharing' ? 'No one is connected yet. Send someone the share URL.' : 'Not sharing.';
    $('peers-table').hidden = peers.length === 0;
  }

  function renderBlocked(blocked) {
    var list = $('blocked-list');
    list.replaceChildren.apply(list, blocked.map(function (peerId) {
      return el('span', { className: 'chip', dataset: { blocked: peerId } }, [
        el('span', { className: 'peer', title: peerId, text: shortPeer(peerId) }),
        el('button', { type: 'button', text: 'Unblock', onclick: peerAction(peerId, 'unblock') })
      ]);
    }));
    $('blocked').hidden = blocked.length === 0;
  }

  function renderLog(entries) {
    var body = $('log-body');
    var rows = [];
    entries.slice().reverse().forEach(function (entry) {
      var result;
      if (entry.status === 'ok') result = el('span', { className: 'result-ok', text: 'OK' }, entry.timeToFirstToken != null ? [el('span', { className: 'result-detail', text: 'first token ' + duration(entry.timeToFirstToken) })] : []);
      else if (entry.status === 'running') result = el('span', { className: 'result-running', text: 'Running…' });
      else result = el('span', { className: 'result-error', title: entry.error ? entry.error.message : '', text: entry.error ? entry.error.code : 'Stopped' }, entry.error ? [el('span', { className: 'result-detail', text: entry.error.message })] : []);
      var kind = entry.kind ? entry.kind + (entry.stream ? ' · stream' : '') : '—';
      var hasPrompt = typeof entry.prompt === 'string';
      rows.push(el('tr', { className: hasPrompt ? 'has-prompt' : '', dataset: { request: entry.id != null ? String(entry.id) : '', peer: entry.peerId, status: entry.status } }, [
        el('td', { className: 'mono', text: clock(entry.time) }),
        el('td', {}, [el('span', { className: 'peer', title: entry.peerId, text: shortPeer(entry.peerId) })]),
        el('td', { text: kind }),
        el('td', { className: 'num', text: entry.tokens != null ? String(entry.tokens) : '—' }),
        el('td', { className: 'num', text: duration(entry.duration) }),
        el('td', {}, [result])
      ]));
      if (hasPrompt) rows.push(el('tr', { className: 'prompt-row' }, [el('td', { colspan: '6', text: '“' + entry.prompt + '”' })]));
    });
    body.replaceChildren.apply(body, rows);
    $('log-empty').hidden = entries.length > 0;
    $('log-table').hidden = entries.length === 0;
    $('log-prompts-note').textContent = settings && settings.logPrompts ? 'Prompts shown' : 'Prompts hidden';
  }

  setInterval(function () {
    document.querySelectorAll('td.since').forEach(function (cell) { cell.textContent = ago(Number(cell.dataset.since)); });
  }, 1000);

  // ---- start ----
  api('GET', '/api/state').then(function (data) {
    fillForm(data.settings);
    render(data.state);
    var events = new EventSource('/api/events');
    events.addEventListener('state', function (event) { render(JSON.parse(event.data)); });
    events.addEventListener('open', function () { if ($('banner-text').textContent === LOST) hideBanner(); });
    events.addEventListener('error', function () { if (events.readyState !== EventSource.OPEN) showBanner(LOST, 'warn'); });
    // Say at once whether the backend answers (the host checks it itself while sharing).
    if (data.state.health.ok == null) api('POST', '/api/health').then(renderHealth).catch(function () {});
    document.body.dataset.ready = 'true';
  }).catch(showError);
})();
`
