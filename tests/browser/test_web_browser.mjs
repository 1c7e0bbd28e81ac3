// Browser test of herd's web page, in headless Chromium driven by playwright-core.
//
// Expects a running herd daemon serving the web page and a RUNNING container;
// tests/browser/run.py sets that up (and is the way to run this). Environment:
//   HERD_WEB_URL      the page, e.g. http://127.0.0.1:8123 (required)
//   HERD_WEB_TOKEN    the daemon's token (required): the first page is opened
//                     with ?token=, the others rely on the cookie it sets
//   HERD_VM           name of a running container (required)
//   HERD, HERD_BASE   herd binary and the daemon's -base, for `herd -e` (required)
//   HERD_WEB_NPM      where `npm ci` put node_modules (default <dir of $HERD>/web-npm)
//   HERD_SCREENSHOTS  where screenshots go (default <dir of $HERD>/screenshots)
//   HERD_DRY_URL, HERD_DRY_TOKEN, HERD_DRY_VMS
//                     optional: a second daemon (`-runtime dry`) holding that many
//                     VMs named big0, big1...; the big-table checks run against it
// Every check that fails exits non-zero with a message naming it; the browser and
// its profile directory are removed whatever happens.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

function env(name) {
    const v = process.env[name];
    if (!v) fail(`environment variable ${name} is not set (run tests/browser/run.py)`);
    return v;
}

function fail(msg) {
    console.error(`FAIL: ${msg}`);
    process.exit(1);
}

const BASE_URL = env('HERD_WEB_URL').replace(/\/$/, '');
const TOKEN = env('HERD_WEB_TOKEN');
const VM = env('HERD_VM');
const HERD = path.resolve(env('HERD'));
const HERD_BASE = env('HERD_BASE');
const NPM_DIR = process.env.HERD_WEB_NPM || path.join(path.dirname(HERD), 'web-npm');
const SHOTS = path.resolve(process.env.HERD_SCREENSHOTS ||
                           path.join(path.dirname(HERD), 'screenshots'));
const ORIGIN = new URL(BASE_URL).origin;
// The pages may talk to the daemons under test only (the dry one's too).
const ORIGINS = new Set([ORIGIN, ...(process.env.HERD_DRY_URL ?
                                     [new URL(process.env.HERD_DRY_URL).origin] : [])]);
const local = (url) => ORIGINS.has(url.origin) || ORIGINS.has(url.origin.replace(/^ws/, 'http'));
const TIMEOUT_MS = 15000;

let chromium;
try {
    ({ chromium } = createRequire(path.join(NPM_DIR, 'package.json'))('playwright-core'));
} catch (e) {
    fail(`playwright-core not found under ${NPM_DIR}/node_modules (build herd first: ` +
         `cmake --build build): ${e.message}`);
}

// The profile lives in its own temp dir, removed on any exit.
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herd-browser-'));
process.on('exit', () => fs.rmSync(profile, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
        console.error(`FAIL: interrupted by ${sig}`);
        process.exit(1);  // playwright kills the browser it launched on exit
    });
}

const problems = [];  // what the pages did wrong along the way, checked at the end
let context;

async function step(name, fn) {
    const t0 = Date.now();
    try {
        await fn();
    } catch (e) {
        throw new Error(`${name}: ${e.message}`);
    }
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
}

// The terminal's buffer (scrollback included), one string per line.
async function termLines(page) {
    return page.evaluate(() => {
        const buf = window.term.buffer.active;
        const lines = [];
        for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
        return lines;
    });
}

// Waits until `pred(lines)` holds for the terminal's buffer; the error shows
// the buffer's tail.
async function waitForTerm(page, what, pred) {
    const deadline = Date.now() + TIMEOUT_MS;
    let lines = [];
    while (Date.now() < deadline) {
        lines = await termLines(page);
        if (pred(lines)) return lines;
        await page.waitForTimeout(100);
    }
    const tail = lines.filter((l) => l.trim()).slice(-10).join('\n    | ');
    throw new Error(`${what} not seen within ${TIMEOUT_MS} ms; terminal ends with:\n    | ${tail}`);
}

