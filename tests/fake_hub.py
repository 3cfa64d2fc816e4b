"""A local fake of the Hugging Face Hub's HTTP API, for the tests of `grader publish space` and `data.hub`.

The fake (stdlib http.server in a thread, 127.0.0.1 only) speaks the endpoints that
huggingface_hub's create_repo / list_repo_files / create_commit use: POST /api/repos/create,
GET /api/spaces/{id}/tree/{rev}, POST /api/validate-yaml, POST .../preupload/{rev} and the
NDJSON POST .../commit/{rev}, plus GET /api/spaces/{id}/revision/{rev} for a no-op commit.
It applies a commit atomically, as the Hub does, and can be told to fail commits.

For datasets it speaks what hf_hub_download uses: HEAD and GET
/datasets/{id}/resolve/{revision}/{path}, answering with X-Repo-Commit and ETag, or with the
Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound) on a 404, or 503 when down.
Every request is logged in :attr:`FakeHub.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

TOKEN = "hf_test_token"


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class FakeHub:
    """The state of the fake Hub: repositories of files, and failures to inject."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: dict[str, list[str]] = {}
        self.fail_commits = 0  # the next N commits answer 500 without changing anything
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.url = ""
        # Public datasets: id → commit → files. Each file is served as the Hub serves one
        # (GET/HEAD /datasets/{id}/resolve/{commit}/{path}), without a token.
        self.datasets: dict[str, dict[str, dict[str, bytes]]] = {}
        self.down = False  # every request answers 503, as the Hub does during an outage

    def add_dataset(self, repo: str, files: dict[str, bytes]) -> str:
        """A dataset ``repo`` whose one commit holds ``files``; returns that commit's id."""
        commit = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        self.datasets.setdefault(repo, {})[commit] = dict(files)
        return commit


def make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - a fake server: one branch per route
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def authorized(self) -> bool:
            if self.headers.get("authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"error": "Invalid credentials in Authorization header"})
                return False
            return True

        def do_HEAD(self) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append(f"HEAD {path}")
            self.resolve(path, send_body=False)

        def resolve(self, path: str, *, send_body: bool) -> None:
            """/datasets/{owner}/{name}/resolve/{commit}/{path}: a file's bytes; errors named in X-Error-Code."""
            parts = path.split("/")
            if hub.down:
                self.error(503, "", "Service Unavailable", retry_after="0")
                return
            if len(parts) < 7 or parts[1] != "datasets" or parts[4] != "resolve":
                self.error(404, "", "not found")
                return
            repo, commit, name = f"{parts[2]}/{parts[3]}", parts[5], "/".join(parts[6:])
            if repo not in hub.datasets:
                self.error(404, "RepoNotFound", "Repository not found")
            elif commit not in hub.datasets[repo]:
                self.error(404, "RevisionNotFound", f"Invalid rev id: {commit}")
            elif name not in hub.datasets[repo][commit]:
                self.error(404, "EntryNotFound", f"{name} does not exist on {commit}", commit=commit)
            else:
                content = hub.datasets[repo][commit][name]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", f'"{git_blob_sha(content)}"')
                self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                if send_body:
                    self.wfile.write(content)

        def error(self, status: int, code: str, message: str, commit: str = "", retry_after: str = "") -> None:
            data = json.dumps({"error": message}).encode() if self.command != "HEAD" else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for header, value in (("X-Error-Code", code), ("X-Error-Message", message), ("X-Repo-Commit", commit),
                                  ("Retry-After", retry_after)):  # fmt: skip
                if value:
                    self.send_header(header, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append(f"GET {path}")
            if path.startswith("/datasets/") or hub.down:
                self.resolve(path, send_body=True)
                return
            if not self.authorized():
                return
            parts = path.split("/")  # /api/spaces/{owner}/{name}/tree/{rev}
            repo = f"{parts[3]}/{parts[4]}" if len(parts) > 4 else ""
            if repo not in hub.repos:
                self.reply(404, {"error": "Repository not found"})
            elif parts[5] == "tree":
                files = hub.repos[repo]
                self.reply(200, [{"type": "file", "path": p, "size": len(c), "oid": git_blob_sha(c)}
                                 for p, c in sorted(files.items())])  # fmt: skip
            elif parts[5] == "revision":
                self.reply(200, {"id": repo, "sha": hub.commits[repo][-1], "siblings": []})
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append(f"POST {path}")
            data = self.body()
            if not self.authorized():
                return
            if path == "/api/repos/create":
                payload = json.loads(data)
                repo = f"{payload['organization']}/{payload['name']}"
                assert payload["type"] == "space" and payload["sdk"] == "static", payload
                with hub.lock:
                    if repo in hub.repos:
                        self.reply(
                            409, {"error": "You already created this space repo", "url": f"{hub.url}/spaces/{repo}"}
                        )
                        return
                    hub.repos[repo] = {".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n"}
                    hub.commits[repo] = ["0" * 40]
                self.reply(200, {"url": f"{hub.url}/spaces/{repo}"})
                return
            if path == "/api/validate-yaml":
                content = json.loads(data)["content"]
                if "sdk: static" not in content.split("---")[1]:
                    self.reply(400, {"errors": [{"message": "sdk is required"}]})
                else:
                    self.reply(200, {"errors": [], "warnings": []})
                return
            parts = path.split("/")  # /api/spaces/{owner}/{name}/(preupload|commit)/{rev}
            repo = f"{parts[3]}/{parts[4]}"
            if repo not in hub.repos:
                self.reply(404, {"error": "Repository not found"})
            elif parts[5] == "preupload":
                files = hub.repos[repo]
                self.reply(200, {"files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                     "oid": git_blob_sha(files[f["path"]]) if f["path"] in files else None}
                    for f in json.loads(data)["files"]
                ]})  # fmt: skip
            elif parts[5] == "commit":
                self.commit(repo, data)
            else:
                self.reply(404, {"error": "not found"})

        def commit(self, repo: str, data: bytes) -> None:
            with hub.lock:
                if hub.fail_commits > 0:
                    hub.fail_commits -= 1
                    self.reply(500, {"error": "Internal Error - We're working hard to fix this as soon as possible!"})
                    return
                files = dict(hub.repos[repo])
                lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
                assert lines[0]["key"] == "header" and lines[0]["value"]["summary"]
                for line in lines[1:]:
                    value = line["value"]
                    if line["key"] == "file":
                        assert value["encoding"] == "base64"
                        files[value["path"]] = base64.b64decode(value["content"])
                    elif line["key"] == "deletedFile":
                        if value["path"] not in files:
                            self.reply(404, {"error": "A file with this name doesn't exist"})
                            return
                        del files[value["path"]]
                    else:
                        self.reply(400, {"error": f"unsupported operation {line['key']}"})
                        return
                oid = hashlib.sha1(data).hexdigest()
                hub.repos[repo] = files
                hub.commits[repo].append(oid)
            self.reply(200, {"commitUrl": f"{hub.url}/spaces/{repo}/commit/{oid}", "commitOid": oid,
                             "pullRequestUrl": None})  # fmt: skip

    return Handler


@contextmanager
def serve() -> Iterator[FakeHub]:
    """A fake Hub listening on a free port of 127.0.0.1 (its address in ``url``) until the block ends."""
    state = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
