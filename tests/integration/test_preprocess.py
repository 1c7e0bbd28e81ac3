#!/usr/bin/env python3
"""Integration tests of the preprocessor's URL forms (issue 14 item 7): http://
and https:// arguments downloaded into the file root and substituted, file:
and tar: arguments, and the attacks on them: `..` paths, symbolic links
planted in the file root, oversized bodies, hostile tar members, and a server
that trickles (other clients must keep getting answers). Run as root.

Local servers only: python's http.server on 127.0.0.1 in threads, the https
one with a certificate of a throw-away CA that the daemon trusts through
SSL_CERT_FILE.
"""

import http.server
import io
import os
import posixpath
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from herdtest import Daemon, assert_responsive  # noqa: E402

LIMIT = 1 << 20  # the daemon's download cap in these tests (HERD_DOWNLOAD_MAX)

FILES = {
    "/dir/a.txt": b"hello from a\n",
    "/b.txt": b"b" * 5000,
    "/s/secure.txt": b"over TLS\n",
    "/files/again.txt": b"only once\n",
    "/dotdot.txt": b"stays inside\n",
}


class Handler(http.server.BaseHTTPRequestHandler):
    hits = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with Handler.lock:
            Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        p = posixpath.normpath(urllib.parse.unquote(self.path))
        if p in FILES:
            body = FILES[p]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif p == "/redirect.txt":
            self.send_response(302)
            self.send_header("Location", "/dir/a.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/loop.txt":
            self.send_response(302)
            self.send_header("Location", "/loop.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/big.bin":  # announced too big
            self.send_response(200)
            self.send_header("Content-Length", str(LIMIT * 4))
            self.end_headers()
            try:
                for _ in range(4 * 16):
                    self.wfile.write(b"x" * (LIMIT // 16))
            except OSError:
                pass
        elif p == "/bigchunked.bin":  # no length: cut while it arrives
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(4 * 16):
                    self.wfile.write(b"y" * (LIMIT // 16))
            except OSError:
                pass
            self.close_connection = True
        elif p == "/trickle.txt":  # 3 s for 15 bytes
            self.send_response(200)
            self.send_header("Content-Length", "15")
            self.end_headers()
            for _ in range(15):
                self.wfile.write(b"t")
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


def serve(ctx=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def make_ca(tmp, name):
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it."""
    d = os.path.join(tmp, name)
    os.makedirs(d)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=herd test CA " + name,
         "-keyout", "ca.key", "-out", "ca.pem")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "srv.key",
         "-out", "srv.csr")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", "ext", "-out", "srv.pem")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "srv.pem"), os.path.join(d, "srv.key"))
    return os.path.join(d, "ca.pem"), ctx


def tar_bytes(members):
    """A tar from (TarInfo kwargs, data) pairs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kw, data in members:
            kw = dict(kw)
            info = tarfile.TarInfo(kw.pop("name"))
            for k, v in kw.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def walk(path):
    out = set()
    for dirpath, dirs, files in os.walk(path):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(dirpath, n), path))
    return out


class PreprocessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herd-prep-")
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", cls.tmp])
        ca, ctx = make_ca(cls.tmp, "good")
        _, other_ctx = make_ca(cls.tmp, "other")
        cls.http = serve()
        cls.addClassCleanup(cls.http.shutdown)
        cls.https = serve(ctx)
        cls.addClassCleanup(cls.https.shutdown)
        cls.untrusted = serve(other_ctx)
        cls.addClassCleanup(cls.untrusted.shutdown)
        cls.outside = os.path.join(cls.tmp, "outside")
        os.makedirs(cls.outside)
        cls.d = Daemon("-runtime", "dry", env={"SSL_CERT_FILE": ca, "HERD_DOWNLOAD_MAX": str(LIMIT)})
        cls.d.start()
        cls.addClassCleanup(cls.d.stop)
        cls.c = cls.d.client()
        cls.addClassCleanup(cls.c.close)
        cls.root = os.path.join(cls.d.base, "files")
        cls.c.ok("file list /")  # the root exists

    def url(self, path, srv=None, scheme="http"):
        srv = srv or self.http
        return "%s://127.0.0.1:%d%s" % (scheme, srv.server_address[1], path)

    def echo(self, arg):
        text, errors = self.c.run(".annotate false echo " + arg)
        return text.strip(), errors

    def assert_outside_untouched(self):
        self.assertEqual(walk(self.outside), set())
        self.assertEqual(sorted(os.listdir(self.d.base)).count("x"), 0)

    def assert_no_temp(self, path):
        left = [n for n in walk(path) if ".download." in n or ".extract." in n]
        self.assertEqual(left, [])

    def test_http_download_substitutes_and_lists(self):
        out, errors = self.echo(self.url("/dir/a.txt"))
        self.assertEqual(errors, [])
        self.assertEqual(out, os.path.join(self.root, "dir/a.txt"))
        with open(out, "rb") as f:
            self.assertEqual(f.read(), FILES["/dir/a.txt"])
        listing = self.c.ok(".annotate false file list dir")
        self.assertIn("a.txt", listing)
        self.assertIn(str(len(FILES["/dir/a.txt"])), listing)

    def test_second_use_does_not_download(self):
        u = self.url("/files/again.txt")
        self.assertEqual(self.echo(u)[1], [])
        self.assertEqual(self.echo(u + " " + u)[0], " ".join([os.path.join(self.root, "files/again.txt")] * 2))
        self.assertEqual(Handler.hits["/files/again.txt"], 1)

    def test_https_with_trusted_ca(self):
        out, errors = self.echo(self.url("/s/secure.txt", self.https, "https"))
        self.assertEqual(errors, [])
        with open(out, "rb") as f:
            self.assertEqual(f.read(), FILES["/s/secure.txt"])
        # Same file from "localhost": the certificate names both.
        os.unlink(out)
        u = "https://localhost:%d/s/secure.txt" % self.https.server_address[1]
        self.assertEqual(self.echo(u)[1], [])

    def test_https_untrusted_certificate_refused(self):
        out, errors = self.echo(self.url("/b.txt", self.untrusted, "https"))
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith("get /b.txt: file not found: TLS handshake"), errors[0])
        self.assertFalse(os.path.exists(os.path.join(self.root, "b.txt")))
        self.assert_no_temp(self.root)

    def test_404_is_minimegas_error(self):
        out, errors = self.echo(self.url("/nope/none.txt"))
        self.assertEqual(errors, ["get /nope/none.txt: file not found"])
        self.assertFalse(os.path.exists(os.path.join(self.root, "nope/none.txt")))
        self.assert_no_temp(self.root)

    def test_redirects(self):
        out, errors = self.echo(self.url("/redirect.txt"))
        self.assertEqual(errors, [])
        self.assertEqual(out, os.path.join(self.root, "redirect.txt"))
        with open(out, "rb") as f:
            self.assertEqual(f.read(), FILES["/dir/a.txt"])
        out, errors = self.echo(self.url("/loop.txt"))
        self.assertEqual(errors, ["get /loop.txt: file not found: more than 5 redirects"])

    def test_dotdot_stays_in_root(self):
        for path in ["/../../x", "/%2e%2e/%2E%2E/x", "/a/../../../x"]:
            out, errors = self.echo(self.url(path))
            # The server answers 404 for these names; what matters is where it
            # would have gone: never above the file root.
            self.assertEqual(len(errors), 1, path)
            self.assertTrue(errors[0].startswith("get /"), errors[0])
        self.assertFalse(os.path.exists(os.path.join(self.d.base, "x")))
        self.assertFalse(os.path.exists(os.path.join(self.d.tmp, "x")))
        # A `..` URL of a file the server has lands inside the root.
        out, errors = self.echo(self.url("/../../dotdot.txt"))
        self.assertEqual(errors, [])
        self.assertEqual(out, os.path.join(self.root, "dotdot.txt"))

    def test_planted_symlinks_refused(self):
        # A guest (cc recv, a volume) can leave links in the file root.
        os.symlink(self.outside, os.path.join(self.root, "evil"))
        os.symlink(os.path.join(self.outside, "target.txt"), os.path.join(self.root, "link.txt"))
        try:
            for path in ["/evil/dir/a.txt", "/evil/b.txt", "/link.txt"]:
                out, errors = self.echo(self.url(path))
                self.assertEqual(len(errors), 1, path)
                self.assertTrue(errors[0].startswith("get %s: file not found: " % path), errors[0])
            out, errors = self.echo("file:evil/target.txt")
            self.assertEqual(len(errors), 1)
            self.assert_outside_untouched()
            assert_responsive(self.d)
        finally:
            os.unlink(os.path.join(self.root, "evil"))
            os.unlink(os.path.join(self.root, "link.txt"))

    def test_oversized_body_cut(self):
        for path in ["/big.bin", "/bigchunked.bin"]:
            out, errors = self.echo(self.url(path))
            self.assertEqual(len(errors), 1)
            self.assertEqual(errors[0], "get %s: file not found: body larger than the download limit of 1 MiB"
                             % path)
            self.assertFalse(os.path.exists(os.path.join(self.root, path[1:])))
        self.assert_no_temp(self.root)
        assert_responsive(self.d)

    def test_trickle_does_not_stall_others(self):
        result = {}

        def slow():
            c = self.d.client()
            try:
                result["r"] = c.run(".annotate false echo " + self.url("/trickle.txt"))
            finally:
                c.close()

        t = threading.Thread(target=slow)
        t0 = time.time()
        t.start()
        time.sleep(0.5)
        took = []
        while t.is_alive() and time.time() - t0 < 2.5:
            took.append(assert_responsive(self.d, 1.0))
            time.sleep(0.2)
        t.join(30)
        self.assertTrue(took, "the download ended before the check")
        self.assertLess(max(took), 1.0)
        text, errors = result["r"]
        self.assertEqual(errors, [])
        self.assertGreater(time.time() - t0, 2.5)
        with open(os.path.join(self.root, "trickle.txt"), "rb") as f:
            self.assertEqual(f.read(), b"t" * 15)

    def test_file_form(self):
        with open(os.path.join(self.root, "local.txt"), "w") as f:
            f.write("x")
        self.assertEqual(self.echo("file:local.txt"), (os.path.join(self.root, "local.txt"), []))
        self.assertEqual(self.echo("file:nosuch.txt")[1], ["get nosuch.txt: file not found"])

    def test_preprocess_false_passes_unchanged(self):
        u = self.url("/dir/never.txt")
        self.assertEqual(self.c.run(".annotate false .preprocess false echo " + u), (u, []))
        self.assertEqual(self.c.run(".annotate false .preprocess false echo tar:x.tar file:y"),
                         ("tar:x.tar file:y", []))
        self.assertNotIn("/dir/never.txt", Handler.hits)

    def write_tar(self, name, members):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(tar_bytes(members))

    def test_tar_single_top_dir(self):
        import stat
        self.write_tar("rootfs.tar", [
            ({"name": "top", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
            ({"name": "top/etc/hostname", "mode": 0o644}, b"guest\n"),
            ({"name": "top/bin/suid", "mode": 0o4755}, b"#!/bin/sh\n"),
            ({"name": "top/dev/sda", "type": tarfile.CHRTYPE, "devmajor": 8, "devminor": 0}, None),
            ({"name": "top/lnk", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, None),
        ])
        out, errors = self.echo("tar:rootfs.tar")
        self.assertEqual(errors, [])
        self.assertEqual(out, os.path.join(self.root, "top"))
        with open(os.path.join(out, "etc/hostname")) as f:
            self.assertEqual(f.read(), "guest\n")
        mode = os.stat(os.path.join(out, "bin/suid")).st_mode
        self.assertEqual(mode & (stat.S_ISUID | stat.S_ISGID), 0)
        self.assertFalse(os.path.lexists(os.path.join(out, "dev/sda")))
        self.assertEqual(os.readlink(os.path.join(out, "lnk")), "/etc/passwd")
        # Extracted once: a second use substitutes without extracting.
        os.unlink(os.path.join(out, "etc/hostname"))
        self.assertEqual(self.echo("tar:" + os.path.join(self.root, "rootfs.tar")), (out, []))
        self.assertFalse(os.path.exists(os.path.join(out, "etc/hostname")))
        self.assert_no_temp(self.root)

    def test_tar_two_top_dirs_refused(self):
        self.write_tar("two.tar", [({"name": "a/x"}, b"1"), ({"name": "b/y"}, b"2")])
        self.assertEqual(self.echo("tar:two.tar")[1],
                         ["unable to handle tar without a single top-level directory"])
        self.assertFalse(os.path.exists(os.path.join(self.root, "a")))

    def test_tar_hostile_members_extract_nothing_outside(self):
        cases = {
            "dotdot.tar": [({"name": "t1/ok"}, b"1"), ({"name": "t1/../../x"}, b"pwned")],
            "abs.tar": [({"name": "t2/ok"}, b"1"),
                        ({"name": os.path.join(self.outside, "abs")}, b"pwned")],
            "link.tar": [({"name": "t3/ok"}, b"1"),
                         ({"name": "t3/out", "type": tarfile.SYMTYPE, "linkname": self.outside}, None),
                         ({"name": "t3/out/pwned"}, b"pwned")],
            "hard.tar": [({"name": "t4/h", "type": tarfile.LNKTYPE, "linkname": "../../../etc/passwd"}, None)],
        }
        want = {"dotdot.tar": "has a `..` component", "abs.tar": "has an absolute name",
                "link.tar": "File exists", "hard.tar": "has a `..` component"}
        before = walk(self.d.tmp)
        for name, members in cases.items():
            self.write_tar(name, members)
            out, errors = self.echo("tar:" + name)
            self.assertEqual(len(errors), 1, name)
            self.assertIn(want[name], errors[0])
            top = members[0][0]["name"].split("/")[0]
            self.assertFalse(os.path.lexists(os.path.join(self.root, top)), name)
        self.assert_outside_untouched()
        self.assertFalse(os.path.exists(os.path.join(self.d.base, "x")))
        created = {p for p in walk(self.d.tmp) - before if not p.startswith("base/files/")}
        self.assertEqual({p for p in created if "pwned" in p or p.endswith("/x")}, set())
        self.assert_no_temp(self.root)
        assert_responsive(self.d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
