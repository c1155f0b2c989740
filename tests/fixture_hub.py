"""A local stand-in for the servers Q-Bench's data comes from: the Hugging Face hub (the
``resolve`` endpoint huggingface_hub asks, HEAD for size / ETag / commit, GET with ``Range`` for
the bytes, and the repository-info, tree and paths-info APIs ``datasets.load_dataset`` reads)
and the raw GitHub address of the A3 label files. Point huggingface_hub at it with
``HF_ENDPOINT=server.url`` and the label download with ``QBENCH_A3_LABELS_URL=server.labels_url``.
Every request is logged, so tests can see what was asked (a resumed download's ``Range``)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from fixture_judge import QuietHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the commit this hub says every revision is
LABELS_PREFIX = "/labels/"


@dataclass
class LocalHub:
    files: dict[str, bytes] = field(default_factory=dict)  # hub repo path "<repo>/<file>" -> bytes
    labels: dict[str, bytes] = field(default_factory=dict)  # label file name -> bytes
    reported_sizes: dict[str, int] = field(default_factory=dict)  # a size to claim instead of the real one
    throttle_s: float = 0.0  # pause after each chunk of a download
    chunk: int = 64 * 1024
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def labels_url(self) -> str:
        return self.url + LABELS_PREFIX.rstrip("/")

    def gets(self, name: str) -> list[str | None]:
        """The Range header of each GET of a path ending in ``name`` (None: the whole file)."""
        return [r for method, path, r in self.requests if method == "GET" and path.endswith(name)]


def _handler(hub: LocalHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _api(self, target: str, body: bytes = b"") -> bool:
            """The hub API calls ``datasets.load_dataset`` makes: repository info, file tree, paths info."""
            from urllib.parse import parse_qs, urlsplit

            url = urlsplit(target)
            path, query = unquote(url.path), parse_qs(url.query)
            parts = path.strip("/").split("/")
            if parts[:2] != ["api", "datasets"] or len(parts) < 4:
                return False
            repo = f"{parts[2]}/{parts[3]}"
            files = {p[len(repo) + 1:]: d for p, d in hub.files.items() if p.startswith(repo + "/")}
            if not files:
                self.send_error(404)
                return True
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                answer = {"id": repo, "sha": COMMIT, "private": False, "gated": False, "disabled": False,
                          "siblings": [{"rfilename": name} for name in files], "tags": [], "cardData": {},
                          "lastModified": "2024-01-01T00:00:00.000Z"}
            elif rest[0] == "tree":
                prefix = "/".join(rest[2:])
                recursive = query.get("recursive", ["false"])[0] == "true"
                folders = {"/".join(name.split("/")[:depth]) for name in files
                           for depth in range(1, name.count("/") + 1)}
                listed = [(name, _entry(name, data)) for name, data in files.items()]
                listed += [(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                           for folder in sorted(folders)]
                start = f"{prefix}/" if prefix else ""
                answer = [entry for name, entry in listed if name.startswith(start)
                          and (recursive or "/" not in name[len(start):])]
            elif rest[0] == "paths-info":
                asked = json.loads(body).get("paths", []) if body.startswith(b"{") else \
                    parse_qs(body.decode()).get("paths", [])
                answer = [_entry(name, files[name]) for name in asked if name in files]
            else:
                self.send_error(404)
                return True
            payload = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hub.requests.append(("POST", self.path, None))
            if not self._api(self.path, body):
                self.send_error(404)

        def _find(self) -> tuple[bytes | None, str]:
            path = unquote(self.path.split("?", 1)[0])
            if path.startswith(LABELS_PREFIX):
                return hub.labels.get(path[len(LABELS_PREFIX):]), path
            # /datasets/<owner>/<name>/resolve/<revision>/<file>
            parts = path.strip("/").split("/")
            if len(parts) >= 6 and parts[0] == "datasets" and parts[3] == "resolve":
                return hub.files.get(f"{parts[1]}/{parts[2]}/{'/'.join(parts[5:])}"), path
            return None, path

        def _headers(self, data: bytes, path: str, status: int, start: int = 0) -> None:
            self.send_response(status)
            digest = hashlib.sha256(data).hexdigest()
            name = path.rsplit("/", 1)[-1]
            size = hub.reported_sizes.get(name, len(data))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{digest}"')
            self.send_header("X-Linked-Etag", f'"{digest}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()

        def do_HEAD(self):
            data, path = self._find()
            hub.requests.append(("HEAD", path, None))
            if data is None:
                self.send_error(404)
                return
            self._headers(data, path, 200)

        def do_GET(self):
            if self._api(self.path):
                hub.requests.append(("GET", self.path, None))
                return
            data, path = self._find()
            ranged = self.headers.get("Range")
            hub.requests.append(("GET", path, ranged))
            if data is None:
                self.send_error(404)
                return
            start = int(ranged.removeprefix("bytes=").split("-")[0]) if ranged else 0
            self._headers(data, path, 206 if ranged else 200, start)
            for at in range(start, len(data), hub.chunk):
                self.wfile.write(data[at:at + hub.chunk])
                self.wfile.flush()
                if hub.throttle_s:
                    time.sleep(hub.throttle_s)

    return Handler


def _entry(name: str, data: bytes) -> dict:
    """A file as the hub's tree and paths-info APIs describe it (every file stored in LFS)."""
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return {"type": "file", "oid": blob, "size": len(data), "path": name,
            "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}}


class running:
    """``with running(hub) as hub:`` serves ``hub`` on a free local port."""

    def __init__(self, hub: LocalHub):
        self.hub = hub
        self.server = QuietHTTPServer(("127.0.0.1", 0), _handler(hub))
        hub.port = self.server.server_address[1]

    def __enter__(self) -> LocalHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.hub

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``members`` (path -> bytes), in the given order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def dataset_repo_files(repo_id: str, splits: dict) -> dict[str, bytes]:
    """A hub dataset repository holding ``splits`` (name -> ``datasets.Dataset``) as the hub's
    parquet layout has them (``data/<split>-00000-of-00001.parquet``, and a card), for ``LocalHub.files``."""
    files = {f"{repo_id}/README.md": b"---\nlicense: other\n---\n"}
    for split, data in splits.items():
        buffer = io.BytesIO()
        data.to_parquet(buffer)
        files[f"{repo_id}/data/{split}-00000-of-00001.parquet"] = buffer.getvalue()
    return files
