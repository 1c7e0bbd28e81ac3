'use strict';
// A container's console in xterm.js. The page is /vm/<name>/connect/ and its
// WebSocket /vm/<name>/connect/ws: binary frames both ways carry the console's
// bytes (the server sends the scrollback first), text frames from here carry
// JSON control messages (only resize for now). window.term is the Terminal, for
// tests that read its buffer.

(() => {
    const name = decodeURIComponent(location.pathname.split('/')[2] || '');
    const params = new URLSearchParams(location.search);
    const label = params.get('namespace') ? `${params.get('namespace')}/${name}` : name;
    document.title = `${label} - herd`;
    document.getElementById('vm-name').textContent = label;
    const statusEl = document.getElementById('status');

    const term = new Terminal({
        cursorBlink: true,
        scrollback: 10000,
        fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
        fontSize: 14,
        theme: {
            background: '#0d1117',
            foreground: '#d6dde6',
            cursor: '#7ee787',
            selectionBackground: '#2f4a6d',
        },
    });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(document.getElementById('terminal'));
    fit.fit();
    term.focus();
    window.term = term;

    const encoder = new TextEncoder();
    let ws = null;

    function setStatus(state, text) {
        statusEl.dataset.state = state;
        statusEl.textContent = text;
    }

    function send(data) {
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
    }

    function sendSize() {
        send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
    }

    function connect() {
        const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const path = location.pathname.replace(/\/?$/, '/') + 'ws';
        ws = new WebSocket(`${proto}//${location.host}${path}${location.search}`);
        ws.binaryType = 'arraybuffer';
        let opened = false;
        setStatus('connecting', 'connecting');
        ws.onopen = () => {
            opened = true;
            setStatus('connected', 'connected');
            sendSize();
        };
        ws.onmessage = (ev) => {
            if (ev.data instanceof ArrayBuffer) term.write(new Uint8Array(ev.data));
        };
        ws.onclose = async (ev) => {
            ws = null;
            let why = ev.reason || (ev.code === 1006 ? 'connection lost' : `code ${ev.code}`);
            if (!opened) why = await refusal();
            why = printable(why);
            setStatus('disconnected', `closed: ${why}`);
            term.write(`\r\n\x1b[2m[disconnected: ${why}; press Enter to reconnect]\x1b[0m\r\n`);
        };
    }

    // A refused upgrade hides the server's answer from the WebSocket API. The
    // page's own URL answers 401/404 for a bad token or an unknown VM; a VM
    // that exists but has no console is all that is left.
    async function refusal() {
        try {
            const resp = await fetch(location.href);
            if (resp.status === 401 || resp.status === 404) {
                return printable((await resp.text()).trim());
            }
            return 'refused: the VM has no console (not launched, or flushed)';
        } catch (e) {
            return 'herd is unreachable';
        }
    }

    // Text from the server shown in the terminal: without C0/C1 control
    // characters, so that nothing in it (an escaped VM name in a crafted URL)
    // is taken as an escape sequence by xterm.
    function printable(text) {
        return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
    }

    term.onData((data) => {
        if (ws) {
            send(encoder.encode(data));
        } else if (data === '\r') {
            // The server replays the scrollback on connect: start from a clean screen.
            term.reset();
            connect();
        }
    });
    // Raw bytes xterm produces for some mouse reports: one char per byte.
    term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    term.onResize(sendSize);

    // Fit once per frame at most while the window is being resized; fitting
    // changes cols/rows, which sends the resize message through onResize.
    let pending = false;
    window.addEventListener('resize', () => {
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => {
            pending = false;
            fit.fit();
        });
    });

    connect();
})();
