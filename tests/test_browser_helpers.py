"""The browser tests' server plumbing, without a browser: which requests count as leaving the machine, and
starting a server whose port another process took first (the old helper then waited on the other process)."""

from __future__ import annotations

import socket
import sys
import urllib.request

import browser_helpers as bh
import pytest

# a stand-in for jupyter/voila: binds its port or exits saying it is taken (as they do with port_retries=0)
FAKE_SERVER = r"""
import http.server, sys
port = int(sys.argv[1])
try:
    srv = http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
except OSError:
    print(f"The port {port} is already in use, trying another port.", flush=True)
    sys.exit(1)
print("serving", flush=True)
srv.serve_forever()
"""


@pytest.mark.parametrize("url, leaves", [
    ("http://127.0.0.1:8866/voila/static/favicon.ico", False),
    ("http://localhost:8888/lab", False),
    ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@%5E5/css/all.min.css", True),
    ("http://127.0.0.1.example.com/", True),
    ("https://localhost.example.org:443/", True),
])
def test_not_local_matches_only_requests_that_leave_the_machine(url, leaves):
    assert bool(bh.NOT_LOCAL.match(url)) is leaves


def test_a_taken_port_is_retried_on_another(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        ports = iter([taken_port])
        real_free_port = bh.free_port
        monkeypatch.setattr(bh, "free_port", lambda: next(ports, None) or real_free_port())
        server = bh._serve(lambda port: [sys.executable, "-c", FAKE_SERVER, str(port)], tmp_path / "log",
                           "/", tmp_path, tmp_path, timeout=30)
        try:
            assert not server.url.endswith(f":{taken_port}")
            with urllib.request.urlopen(server.url + "/", timeout=10) as r:
                assert r.status == 200
            assert "serving" in server.log_text()
        finally:
            server.stop()


def test_a_server_that_fails_otherwise_is_reported_with_its_log(tmp_path):
    crash = "import sys; print('no such notebook: x.ipynb', flush=True); sys.exit(3)"
    with pytest.raises(RuntimeError, match="exited with code 3(.|\n)*no such notebook"):
        bh._serve(lambda port: [sys.executable, "-c", crash], tmp_path / "log", "/", tmp_path, tmp_path, timeout=30)
