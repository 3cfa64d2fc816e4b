"""A local stand-in for GitHub's REST API (the endpoints grader calls), for tests.

It speaks GitHub's documented wire format: JSON bodies shaped like the real payloads (the
pull request comes from a ``pull_request.opened`` payload, tests/payloads/ by default, with
its URLs pointed here), ``Link``-less single pages, ``201 Created`` for creations, the rate-limit
headers (``X-RateLimit-Remaining``, ``X-RateLimit-Reset``, ``Retry-After``) on 403/429.
``fail(...)`` queues one-off error answers to exercise retries.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import PAYLOADS

BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Server Error"})
    after: bool = False  # apply the request first, then answer with the error (a POST that did create)


class FakeGitHub:
    """State of one repository: pull requests, their files, issue comments and commit statuses."""

    def __init__(self, repo: str = "octo-org/grading") -> None:
        self.repo = repo
        self.pulls: dict[int, dict[str, Any]] = {}
        self.files: dict[int, list[dict[str, Any]]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.written: list[
            tuple[int, str]
        ] = []  # every comment body posted or edited in, in order: (pull request, body)
        self.statuses: list[dict[str, Any]] = []
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str]] = []
        self.pushes: dict[int, list[str]] = {}  # pull request → head commits pushed, one after each file listing
        # Repository settings (grader doctor): a GET path under /repos/OWNER/NAME → its JSON; absent: 404.
        self.settings: dict[str, Any] = {}
        self._next_id = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- setting the scene -----------------------------------------------------------------

    def add_pull(
        self,
        number: int,
        *,
        author: str,
        head_sha: str,
        files: list[tuple[str, str]],
        head_repo: str | None = None,
        state: str = "open",
        payload: Path = PAYLOADS / "pull_request.opened.payload.json",
    ) -> None:
        """A pull request shaped like ``payload``'s, from ``head_repo`` (a fork by default)."""
        example = json.loads(payload.read_text(encoding="utf-8"))
        pull = _rebase(copy.deepcopy(example["pull_request"]), "https://api.github.com", self.url)
        api = f"{self.url}/repos/{self.repo}"
        pull.update(
            number=number,
            state=state,
            url=f"{api}/pulls/{number}",
            issue_url=f"{api}/issues/{number}",
            comments_url=f"{api}/issues/{number}/comments",
            statuses_url=f"{api}/statuses/{head_sha}",
        )
        pull["user"]["login"] = author
        pull["head"]["sha"] = head_sha
        full = head_repo or f"{author}/{self.repo.split('/')[1]}"
        pull["head"]["repo"].update(full_name=full, name=full.split("/")[1], url=f"{self.url}/repos/{full}")
        pull["head"]["user"]["login"] = full.split("/")[0]
        self.pulls[number] = pull
        self.files[number] = [
            {"sha": "0" * 40, "filename": name, "status": status, "additions": 1, "deletions": 0, "changes": 1}
            for name, status in files
        ]

    def fail(self, method: str, pattern: str, status: int, **kwargs: Any) -> None:
        self.failures.append(Failure(method, pattern, status, **kwargs))

    def add_comment(self, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._create_comment(number, body, user)

    # -- the server ------------------------------------------------------------------------

    def _create_comment(self, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        cid = self._next_id
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        comment = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}",
            "body": body,
            "user": dict(user),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
        }
        self.comments.setdefault(number, []).append(comment)
        self.written.append((number, body))
        return comment

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        base = f"/repos/{self.repo}"
        if not path.startswith(base):
            return 404, {"message": "Not Found"}
        rest = path[len(base) :]
        if method == "GET" and rest in self.settings:
            return 200, self.settings[rest]
        if method == "GET" and (m := re.fullmatch(r"/pulls/(\d+)", rest)):
            pull = self.pulls.get(int(m[1]))
            return (200, pull) if pull else (404, {"message": "Not Found"})
        if method == "GET" and (m := re.fullmatch(r"/pulls/(\d+)/files", rest)):
            files = self.files.get(int(m[1]), [])
            if self.pushes.get(int(m[1])):  # a push lands right after the files were listed
                self.pulls[int(m[1])]["head"]["sha"] = self.pushes[int(m[1])].pop(0)
            return 200, files
        if method == "GET" and (m := re.fullmatch(r"/issues/(\d+)/comments", rest)):
            return 200, self.comments.get(int(m[1]), [])
        if method == "POST" and (m := re.fullmatch(r"/issues/(\d+)/comments", rest)):
            if int(m[1]) not in self.pulls:
                return 404, {"message": "Not Found"}
            return 201, self._create_comment(int(m[1]), body["body"], BOT)
        if method == "PATCH" and (m := re.fullmatch(r"/issues/comments/(\d+)", rest)):
            for comment in (c for cs in self.comments.values() for c in cs):
                if comment["id"] == int(m[1]):
                    if comment["user"]["login"] != BOT["login"]:
                        return 403, {"message": "Resource not accessible by integration"}
                    comment["body"] = body["body"]
                    self.written.append((int(comment["issue_url"].rsplit("/", 1)[1]), body["body"]))
                    return 200, comment
            return 404, {"message": "Not Found"}
        if method == "POST" and (m := re.fullmatch(r"/statuses/([0-9a-f]{40})", rest)):
            status = {"id": len(self.statuses) + 1, "sha": m[1], "url": f"{self.url}{path}", **body}
            self.statuses.append(status)
            return 201, status
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.requests.append((self.command, path))
                    failure = next(
                        (f for f in fake.failures if f.method == self.command and re.fullmatch(f.pattern, path)), None
                    )
                    if failure is not None:
                        fake.failures.remove(failure)
                        if failure.after:
                            fake._route(self.command, path, body)
                        status, answer, headers = failure.status, failure.body, failure.headers
                    else:
                        status, answer = fake._route(self.command, path, body)
                        headers = {}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-RateLimit-Limit", "5000")
                self.send_header("X-RateLimit-Remaining", headers.pop("X-RateLimit-Remaining", "4999"))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        return Handler


def _rebase(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: _rebase(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, old, new) for v in node]
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old) :]
    return node
