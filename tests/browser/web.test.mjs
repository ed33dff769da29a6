// Browser tests of the NetWorkSpaces web UI in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core). Starts a real nws-server,
// the Python and R babelfish translators, stores a Python dict and an R
// data frame, and checks what a person sees: both rendered readably, a
// variable deleted through the confirmation dialog, a live update arriving
// without a reload, hostile names shown as text. Screenshots go to
// target/screenshots/. Run by scripts/browser-test.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SHOTS = join(ROOT, 'target', 'screenshots');
const SERVER = process.env.NWS_SERVER_BIN || join(ROOT, 'target', 'release', 'nws-server');
const PYTHON = process.env.PYTHON || 'python3';
const WITH_R = process.env.NWS_BROWSER_SKIP_R !== '1';
const RUST_FISH = process.env.NWS_BABELFISH_BIN || join(ROOT, 'target', 'release', 'nws-babelfish');
const WITH_RUST = existsSync(RUST_FISH);
const WS = 'browser demo';
const HOSTILE = '<img src=x onerror=alert(1)> "quotes" & \'more\'';

const children = [];
let grpcPort, web, browser, page;
const dialogs = [];
const pageErrors = [];

function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' }, ...opts });
  children.push(child);
  child.log = '';
  child.stdout.on('data', (d) => { child.log += d; });
  child.stderr.on('data', (d) => { child.log += d; });
  return child;
}

async function until(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function python(code) {
  return execFileSync(PYTHON, ['-c', code], {
    env: { ...process.env, NWS_HOST: '127.0.0.1', NWS_PORT: String(grpcPort) },
    encoding: 'utf8',
    timeout: 60000,
  });
}

function rscript(code) {
  return execFileSync('Rscript', ['-e', code], {
    env: { ...process.env, NWS_HOST: '127.0.0.1', NWS_PORT: String(grpcPort) },
    encoding: 'utf8',
    timeout: 60000,
  });
}

async function api(path) {
  const r = await fetch(web + path);
  return r.json();
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const server = start(SERVER, ['--bind', '127.0.0.1', '--port', '0', '--web-port', '0', '--babelfish-timeout', '3']);
  await until('the server', () => {
    const g = server.log.match(/listening on 127\.0\.0\.1:(\d+)/);
    const w = server.log.match(/web UI on (http:\/\/127\.0\.0\.1:\d+)/);
    if (g && w) { grpcPort = Number(g[1]); web = w[1]; return true; }
    if (server.exitCode !== null) throw new Error('server exited: ' + server.log);
    return false;
  });
  start(PYTHON, ['-m', 'nws.babelfish', '--host', '127.0.0.1', '--port', String(grpcPort)]);
  if (WITH_R) start('Rscript', ['-e', `nws::babelfish('127.0.0.1', ${grpcPort})`]);
  if (WITH_RUST) start(RUST_FISH, ['--host', '127.0.0.1', '--port', String(grpcPort)]);
  await until('the translators', async () => {
    const t = await api('/api/babelfish');
    const running = t.translators.filter((x) => x.running).map((x) => x.language);
    return running.includes('Python') && (!WITH_R || running.includes('R'))
      && (!WITH_RUST || running.includes('Rust'));
  }, 30000);

  python(`
from nws.client import NetWorkSpace, NwsBlob
ws = NetWorkSpace(${JSON.stringify(WS)}, persistent=True)
ws.store('python dict', {'name': 'cubes', 'sizes': [1, 8, 27], 'nested': {'ok': True, 'pair': (1, 2.5)}})
ws.store('greeting', 'hello from Python')
ws.store('bytes', bytes(range(48)))
# What a Rust program's ws.store_serde(...) stores: CBOR of
# {"id": 7, "label": "corner", "point": [1.5, -1]}.
ws.store('rust struct', NwsBlob('rust/cbor', bytes.fromhex('a362696407656c6162656c66636f726e657265706f696e7482f93e0020')))
for i in range(6): ws.store('task', i)
for i in range(2): ws.store('result', i * i)
h = NetWorkSpace(${JSON.stringify(HOSTILE)}, persistent=True)
h.store('</pre><script>alert(2)</script>', '<b>bold?</b>')
`);
  if (WITH_R) {
    rscript(`
library(nws)
ws <- netWorkSpace(${JSON.stringify(WS)}, useUse = TRUE)
nwsStore(ws, "r data frame", data.frame(city = c("Boston", "Oslo", "Kyoto"), temp = c(4.5, -2, 11.25), rain = c(TRUE, FALSE, TRUE)))
`);
  }

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    // launch() itself starts Chromium with a fresh, empty temporary profile.
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children.reverse()) {
    if (c.exitCode === null) c.kill('SIGTERM');
  }
});

test('the workspace list shows workspaces, with hostile names as text', async () => {
  await page.goto(web + '/');
  await page.waitForSelector('#live.on');
  const demo = page.locator('tr', { has: page.locator('td.name a', { hasText: WS }) });
  assert.equal(await demo.count(), 1);
  assert.match(await demo.innerText(), /persistent/);
  // The hostile name is shown literally and runs nothing.
  const hostile = page.locator('td.name a', { hasText: '<img src=x' });
  assert.equal(await hostile.innerText(), HOSTILE);
  assert.equal(await page.locator('main img').count(), 0);
  // Translators are listed as running in the footer.
  assert.match(await page.locator('.foot').innerText(), /Python/);
  await shot('01-workspaces.png');
});

