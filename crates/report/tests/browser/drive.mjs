// Opens a querycomb HTML report in headless Chromium and reports what a reader would see, as
// JSON on stdout; crates/report/tests/html_browser.rs asserts on it.
//
// No npm dependencies: Chromium is driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: the browser reads NUL-terminated JSON messages on fd 3 and
// writes on fd 4), so the test needs only Debian's chromium and node.
//
// usage: node drive.mjs --report FILE --out DIR --nplus1 SIGNATURE
//                       [--xss SIGNATURE] [--filter-kind KIND] [--text QUERY]
// --nplus1: a finding on the first page to expand with the keyboard (its waterfall is
// counted); --xss: a finding whose SQL carries markup; --filter-kind: a kind to filter by;
// --text: what to type into the text filter. Checks whose argument is missing are skipped.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const missing = ["report", "out", "nplus1"].filter((a) => !args[a]);
if (missing.length) {
  process.stdout.write(JSON.stringify({ fatal: `missing --${missing.join(", --")}` }) + "\n");
  process.exit(2);
}
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "querycomb-chromium-"));
const flags = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
  `--user-data-dir=${profile}`, "--remote-debugging-pipe", "about:blank",
];
const browser = spawn(chromium, flags, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
let browserLog = "";
browser.stderr.on("data", (d) => { browserLog = (browserLog + d).slice(-4000); });
browser.on("error", (e) => fail(`cannot start ${chromium}: ${e.message}`));
const deadline = setTimeout(() => fail("timed out after 90 s"), 90_000);

// ---- DevTools protocol over the pipe ----
let nextId = 1;
const pending = new Map();
const listeners = [];
let inbox = "";
browser.stdio[4].on("data", (chunk) => {
  inbox += chunk.toString("utf8");
  let end;
  while ((end = inbox.indexOf("\0")) >= 0) {
    const msg = JSON.parse(inbox.slice(0, end));
    inbox = inbox.slice(end + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject, method } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result);
    } else if (msg.method) {
      for (const l of listeners) l(msg);
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  browser.stdio[3].write(JSON.stringify(msg) + "\0");
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}
function once(method) {
  return new Promise((resolve) => {
    const l = (msg) => { if (msg.method === method) { listeners.splice(listeners.indexOf(l), 1); resolve(msg.params); } };
    listeners.push(l);
  });
}

const seen = { consoleErrors: [], exceptions: [], dialogs: [], external: [], logErrors: [] };
let session;
listeners.push((msg) => {
  const p = msg.params;
  if (msg.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
    seen.consoleErrors.push(p.args.map((a) => a.value ?? a.description ?? "").join(" "));
  } else if (msg.method === "Runtime.exceptionThrown") {
    seen.exceptions.push(p.exceptionDetails.exception?.description ?? p.exceptionDetails.text);
  } else if (msg.method === "Log.entryAdded" && p.entry.level === "error") {
    seen.logErrors.push(p.entry.text);
  } else if (msg.method === "Page.javascriptDialogOpening") {
    seen.dialogs.push(`${p.type}: ${p.message}`);
    send("Page.handleJavaScriptDialog", { accept: true }, session);
  } else if (msg.method === "Network.requestWillBeSent" && !/^(file|data|about):/.test(p.request.url)) {
    seen.external.push(p.request.url);
  }
});

const page = (method, params) => send(method, params, session);
async function evaluate(expression) {
  const r = await page("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(`evaluate failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
  return r.result.value;
}
async function key(keyName, code, keyCode) {
  for (const type of ["keyDown", "keyUp"]) {
    await page("Input.dispatchKeyEvent", { type, key: keyName, code, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode, text: type === "keyDown" && keyName === "Enter" ? "\r" : undefined });
  }
}
// The whole page (up to 6000 px), or the region `clip` of it.
async function screenshot(file, clip) {
  const metrics = await page("Page.getLayoutMetrics");
  const height = Math.min(Math.ceil(metrics.cssContentSize.height), 6000);
  const region = clip || { x: 0, y: 0, width: 1280, height };
  const shot = await page("Page.captureScreenshot", { format: "png", captureBeyondViewport: true, clip: { ...region, scale: 1 } });
  writeFileSync(file, Buffer.from(shot.data, "base64"));
  return file;
}
const settle = () => evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");

async function run() {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  ({ sessionId: session } = await send("Target.attachToTarget", { targetId, flatten: true }));
  await Promise.all(["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"].map((m) => page(m)));
  await page("Emulation.setDeviceMetricsOverride", { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  await page("Emulation.setEmulatedMedia", { features: [{ name: "prefers-color-scheme", value: "light" }] });
  const loaded = once("Page.loadEventFired");
  await page("Page.navigate", { url: pathToFileURL(args.report).href });
  await loaded;
  await settle();

  const sig = JSON.stringify(args.nplus1), xss = JSON.stringify(args.xss), kind = JSON.stringify(args["filter-kind"]);
  const checks = {};
  checks.loadMs = await evaluate("performance.now()");
  checks.rendered = await evaluate(`({
    title: document.getElementById("title").textContent,
    error: document.getElementById("error").hidden ? null : document.getElementById("error").textContent,
    findingRows: document.querySelectorAll("#f-body tr.finding").length,
    fingerprintRows: document.querySelectorAll("#fp-body tr").length,
    routeCharts: document.querySelectorAll("#route-chart svg").length,
    pager: document.getElementById("f-pager").textContent,
    omitted: document.getElementById("omitted").hidden ? null : document.getElementById("omitted").textContent,
  })`);

  // Tab order starts with the skip link, then the theme toggle.
  const focusedAfterTab = async () => {
    await key("Tab", "Tab", 9);
    return evaluate(`document.activeElement.id || document.activeElement.textContent`);
  };
  checks.tabOrder = [await focusedAfterTab(), await focusedAfterTab()];

  // Expand the known N+1 with the keyboard: focus its button, press Enter.
  await evaluate(`document.querySelector('#f-body tr.finding[data-signature=' + CSS.escape(${sig}) + '] button.exp').focus()`);
  await key("Enter", "Enter", 13);
  await settle();
  checks.nplus1 = await evaluate(`(() => {
    const row = document.querySelector('#f-body tr.finding[data-signature=' + CSS.escape(${sig}) + ']');
    const button = row.querySelector("button.exp");
    const detail = document.getElementById(button.getAttribute("aria-controls"));
    const before = detail.querySelector("figure.before svg"), after = detail.querySelector("figure.after svg");
    const count = (svg, role) => svg ? svg.querySelectorAll('rect[data-role="' + role + '"]').length : -1;
    return { expanded: button.getAttribute("aria-expanded"), detailVisible: !detail.hidden && detail.offsetHeight > 0,
      focused: document.activeElement === button,
      childBars: count(before, "child"), parentBars: count(before, "parent"), otherBars: count(before, "other"),
      afterChildBars: count(after, "child"), afterBatchedBars: count(after, "batched"), afterParentBars: count(after, "parent"),
      evidence: detail.querySelector("dl.ev").innerText };
  })()`);

  // Expand the XSS finding so its SQL is in the DOM as a reader would see it.
  if (args.xss) await evaluate(`document.querySelector('#f-body tr.finding[data-signature=' + CSS.escape(${xss}) + '] button.exp').click()`);
  await settle();
  if (args.xss) checks.xss = await evaluate(`(() => {
    const row = document.querySelector('#f-body tr.finding[data-signature=' + CSS.escape(${xss}) + ']');
    const detail = document.getElementById(row.querySelector("button.exp").getAttribute("aria-controls"));
    return { pwned: window.__pwned === true, scripts: document.scripts.length,
      injected: document.querySelectorAll("img, iframe, object, embed, [onerror], [onload], [onclick]").length,
      sqlText: Array.from(detail.querySelectorAll("pre.sql")).map((p) => p.textContent),
      routeText: row.children[2].textContent };
  })()`);

  // Crops for people reviewing the artifacts: the top of the page and the expanded N+1.
  const findingBox = await evaluate(`(() => {
    const row = document.querySelector('#f-body tr.finding[data-signature=' + CSS.escape(${sig}) + ']');
    const detail = document.getElementById(row.querySelector("button.exp").getAttribute("aria-controls"));
    const a = row.getBoundingClientRect(), b = detail.getBoundingClientRect();
    return { x: 0, y: Math.max(0, a.top + scrollY - 8), width: 1280, height: Math.max(50, Math.ceil(b.bottom - a.top + 16)) };
  })()`);
  const sectionBox = (id) => evaluate(`(() => {
    const s = document.getElementById(${JSON.stringify(id)}).closest("section").getBoundingClientRect();
    return { x: 0, y: s.top + scrollY - 8, width: 1280, height: Math.min(1400, Math.ceil(s.height + 16)) };
  })()`);
  const routesBox = await sectionBox("h-routes"), fingerprintsBox = await sectionBox("h-fp");
  const shots = async (suffix) => {
    await screenshot(join(args.out, `report${suffix}-routes.png`), routesBox);
    await screenshot(join(args.out, `report${suffix}-fingerprints.png`), fingerprintsBox);
    await screenshot(join(args.out, `report${suffix}.png`));
    await screenshot(join(args.out, `report${suffix}-top.png`), { x: 0, y: 0, width: 1280, height: 1300 });
    await screenshot(join(args.out, `report${suffix}-finding.png`), findingBox);
  };
  await shots("");
  await page("Emulation.setEmulatedMedia", { features: [{ name: "prefers-color-scheme", value: "dark" }] });
  await settle();
  checks.darkBackground = await evaluate(`getComputedStyle(document.body).backgroundColor`);
  await shots("-dark");
  await evaluate(`document.getElementById("theme").click()`);
  checks.afterToggle = await evaluate(`({ theme: document.documentElement.getAttribute("data-theme"), background: getComputedStyle(document.body).backgroundColor, label: document.getElementById("theme").textContent })`);

  // Every finding on the first page expands without an error and shows a waterfall or says
  // why it has none (findings without bars, durations or routes included).
  checks.expandAll = await evaluate(`(() => {
    const buttons = Array.from(document.querySelectorAll("#f-body button.exp[aria-expanded=false]"));
    buttons.forEach((b) => b.click());
    const details = Array.from(document.querySelectorAll("#f-body tr.detail")).filter((d) => !d.hidden);
    const explained = details.filter((d) => d.querySelector("figure.before svg") || /No waterfall/.test(d.textContent));
    const schematic = details.filter((d) => /schematic/.test(d.textContent)).length;
    const ticks = details.filter((d) => /fixed-width ticks|one slot per statement/.test(d.textContent)).length;
    const figures = details.map((d) => ({ signature: d.getAttribute("data-signature"),
      child: d.querySelectorAll('figure.before rect[data-role="child"]').length,
      batched: d.querySelectorAll('figure.after rect[data-role="batched"]').length }));
    buttons.forEach((b) => b.click());
    return { expanded: details.length, explained: explained.length, schematic, ticks, figures };
  })()`);

  // Filter by kind, as a reader would with the select.
  if (args["filter-kind"]) checks.filter = await evaluate(`(() => {
    const select = document.getElementById("f-kind");
    select.value = ${kind};
    select.dispatchEvent(new Event("change"));
    const kinds = Array.from(document.querySelectorAll("#f-body tr.finding")).map((r) => r.getAttribute("data-kind"));
    const status = document.getElementById("f-count").textContent;
    select.value = ""; select.dispatchEvent(new Event("change"));
    return { kinds, status, totalAfterReset: document.querySelectorAll("#f-body tr.finding").length };
  })()`);

  // Route, table and severity filters: pick the first real option, read the visible rows.
  checks.selectFilters = await evaluate(`(() => {
    const pick = (id, read) => {
      const select = document.getElementById(id), before = select.value;
      select.selectedIndex = 1;
      select.dispatchEvent(new Event("change"));
      const result = { chosen: select.value, shown: Array.from(document.querySelectorAll("#f-body tr.finding")).map(read) };
      select.value = before; select.dispatchEvent(new Event("change"));
      return result;
    };
    return { route: pick("f-route", (r) => r.children[2].textContent), table: pick("f-table", (r) => r.children[3].textContent),
      severity: pick("f-sev", (r) => r.getAttribute("data-severity")) };
  })()`);

  // Text filter: type into the search box.
  if (args.text) {
    await evaluate(`document.getElementById("f-text").focus()`);
    await page("Input.insertText", { text: args.text });
    await settle();
  }
  if (args.text) checks.textFilter = await evaluate(`Array.from(document.querySelectorAll("#f-body tr.finding")).map((r) => r.getAttribute("data-signature"))`);

  // Sort by N, descending on first click.
  checks.sortByN = await evaluate(`(() => {
    const input = document.getElementById("f-text"); input.value = ""; input.dispatchEvent(new Event("input"));
    document.querySelector('#f-grid th[data-sort="count"] button').click();
    const th = document.querySelector('#f-grid th[data-sort="count"]');
    return { ariaSort: th.getAttribute("aria-sort"), values: Array.from(document.querySelectorAll("#f-body tr.finding td:nth-child(5)")).map((td) => Number(td.textContent.replace(/,/g, ""))) };
  })()`);

  // Pagination: the next page exists and shows other rows.
  checks.paging = await evaluate(`(() => {
    const first = document.querySelector("#f-body tr.finding").getAttribute("data-signature");
    const next = Array.from(document.querySelectorAll("#f-pager button")).find((b) => b.textContent === "Next");
    if (!next) return { pages: 1 };
    next.click();
    return { pages: 2, firstOnPage2: document.querySelector("#f-body tr.finding").getAttribute("data-signature"), firstOnPage1: first, label: document.getElementById("f-pager").textContent };
  })()`);

  return { ...seen, checks };
}

function fail(message) {
  process.stdout.write(JSON.stringify({ fatal: message, browserLog }) + "\n");
  cleanup(1);
}
function cleanup(code) {
  clearTimeout(deadline);
  try { browser.kill("SIGKILL"); } catch { /* already gone */ }
  try { rmSync(profile, { recursive: true, force: true }); } catch { /* best effort */ }
  process.exit(code);
}

run().then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + "\n");
    send("Browser.close").catch(() => {});
    setTimeout(() => cleanup(0), 300);
  },
  (e) => fail(e.stack || String(e)),
);
