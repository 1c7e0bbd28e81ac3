'use strict';
// herd's VM table. The server holds the table: the page asks over the /ws
// WebSocket for one window of it ({"type":"query"}: filter, sort column,
// offset, count) and gets that window with the total, at once and on every
// change. Only the rows in view are in the DOM (fixed row height, spacer rows
// above and below), so 10,000 VMs cost what a screenful does. Every button is
// an ordinary herd command sent over the same socket, answered with the text
// `herd -e` would print; progress lines of a long command (a big `vm launch`)
// drive the progress bar.

const COLUMNS = ['namespace', 'id', 'name', 'state', 'uptime', 'memory', 'vcpus', 'cpu', 'vlan',
                 'ip', 'tags'];
const SORTABLE = new Set(COLUMNS.filter((c) => c !== 'uptime'));
const OVERSCAN = 15;  // rows fetched beyond the view, above and below

// A token given in the page's URL is passed on to the sockets and console
// links (the server also sets it as a cookie; this covers cookie-less clients).
const TOKEN = new URLSearchParams(location.search).get('token');

function withToken(params) {
    if (TOKEN) params.set('token', TOKEN);
    const q = params.toString();
    return q ? `?${q}` : '';
}

function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
}

// ---- the connection ---------------------------------------------------------

class Connection {
    constructor(handlers) {
        this.handlers = handlers;  // onRows, onStatus, onProgress, onQueryError
        this.nextId = 1;
        this.pending = new Map();  // command id -> {resolve, reject}
        this.retryMs = 500;
        this.ws = null;
        this.query = null;  // the last window asked for, sent again on reconnect
    }

    connect() {
        const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const url = `/ws${withToken(new URLSearchParams({ window: '1' }))}`;
        const ws = new WebSocket(`${proto}//${location.host}${url}`);
        this.ws = ws;
        let opened = false;
        this.handlers.onStatus('connecting', 'connecting');
        ws.onopen = () => {
            opened = true;
            this.retryMs = 500;
            this.handlers.onStatus('connected', 'live');
            if (this.query) ws.send(JSON.stringify(this.query));
        };
        ws.onmessage = (ev) => this.receive(ev.data);
        ws.onclose = async (ev) => {
            for (const { reject } of this.pending.values()) reject(new Error('connection lost'));
            this.pending.clear();
            let why = ev.code === 1006 ? '' : ` (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`;
            // A refused upgrade hides the server's answer; a plain GET shows a
            // token refusal (401) so that the user knows retrying will not help.
            if (!opened) {
                const resp = await fetch(url).catch(() => null);
                if (resp && resp.status === 401) why = `: ${(await resp.text()).trim()}`;
            }
            this.handlers.onStatus('disconnected', `disconnected${why}, retrying`);
            setTimeout(() => this.connect(), this.retryMs);
            this.retryMs = Math.min(this.retryMs * 2, 5000);
        };
    }

    // Asks for a window of the table: {filter, sort, order, offset, count}.
    ask(query) {
        this.query = { type: 'query', ...query };
        if (this.ws && this.ws.readyState === WebSocket.OPEN) {
            this.ws.send(JSON.stringify(this.query));
        }
    }

    receive(data) {
        let msg;
        try {
            msg = JSON.parse(data);
        } catch (e) {
            console.error('herd: bad message from the server', e);
            return;
        }
        if (msg.type === 'vms') {
            this.handlers.onRows(msg);
        } else if (msg.type === 'status') {
            this.handlers.onProgress(msg.id, msg.text || '');
        } else if (msg.type === 'query-error') {
            this.handlers.onQueryError(msg.error || 'bad query');
        } else if (msg.type === 'response') {
            const p = this.pending.get(msg.id);
            if (p) {
                this.pending.delete(msg.id);
                p.resolve({ error: !!msg.error, text: msg.text || '' });
            }
        }
    }

    // Runs a herd command; resolves to {error, text}.
    command(command, namespace) {
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
            return Promise.resolve({ error: true, text: 'not connected to herd' });
        }
        const id = this.nextId++;
        this.lastId = id;
        const msg = { type: 'command', id, command };
        if (namespace) msg.namespace = namespace;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.ws.send(JSON.stringify(msg));
        }).catch((e) => ({ error: true, text: e.message }));
    }
}

// ---- the table ---------------------------------------------------------------

const scroller = document.getElementById('scroller');
const tbody = document.getElementById('rows');
const emptyNote = document.getElementById('empty');
const nsSelect = document.getElementById('namespace');
const output = document.getElementById('output');
const filterInput = document.getElementById('filter');

// What the page shows: the server's last window, and what it asked for.
const view = { filter: '', sort: 'id', order: 'asc', offset: 0, count: 0 };
let shown = { total: 0, all: 0, running: 0, offset: 0, vms: [] };
let rowHeight = 30;  // measured from the first real row