test('a workspace page lists variables with mode, counts and the Sleigh summary', async () => {
  await page.locator('td.name a', { hasText: WS }).click();
  await page.waitForSelector('table.list');
  const text = await page.locator('main').innerText();
  for (const v of ['python dict', 'greeting', 'bytes', 'task', 'result']) assert.match(text, new RegExp(v));
  if (WITH_R) assert.match(text, /r data frame/);
  assert.match(await page.locator('.sleigh').innerText(), /6 tasks waiting\s+2 results ready/);
  await shot('02-workspace.png');
});

test('a Python dict is rendered readably by the Python babelfish', async () => {
  await page.locator('td.name a', { hasText: 'python dict' }).click();
  const pre = page.locator('li.value pre').first();
  await pre.waitFor();
  const shown = await pre.innerText();
  assert.match(shown, /'name': 'cubes'/);
  assert.match(shown, /'sizes': \[1, 8, 27\]/);
  assert.match(shown, /'pair': \(1, 2\.5\)/);
  assert.match(await page.locator('.vhead').first().innerText(), /python\/pickle[\s\S]*shown by Python babelfish/);
  await shot('03-python-dict.png');
});

test('an R data frame is rendered by the R babelfish', { skip: !WITH_R && 'NWS_BROWSER_SKIP_R=1' }, async () => {
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS, var: 'r data frame' }));
  const pre = page.locator('li.value pre').first();
  await pre.waitFor();
  const shown = await pre.innerText();
  assert.match(shown, /city\s+temp\s+rain/);
  assert.match(shown, /1\s+Boston\s+4\.50\s+TRUE/);
  assert.match(shown, /3\s+Kyoto\s+11\.25\s+TRUE/);
  assert.match(await page.locator('.vhead').first().innerText(), /r\/serialize[\s\S]*shown by R babelfish/);
  await shot('04-r-data-frame.png');
});

test('a Rust value is rendered by the Rust babelfish', { skip: !WITH_RUST && 'no nws-babelfish binary' }, async () => {
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS, var: 'rust struct' }));
  const pre = page.locator('li.value pre').first();
  await pre.waitFor();
  assert.equal(await pre.innerText(), '{"id": 7, "label": "corner", "point": [1.5, -1]}');
  assert.match(await page.locator('.vhead').first().innerText(), /rust\/cbor[\s\S]*shown by Rust babelfish/);
});

test('raw bytes show as a hex dump and text as text', async () => {
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS, var: 'bytes' }));
  assert.match(await page.locator('pre.hex').innerText(), /^00000000 {2}00 01 02 03/);
  await shot('05-raw-bytes.png');
  await page.goto(web + '/?' + new URLSearchParams({ ws: HOSTILE, var: '</pre><script>alert(2)</script>' }));
  assert.equal(await page.locator('li.value pre').innerText(), '<b>bold?</b>');
  assert.equal(await page.locator('main b').count(), 0);
  await shot('06-hostile-names.png');
});

test('a live update arrives without reloading the page', async () => {
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS }));
  await page.waitForSelector('#live.on');
  await page.evaluate(() => { window.__notReloaded = true; });
  const before = await page.locator('tr[data-name="task"] td.num').first().innerText();
  assert.equal(before, '6');
  python(`
from nws.client import NetWorkSpace
ws = NetWorkSpace(${JSON.stringify(WS)}, useUse=True)
ws.store('live', 'hello, live')
for i in range(4): ws.fetch('task')
`);
  await page.waitForSelector('tr[data-name="live"]', { timeout: 5000 });
  await until('the task count to drop', async () =>
    (await page.locator('tr[data-name="task"] td.num').first().innerText()) === '2', 5000);
  assert.equal(await page.evaluate(() => window.__notReloaded), true);
  assert.match(await page.locator('#live').innerText(), /live · /);
  await shot('07-live-update.png');

  // On a variable's page too: a new Python value appears, translated.
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS, var: 'python dict' }));
  await page.waitForSelector('#live.on');
  python(`
from nws.client import NetWorkSpace
NetWorkSpace(${JSON.stringify(WS)}, useUse=True).store('python dict', {'second': [3.5, None]})
`);
  await until('the second value', async () => (await page.locator('li.value').count()) === 2, 8000);
  await until('its translation', async () =>
    /'second': \[3\.5, None\]/.test(await page.locator('li.value pre').nth(1).innerText()), 8000);
  await shot('08-live-value.png');
});

test('deleting a variable asks for confirmation first', async () => {
  await page.goto(web + '/?' + new URLSearchParams({ ws: WS }));
  await page.waitForSelector('#live.on');
  const row = page.locator('tr[data-name="greeting"]');
  // Cancel: nothing happens.
  await row.locator('button.danger').click();
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor({ state: 'visible' });
  assert.match(await dialog.locator('.msg').innerText(), /Delete variable “greeting” from workspace “browser demo”\? Its 1 value is discarded/);
  await shot('09-confirm-delete.png');
  await dialog.locator('button[value="cancel"]').click();
  await dialog.waitFor({ state: 'hidden' });
  await page.waitForTimeout(300);
  assert.equal(await row.count(), 1);
  // Confirm: it goes, and the server agrees.
  await row.locator('button.danger').click();
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('button[value="delete"]').click();
  await page.waitForSelector('tr[data-name="greeting"]', { state: 'detached', timeout: 5000 });
  const vars = await api('/api/variables?' + new URLSearchParams({ ws: WS }));
  assert.ok(!vars.variables.some((v) => v.name === 'greeting'));
  await shot('10-after-delete.png');
});

test('no script from data ran and the page logged no errors', () => {
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
});
