"""Downloads: resumable, MD5-checked, kept once verified; a clear line without network."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from radbench.data.fetch import DOWNLOADS, download, fetch
from radbench.errors import DataError
from tests.conftest import run_cli

PAYLOAD = bytes(range(256)) * 400
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    """A local HTTP server for PAYLOAD that honours Range requests and records them."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Range"))
            start = 0
            if self.headers.get("Range"):
                start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                self.send_response(206)
            else:
                self.send_response(200)
            body = PAYLOAD[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()


def test_download_verifies_and_keeps(tmp_path, server):
    url, seen = server
    target = download(f"{url}/f.npz", MD5, tmp_path / "f.npz")
    assert target.read_bytes() == PAYLOAD and not (tmp_path / "f.npz.part").exists()
    download(f"{url}/f.npz", MD5, tmp_path / "f.npz")  # cached: no second request
    assert seen == [None]


def test_download_resumes_a_partial_file(tmp_path, server):
    url, seen = server
    (tmp_path / "f.npz.part").write_bytes(PAYLOAD[:30000])
    download(f"{url}/f.npz", MD5, tmp_path / "f.npz")
    assert seen == ["bytes=30000-"]
    assert (tmp_path / "f.npz").read_bytes() == PAYLOAD


def test_wrong_checksum_is_removed(tmp_path, server):
    url, _ = server
    with pytest.raises(DataError, match="has MD5 .*, expected 0+; removed it"):
        download(f"{url}/f.npz", "0" * 32, tmp_path / "f.npz")
    assert not any(tmp_path.iterdir())


def test_registered_names_use_the_mirror(tmp_path, server):
    url, _ = server
    item = DOWNLOADS["breastmnist"]
    assert item.url() == "https://zenodo.org/records/10519652/files/breastmnist.npz?download=1"
    assert item.md5 == "750601b1f35ba3300ea97c75c52ff8f6"
    with pytest.raises(DataError, match=r"/breastmnist.npz: downloaded file has MD5 .*expected 7506"):
        fetch("breastmnist", tmp_path, mirror=url)


def test_offline_is_one_line_naming_url_and_place(tmp_path):
    result = run_cli("data", "fetch", "pneumoniamnist", "--dest", str(tmp_path), "--mirror",
                     "http://127.0.0.1:9/files", "--timeout", "5")
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "cannot download http://127.0.0.1:9/files/pneumoniamnist.npz" in line
    assert f"put it at {tmp_path / 'pneumoniamnist.npz'} (MD5 28209eda" in line


def test_sets_behind_a_login_say_where_and_how(tmp_path):
    result = run_cli("data", "fetch", "mrnet")
    assert result.returncode == 0
    assert "stanfordmlgroup.github.io" in result.stdout and "train-acl.csv" in result.stdout
    unknown = run_cli("data", "fetch", "nope")
    assert unknown.returncode == 2 and "unknown dataset 'nope'" in unknown.stderr