const topSpacer = el('tr', { className: 'spacer' }, el('td', { colSpan: COLUMNS.length + 1 }));
const bottomSpacer = el('tr', { className: 'spacer' }, el('td', { colSpan: COLUMNS.length + 1 }));

function header() {
    const head = document.getElementById('head');
    for (const c of COLUMNS) {
        const th = el('th', { className: c, textContent: c });
        if (SORTABLE.has(c)) {
            th.dataset.sort = c;
            th.addEventListener('click', () => {
                view.order = view.sort === c && view.order === 'asc' ? 'desc' : 'asc';
                view.sort = c;
                scroller.scrollTop = 0;
                ask(true);
            });
        }
        head.append(th);
    }
    head.append(el('th', { className: 'actions' }, ''));
}

function showSort() {
    for (const th of document.querySelectorAll('th[data-sort]')) {
        if (th.dataset.sort === view.sort) {
            th.setAttribute('aria-sort', view.order === 'asc' ? 'ascending' : 'descending');
        } else {
            th.removeAttribute('aria-sort');
        }
    }
}

// The rows the scroll position shows, as [first, end).
function visibleRange() {
    const first = Math.floor(scroller.scrollTop / rowHeight);
    const n = Math.ceil(scroller.clientHeight / rowHeight) + 1;
    return [first, first + n];
}

// Asks the server for the window around what is in view, unless the last
// answer (or question) already covers it.
function ask(force = false) {
    const [first, end] = visibleRange();
    const have = view.offset <= first && end <= view.offset + view.count;
    if (!force && have) return;
    view.offset = Math.max(0, first - OVERSCAN);
    view.count = end - first + 2 * OVERSCAN;
    conn.ask({ filter: view.filter, sort: view.sort, order: view.order,
               offset: view.offset, count: view.count });
    showSort();
}

function actionButton(label, command, vm) {
    const b = el('button', { type: 'button', className: `act ${label}`, textContent: label });
    b.addEventListener('click', () => run(`${command} ${vm.name}`, vm.namespace));
    return b;
}

function makeRow(vm) {
    const tr = el('tr');
    tr.dataset.vm = vm.name;
    tr.dataset.namespace = vm.namespace;
    for (const c of COLUMNS) tr.append(el('td', { className: c }));
    const link = el('a', { className: 'console-link', textContent: 'console', target: '_blank' });
    link.href = `/vm/${encodeURIComponent(vm.name)}/connect/` +
                withToken(new URLSearchParams({ namespace: vm.namespace }));
    tr.append(el('td', { className: 'actions' }, link, actionButton('start', 'vm start', vm),
                 actionButton('stop', 'vm stop', vm), actionButton('kill', 'vm kill', vm)));
    return tr;
}

function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
}

function updateRow(tr, vm) {
    for (const c of COLUMNS) {
        const td = tr.querySelector(`td.${c}`);
        setText(td, String(vm[c] ?? ''));
        if (c === 'tags' || c === 'vlan') td.title = td.textContent;
    }
    const ip = tr.querySelector('td.ip');
    ip.title = vm.ip6 ? `IPv6: ${vm.ip6}` : '';
    tr.dataset.state = vm.state;
    tr.querySelector('td.state').dataset.state = vm.state;
    tr.querySelector('button.start').disabled = vm.state === 'RUNNING';
    tr.querySelector('button.stop').disabled = vm.state !== 'RUNNING';
    tr.querySelector('button.kill').disabled = vm.state === 'QUIT';
}

// Brings the DOM in line with the server's window, touching only what
// changed so that hovering, focus and text selection survive the updates.
function render(msg) {
    if (msg.vms && msg.total === undefined) {
        // A whole-table message (sent before this page's first query).
        msg = { total: msg.vms.length, all: msg.vms.length, offset: 0, namespaces: [],
                running: msg.vms.filter((vm) => vm.state === 'RUNNING').length, vms: msg.vms };
        msg.namespaces = [...new Set(msg.vms.map((vm) => vm.namespace))].sort();
    }
    shown = msg;
    const vms = msg.vms || [];
    const old = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-vm]')) {
        old.set(`${tr.dataset.namespace}/${tr.dataset.vm}`, tr);
    }
    const order = vms.map((vm) => {
        const key = `${vm.namespace}/${vm.name}`;
        const tr = old.get(key) || makeRow(vm);
        old.delete(key);
        updateRow(tr, vm);
        return tr;
    });
    for (const tr of old.values()) tr.remove();
    const want = [topSpacer, ...order, bottomSpacer];
    if (want.some((tr, i) => tbody.children[i] !== tr) || tbody.children.length !== want.length) {
        tbody.replaceChildren(...want);
    }
    if (order.length) {
        const h = order[0].getBoundingClientRect().height;
        if (h > 0) rowHeight = h;
    }
    const below = Math.max(0, msg.total - msg.offset - vms.length);
    topSpacer.firstChild.style.height = `${msg.offset * rowHeight}px`;
    bottomSpacer.firstChild.style.height = `${below * rowHeight}px`;
    topSpacer.hidden = msg.offset === 0;
    bottomSpacer.hidden = below === 0;

    emptyNote.hidden = msg.all > 0;
    scroller.hidden = msg.all === 0;
    setText(document.getElementById('summary'),
            msg.all ? `${msg.all} VMs, ${msg.running} running` : '');
    setText(document.getElementById('shown'),
            view.filter ? `${msg.total} of ${msg.all} match` : '');
    updateNamespaces(msg.namespaces || []);
    // A window that no longer covers the view (rows went away, the filter
    // narrowed the table): ask for the right one.
    ask();
}