function watch(page, label) {
    page.on('pageerror', (e) => problems.push(`${label}: uncaught script error: ${e.message}`));
    page.on('websocket', (ws) => {
        if (!local(new URL(ws.url()))) {
            problems.push(`${label}: non-local WebSocket: ${ws.url()}`);
        }
    });
    page.on('console', (m) => {
        if (m.type() === 'error') console.log(`     (${label} console: ${m.text()})`);
    });
}

// `query`: e.g. `?token=...` (later pages rely on the cookie it set).
async function openTerminal(label, query = '') {
    const page = await context.newPage();
    watch(page, label);
    const url = `${BASE_URL}/vm/${encodeURIComponent(VM)}/connect/${query}`;
    const resp = await page.goto(url);
    if (!resp || resp.status() !== 200) {
        throw new Error(`GET ${url}: HTTP ${resp ? resp.status() : 'no response'}`);
    }
    await page.waitForFunction(() => window.term !== undefined, null, { timeout: TIMEOUT_MS });
    await page.waitForSelector('#status[data-state="connected"]', { timeout: TIMEOUT_MS });
    return page;
}

async function typeLine(page, text) {
    await page.click('#terminal');
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
}

async function main() {
    fs.mkdirSync(SHOTS, { recursive: true });
    context = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1100, height: 640 },
    });
    // Everything the pages load must come from herd itself: no CDN, nothing else.
    context.on('request', (req) => {
        const url = new URL(req.url());
        if (['data:', 'blob:', 'about:'].includes(url.protocol)) return;
        if (!local(url)) {
            problems.push(`non-local request: ${req.url()}`);
        }
    });
    context.on('response', (resp) => {
        if (resp.status() >= 400 && !resp.url().endsWith('/favicon.ico')) {
            problems.push(`HTTP ${resp.status()} for ${resp.url()}`);
        }
    });

    await step('without the token the server refuses everything', async () => {
        // Outside the browser (no cookie): any local user could send these.
        const get = await fetch(`${BASE_URL}/`);
        const post = await fetch(`${BASE_URL}/api/command`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ command: 'version' }),
        });
        const vmPage = `${BASE_URL}/vm/${encodeURIComponent(VM)}/connect/`;
        const wrong = await fetch(`${vmPage}?token=x${TOKEN}`);
        for (const [what, r] of [['GET /', get], ['POST /api/command', post],
                                 ['GET /vm/.../connect/ with a wrong token', wrong]]) {
            if (r.status !== 401) throw new Error(`${what}: HTTP ${r.status}, expected 401`);
        }
    });

    let term1;
    await step('terminal page connects (with ?token=)', async () => {
        term1 = await openTerminal('terminal 1', `?token=${encodeURIComponent(TOKEN)}`);
        const title = await term1.title();
        if (!title.includes(VM)) throw new Error(`title "${title}" does not name ${VM}`);
    });

    await step('typing `echo $((6*7))` prints 42', async () => {
        await typeLine(term1, 'echo $((6*7))');
        // The typed line holds "6*7", never "42": a line that is exactly 42
        // after it was computed by the container's shell.
        await waitForTerm(term1, '"42" after the echo line', (lines) => {
            const i = lines.findIndex((l) => l.includes('echo $((6*7))'));
            return i >= 0 && lines.slice(i + 1).some((l) => l.trim() === '42');
        });
    });

    await step('resizing the window resizes the pty', async () => {
        const before = await term1.evaluate(() => [window.term.cols, window.term.rows]);
        await term1.setViewportSize({ width: 760, height: 420 });
        await term1.waitForFunction(([c, r]) => window.term.cols !== c && window.term.rows !== r,
                                    before, { timeout: TIMEOUT_MS });
        const [cols, rows] = await term1.evaluate(() => [window.term.cols, window.term.rows]);
        await typeLine(term1, 'stty size');
        await waitForTerm(term1, `"${rows} ${cols}" from stty size (was ${before[1]} ${before[0]})`,
                          (lines) => lines.some((l) => l.trim() === `${rows} ${cols}`));
        await term1.setViewportSize({ width: 1100, height: 640 });
    });

    await step('a second viewer (the cookie, no ?token=) sees the output in its scrollback',
               async () => {
        const term2 = await openTerminal('terminal 2');
        await waitForTerm(term2, '"echo $((6*7))" and "42" in the scrollback', (lines) => {
            const i = lines.findIndex((l) => l.includes('echo $((6*7))'));
            return i >= 0 && lines.slice(i + 1).some((l) => l.trim() === '42');
        });
        // Both viewers see what one types.
        await typeLine(term2, 'echo from-$((2+3))-second');
        for (const p of [term2, term1]) {
            await waitForTerm(p, '"from-5-second"',
                              (ls) => ls.some((l) => l.trim() === 'from-5-second'));
        }
        await term2.close();
    });

    const termShot = path.join(SHOTS, 'terminal.png');
    await step('terminal screenshot', async () => {
        await typeLine(term1, 'uname -a; ls /');
        await term1.waitForTimeout(500);
        await term1.screenshot({ path: termShot });
    });

    let table;
    const row = `tr[data-vm="${VM}"]`;
    await step('table page shows the container RUNNING', async () => {
        table = await context.newPage();
        watch(table, 'table');
        const resp = await table.goto(`${BASE_URL}/`);
        if (!resp || resp.status() !== 200) throw new Error(`GET /: HTTP ${resp && resp.status()}`);
        await table.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'RUNNING',
                                    `${row} td.state`, { timeout: TIMEOUT_MS });
    });

    await step('the command box runs `vm info`', async () => {
        await table.fill('#command', 'vm info');
        await table.press('#command', 'Enter');
        await table.waitForFunction((vm) => {
            const out = document.querySelector('#output');
            return out.textContent.includes('vm info\n') && out.textContent.includes(vm) &&
                   !out.classList.contains('pending') && !out.classList.contains('error');
        }, VM, { timeout: TIMEOUT_MS });
    });

    await step('`vm kill` from the CLI turns the row to QUIT', async () => {
        const t0 = Date.now();
        const { stdout, stderr } = await promisify(execFile)(
            HERD, ['-base', HERD_BASE, '-e', 'vm', 'kill', VM], { timeout: TIMEOUT_MS });
        const said = (stdout + stderr).trim();
        if (said) console.log(`     (herd -e vm kill ${VM}: ${said})`);
        await table.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'QUIT',
                                    `${row} td.state`, { timeout: TIMEOUT_MS });
        console.log(`     (row turned QUIT ${Date.now() - t0} ms after herd -e vm kill)`);
    });

    const tableShot = path.join(SHOTS, 'table.png');
    await step('table screenshot', async () => {
        await table.screenshot({ path: tableShot, fullPage: true });
    });

    // The page's own buttons, on every VM of the table: they send ordinary
    // commands, and the table follows what the daemon says. minimega's rule:
    // `vm start all` starts BUILDING and PAUSED VMs, a QUIT one restarts only
    // when named (its row's start button).
    const states = () => table.$$eval('tr[data-vm]', (trs) => Object.fromEntries(
        trs.map((tr) => [tr.dataset.vm, tr.querySelector('td.state').textContent])));
    async function waitStates(what, pred) {
        const deadline = Date.now() + 30000;
        let now = {};
        while (Date.now() < deadline) {
            now = await states();
            if (pred(now, Object.values(now))) return;
            await table.waitForTimeout(100);
        }
        const out = await table.textContent('#output');
        throw new Error(`${what}: states are ${JSON.stringify(now)}; #output says:\n${out}`);
    }
    async function click(selector) {
        await table.click(selector);
        await table.waitForFunction(
            () => !document.querySelector('#output').classList.contains('pending'), null,
            { timeout: TIMEOUT_MS });
        if (await table.$eval('#output', (o) => o.classList.contains('error'))) {
            throw new Error(`${selector}: ${await table.textContent('#output')}`);
        }
    }
    await step('buttons: launch 2, start all, start, stop, kill all, flush', async () => {
        const before = Object.keys(await states()).length;
        await table.fill('#launch-count', '2');
        await click('#launch');
        await waitStates(`${before + 2} rows after launch 2`, (_, s) => s.length === before + 2);
        await click('#start-all');
        await waitStates(`all but ${VM} RUNNING after start all`, (m, s) =>
            m[VM] === 'QUIT' && s.filter((x) => x === 'RUNNING').length === s.length - 1);
        await click(`${row} button.start`);
        await waitStates(`${VM} RUNNING after its start button`, (m) => m[VM] === 'RUNNING');
        await click(`${row} button.stop`);
        await waitStates(`${VM} PAUSED after its stop button`, (m) => m[VM] === 'PAUSED');
        await click('#kill-all');
        await waitStates('all QUIT after kill all', (_, s) => s.every((x) => x === 'QUIT'));
        await click('#flush');
        await waitStates('no rows after flush', (_, s) => s.length === 0);
        await table.waitForSelector('#empty', { state: 'visible', timeout: TIMEOUT_MS });
    });

    await step('the open terminal says its console closed', async () => {
        await term1.waitForSelector('#status[data-state="disconnected"]', { timeout: TIMEOUT_MS });
        await waitForTerm(term1, '"[disconnected: "',
                          (ls) => ls.some((l) => l.includes('[disconnected: ')));
        console.log(`     (its status: ${await term1.textContent('#status')})`);
    });

    if (process.env.HERD_DRY_URL) await bigTable();

    if (problems.length) throw new Error(`the pages misbehaved:\n  ${problems.join('\n  ')}`);
    console.log(`screenshot: ${tableShot}`);
    console.log(`screenshot: ${termShot}`);
}

