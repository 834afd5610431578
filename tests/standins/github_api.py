"""A stand-in for the GitHub REST API on loopback: it keeps issue comments in memory and records
every request, so tests can assert what a workflow did on GitHub."""

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMENTS = re.compile(r"^/repos/[^/]+/[^/]+/issues/(\d+)/comments$")
COMMENT = re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/(\d+)$")


@dataclass
class GitHubState:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue -> comments
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    next_id: int = 1


class Handler(BaseHTTPRequestHandler):
    state: GitHubState

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        path = self.path.split("?")[0]
        self.state.requests.append((method, path))
        if not self.headers.get("Authorization", "").split()[-1:]:
            return self._reply(HTTPStatus.UNAUTHORIZED, {"message": "Requires authentication"})
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        if (match := COMMENTS.match(path)) and method == "GET":
            return self._reply(HTTPStatus.OK, self.state.comments.get(int(match[1]), []))
        if (match := COMMENTS.match(path)) and method == "POST":
            comment = {"id": self.state.next_id, "body": body["body"]}
            self.state.next_id += 1
            self.state.comments.setdefault(int(match[1]), []).append(comment)
            return self._reply(HTTPStatus.CREATED, comment)
        if (match := COMMENT.match(path)) and method == "PATCH":
            for comments in self.state.comments.values():
                for comment in comments:
                    if comment["id"] == int(match[1]):
                        comment["body"] = body["body"]
                        return self._reply(HTTPStatus.OK, comment)
        return self._reply(HTTPStatus.NOT_FOUND, {"message": "Not Found"})

    def _reply(self, status: HTTPStatus, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are recorded in the state instead


@contextmanager
def github_api() -> Iterator[tuple[str, GitHubState]]:
    """Serve the stand-in on a free loopback port; yields its base URL and its state."""
    state = GitHubState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