function updateNamespaces(names) {
    const have = [...nsSelect.options].slice(1).map((o) => o.value);
    if (have.join('\n') === names.join('\n')) return;
    const selected = nsSelect.value;
    const options = names.map((n) => el('option', { value: n }, n));
    nsSelect.replaceChildren(nsSelect.options[0], ...options);
    nsSelect.value = names.includes(selected) ? selected : '';
}

function setStatus(state, text) {
    const s = document.getElementById('status');
    s.dataset.state = state;
    s.textContent = text;
}

// ---- the filter -----------------------------------------------------------------

let filterTimer = null;
filterInput.addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
        view.filter = filterInput.value.trim();
        scroller.scrollTop = 0;
        filterInput.classList.remove('bad');
        document.getElementById('filter-error').hidden = true;
        ask(true);
    }, 150);
});

function queryError(text) {
    filterInput.classList.add('bad');
    const e = document.getElementById('filter-error');
    e.textContent = text;
    e.hidden = false;
}

let scrollQueued = false;
scroller.addEventListener('scroll', () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
        scrollQueued = false;
        ask();
    });
});
window.addEventListener('resize', () => ask());

// ---- progress of long commands ------------------------------------------------------

// Progress lines say "<done> of <total> ..." (`vm launch: 500 of 5000
// launched`); the bar shows the latest until its command answers.
const progress = document.getElementById('progress');
let progressId = null;

function showProgress(id, text) {
    const m = /(\d+) of (\d+)/.exec(text);
    if (!m) return;
    progressId = id;
    const bar = document.getElementById('progress-bar');
    bar.max = Number(m[2]);
    bar.value = Number(m[1]);
    setText(document.getElementById('progress-text'), text);
    progress.hidden = false;
}

function endProgress(id) {
    if (progressId !== id) return;
    progressId = null;
    progress.hidden = true;
}

// ---- commands ----------------------------------------------------------------

const conn = new Connection({ onRows: render, onStatus: setStatus, onProgress: showProgress,
                              onQueryError: queryError });

// Runs a command and shows it with its answer in the output box.
async function run(command, namespace = nsSelect.value) {
    const where = namespace ? `[${namespace}] ` : '';
    output.className = 'pending';
    output.textContent = `herd$ ${where}${command}\n`;
    const answer = conn.command(command, namespace);
    const id = conn.lastId;
    const { error, text } = await answer;
    endProgress(id);
    output.className = error ? 'error' : '';
    output.textContent = `herd$ ${where}${command}\n${text}`;
    return { error, text };
}

const buttons = {
    'start-all': 'vm start all',
    'stop-all': 'vm stop all',
    'kill-all': 'vm kill all',
    'flush': 'vm flush',
};
for (const [id, command] of Object.entries(buttons)) {
    document.getElementById(id).addEventListener('click', () => run(command));
}

document.getElementById('launch').addEventListener('click', () => {
    const input = document.getElementById('launch-count');
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1) {
        output.className = 'error';
        output.textContent = `launch: "${input.value}" is not a positive whole number`;
        return;
    }
    run(`vm launch container ${n}`);
});

// The command box, with a shell-like history on the up and down arrows.
const commandInput = document.getElementById('command');
const history = [];
let historyPos = 0;

document.getElementById('command-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const command = commandInput.value.trim();
    if (!command) return;
    if (history[history.length - 1] !== command) history.push(command);
    historyPos = history.length;
    commandInput.value = '';
    run(command);
});

commandInput.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown') return;
    ev.preventDefault();
    historyPos = Math.max(0, Math.min(history.length,
                                      historyPos + (ev.key === 'ArrowUp' ? -1 : 1)));
    commandInput.value = history[historyPos] ?? '';
});

header();
showSort();
conn.connect();
ask(true);
