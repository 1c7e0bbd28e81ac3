'use strict';
// herd's VM table. Rows arrive over the /ws WebSocket (the whole table on
// connect and on every change); every button is an ordinary herd command sent
// over the same socket, answered with the text `herd -e` would print. The page
// keeps no state of its own beyond what the last message said.

const COLUMNS = ['id', 'name', 'state', 'uptime', 'memory', 'vcpus', 'cpu', 'vlan', 'ip', 'tags'];

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
    constructor(onRows, onStatus) {
        this.onRows = onRows;
        this.onStatus = onStatus;
        this.nextId = 1;
        this.pending = new Map();  // command id -> {resolve, reject}
        this.retryMs = 500;
        this.ws = null;
    }

    connect() {
        const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const url = `/ws${withToken(new URLSearchParams())}`;
        const ws = new WebSocket(`${proto}//${location.host}${url}`);
        this.ws = ws;
        let opened = false;
        this.onStatus('connecting', 'connecting');
        ws.onopen = () => {
            opened = true;
            this.retryMs = 500;
            this.onStatus('connected', 'live');
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
            this.onStatus('disconnected', `disconnected${why}, retrying`);
            setTimeout(() => this.connect(), this.retryMs);
            this.retryMs = Math.min(this.retryMs * 2, 5000);
        };
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
            this.onRows(msg.vms || []);
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
        const msg = { type: 'command', id, command };
        if (namespace) msg.namespace = namespace;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.ws.send(JSON.stringify(msg));
        }).catch((e) => ({ error: true, text: e.message }));
    }
}

// ---- the table ---------------------------------------------------------------

const sections = document.getElementById('namespaces');
const emptyNote = document.getElementById('empty');
const nsSelect = document.getElementById('namespace');
const output = document.getElementById('output');

function nsSection(ns) {
    for (const s of sections.querySelectorAll('section.ns')) {
        if (s.dataset.namespace === ns) return s;
    }
    const head = el('tr', {}, ...COLUMNS.map((c) => el('th', { className: c }, c)),
                    el('th', { className: 'actions' }, ''));
    const section = el('section', { className: 'ns' },
                       el('h2', {}, 'namespace ', el('span', { className: 'ns-name' }, ns),
                          el('span', { className: 'count' })),
                       el('table', { className: 'vms' }, el('thead', {}, head), el('tbody')));
    section.dataset.namespace = ns;
    return section;
}

function actionButton(label, command, vm) {
    const b = el('button', { type: 'button', className: `act ${label}`, textContent: label });
    b.addEventListener('click', () => run(`${command} ${vm.name}`, vm.namespace));
    return b;
}

function makeRow(vm) {
    const tr = el('tr');
    tr.dataset.vm = vm.name;
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
    for (const c of COLUMNS) setText(tr.querySelector(`td.${c}`), String(vm[c] ?? ''));
    const ip = tr.querySelector('td.ip');
    ip.title = vm.ip6 ? `IPv6: ${vm.ip6}` : '';
    tr.dataset.state = vm.state;
    tr.querySelector('td.state').dataset.state = vm.state;
    tr.querySelector('button.start').disabled = vm.state === 'RUNNING';
    tr.querySelector('button.stop').disabled = vm.state !== 'RUNNING';
    tr.querySelector('button.kill').disabled = vm.state === 'QUIT';
}

// Brings the DOM in line with `rows`, touching only what changed so that
// hovering, focus and text selection survive the updates.
function render(rows) {
    const byNs = new Map();
    for (const vm of rows) {
        if (!byNs.has(vm.namespace)) byNs.set(vm.namespace, []);
        byNs.get(vm.namespace).push(vm);
    }

    const wanted = [];
    for (const [ns, vms] of byNs) {
        const section = nsSection(ns);
        const tbody = section.querySelector('tbody');
        const old = new Map([...tbody.children].map((tr) => [tr.dataset.vm, tr]));
        const order = vms.map((vm) => {
            const tr = old.get(vm.name) || makeRow(vm);
            old.delete(vm.name);
            updateRow(tr, vm);
            return tr;
        });
        for (const tr of old.values()) tr.remove();
        if (order.some((tr, i) => tbody.children[i] !== tr)) tbody.append(...order);
        const running = vms.filter((vm) => vm.state === 'RUNNING').length;
        setText(section.querySelector('.count'), `${vms.length} VMs, ${running} running`);
        wanted.push(section);
    }
    for (const s of sections.querySelectorAll('section.ns')) {
        if (!wanted.includes(s)) s.remove();
    }
    const shown = sections.querySelectorAll('section.ns');
    if (wanted.some((s, i) => shown[i] !== s)) sections.append(...wanted);
    emptyNote.hidden = rows.length > 0;

    const running = rows.filter((vm) => vm.state === 'RUNNING').length;
    setText(document.getElementById('summary'),
            rows.length ? `${rows.length} VMs, ${running} running` : '');
    updateNamespaces([...byNs.keys()]);
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

// ---- commands ----------------------------------------------------------------

const conn = new Connection(render, setStatus);

// Runs a command and shows it with its answer in the output box.
async function run(command, namespace = nsSelect.value) {
    const where = namespace ? `[${namespace}] ` : '';
    output.className = 'pending';
    output.textContent = `herd$ ${where}${command}\n`;
    const { error, text } = await conn.command(command, namespace);
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

conn.connect();