// The page with 10,000 VMs: only the rows in view are in the DOM, the
// server filters, and a big launch shows a progress bar.
async function bigTable() {
    const url = process.env.HERD_DRY_URL.replace(/\/$/, '');
    const n = Number(process.env.HERD_DRY_VMS);
    const last = `big${n - 1}`;
    const rowCount = () => page.$$eval('tr[data-vm]', (trs) => trs.length);
    let page;
    await step(`big table: ${n} VMs load with fewer than 200 rows in the DOM`, async () => {
        page = await context.newPage();
        watch(page, 'big table');
        const t0 = Date.now();
        const resp = await page.goto(`${url}/?token=${encodeURIComponent(process.env.HERD_DRY_TOKEN)}`);
        if (!resp || resp.status() !== 200) throw new Error(`GET /: HTTP ${resp && resp.status()}`);
        await page.waitForFunction((want) => document.querySelector('#summary').textContent
                                       .startsWith(`${want} VMs`), n, { timeout: TIMEOUT_MS });
        await page.waitForSelector('tr[data-vm="big0"]', { timeout: TIMEOUT_MS });
        const rows = await rowCount();
        if (rows >= 200) throw new Error(`${rows} row elements in the DOM`);
        console.log(`     (${rows} rows in the DOM, shown ${Date.now() - t0} ms after GET /)`);
    });

    await step('big table: scrolling to the end shows the last VM', async () => {
        const t0 = Date.now();
        await page.$eval('#scroller', (s) => { s.scrollTop = s.scrollHeight; });
        await page.waitForSelector(`tr[data-vm="${last}"]`, { timeout: TIMEOUT_MS });
        const rows = await rowCount();
        if (rows >= 200) throw new Error(`${rows} row elements in the DOM after scrolling`);
        // The last row is on screen, not only in the DOM.
        const seen = await page.$eval(`tr[data-vm="${last}"]`, (tr) => {
            const r = tr.getBoundingClientRect();
            const s = document.querySelector('#scroller').getBoundingClientRect();
            return r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
        });
        if (!seen) throw new Error(`${last} is in the DOM but not within the scroller's view`);
        console.log(`     (${last} shown ${Date.now() - t0} ms after the scroll, ${rows} rows)`);
        await page.screenshot({ path: path.join(SHOTS, 'big-table.png') });
    });

    await step('big table: a filter narrows the total from the server', async () => {
        // big99, big990-big999, big9900-big9999.
        const want = `111 of ${n} match`;
        await page.fill('#filter', 'name~big99');
        await page.waitForFunction((w) => document.querySelector('#shown').textContent === w,
                                   want, { timeout: TIMEOUT_MS });
        await page.waitForSelector('tr[data-vm="big99"]', { timeout: TIMEOUT_MS });
        const shown = await page.$$eval('tr[data-vm]', (trs) => trs.map((t) => t.dataset.vm));
        const bad = shown.filter((v) => !v.startsWith('big99'));
        if (bad.length) throw new Error(`rows not matching the filter: ${bad.slice(0, 5)}`);
        // A filter the server refuses says why and changes nothing.
        await page.fill('#filter', 'bogus=1');
        await page.waitForFunction(() => !document.querySelector('#filter-error').hidden &&
                                       document.querySelector('#filter-error').textContent
                                           .includes('no column `bogus`'), null,
                                   { timeout: TIMEOUT_MS });
        await page.fill('#filter', '');
        await page.waitForFunction(() => document.querySelector('#shown').textContent === '',
                                   null, { timeout: TIMEOUT_MS });
    });

    await step('big table: launching 5000 shows a progress bar, gone when done', async () => {
        // Record every state the bar goes through (the launch may be quick).
        await page.evaluate(() => {
            window.progressSeen = [];
            const p = document.querySelector('#progress');
            const bar = document.querySelector('#progress-bar');
            new MutationObserver(() => {
                window.progressSeen.push({ hidden: p.hidden, value: bar.value, max: bar.max });
            }).observe(p, { attributes: true, subtree: true, childList: true,
                            characterData: true });
        });
        await page.fill('#launch-count', '5000');
        await page.click('#launch');
        await page.waitForFunction(() => !document.querySelector('#output').classList
                                       .contains('pending'), null, { timeout: 60000 });
        const out = await page.textContent('#output');
        if (await page.$eval('#output', (o) => o.classList.contains('error'))) {
            throw new Error(`vm launch failed: ${out}`);
        }
        const seen = await page.evaluate(() => window.progressSeen);
        const shown = seen.filter((s) => !s.hidden && s.max === 5000);
        if (!shown.length) throw new Error(`the bar never showed: ${JSON.stringify(seen)}`);
        const values = [...new Set(shown.map((s) => s.value))];
        if (!values.includes(500)) throw new Error(`no 500 of 5000 seen: ${values}`);
        if (!(await page.$eval('#progress', (p) => p.hidden))) {
            throw new Error('the bar is still shown after the launch answered');
        }
        await page.waitForFunction((want) => document.querySelector('#summary').textContent
                                       .startsWith(`${want} VMs`), n + 5000,
                                   { timeout: TIMEOUT_MS });
        console.log(`     (bar showed ${values.join(', ')} of 5000)`);
    });
}

const watchdog = setTimeout(() => fail('test took longer than 170 s'), 170000);
watchdog.unref();
try {
    await main();
    console.log('PASS: browser test of the web page');
} catch (e) {
    console.error(`FAIL: ${e.message}`);
    process.exitCode = 1;
} finally {
    if (context) await context.close().catch(() => {});
}
process.exit(process.exitCode ?? 0);
