"""A stand-in for the GitHub REST API on loopback: it records every request, so tests can assert
what a workflow or an action did on GitHub.

Tokens are GitHub's: each is issued with permissions (`issue_token` for a job's GITHUB_TOKEN,
the App installation endpoint for an App's), a call beyond them gets GitHub's 403, and every
request is recorded with the kind of token that made it. A pull request opened with a job's
GITHUB_TOKEN is marked as triggering no workflows, as on GitHub.

It keeps issue comments and pull requests in memory. Given a git repository to play "GitHub"
with (a normal clone whose `main` is checked out), the git data endpoints (commits, trees,
refs) work on that repository with git plumbing, pull requests point at its branches, and
`GitHubState.merge` merges one into its `main` as the merge button would.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REPO = r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
COMMENTS = re.compile(REPO + r"/issues/(?P<number>\d+)/comments$")
COMMENT = re.compile(REPO + r"/issues/comments/(?P<id>\d+)$")
GIT_COMMIT = re.compile(REPO + r"/git/commits/(?P<sha>[^/]+)$")
GIT_COMMITS = re.compile(REPO + r"/git/commits$")
GIT_TREES = re.compile(REPO + r"/git/trees$")
GIT_REF = re.compile(REPO + r"/git/refs?/(?P<ref>(?:heads|tags)/.+)$")  # GET says ref, PATCH refs
GIT_REFS = re.compile(REPO + r"/git/refs$")
PULLS = re.compile(REPO + r"/pulls$")
PULL = re.compile(REPO + r"/pulls/(?P<number>\d+)$")
COMMIT_PULLS = re.compile(REPO + r"/commits/(?P<sha>[0-9a-f]{40})/pulls$")
APP_TOKENS = re.compile(r"^/app/installations/(?P<id>\d+)/access_tokens$")
SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
BLOB_MODES = {"100644", "100755"}

# The identities git writes with: fixed, so that the stand-in works without any git config.
BOT = {"name": "release-bot[bot]", "email": "release-bot[bot]@users.noreply.github.com"}
MERGER = {"name": "GitHub", "email": "noreply@github.com"}


class Refused(Exception):
    """An answer other than success: GitHub's status and message (and its `errors`, if any)."""

    def __init__(
        self, status: HTTPStatus, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.payload: dict[str, Any] = {"message": message}
        if errors:
            self.payload["errors"] = errors


# What each endpoint needs of a token: any one of the scopes (underscored, as the REST API names
# them), at "read" for GET and "write" otherwise.
SCOPES = (
    (COMMENTS, ("issues", "pull_requests")),
    (COMMENT, ("issues", "pull_requests")),
    (PULLS, ("pull_requests",)),
    (PULL, ("pull_requests",)),
    (COMMIT_PULLS, ("pull_requests",)),
    (re.compile(REPO + r"/git/"), ("contents",)),
)
LEVELS = {"none": 0, "read": 1, "write": 2}
GITHUB_TOKEN = "GITHUB_TOKEN"  # the kind of a job's token; an App's is "app"
# The Client ID of the App the tests' repositories install (RELEASE_APP_CLIENT_ID).
APP_CLIENT_ID = "Iv23liStandInApp01"
# What the README's "Set up GitHub" asks the App to be installed with.
APP_PERMISSIONS = {"contents": "write", "pull_requests": "write"}


@dataclass(frozen=True)
class Token:
    kind: str  # GITHUB_TOKEN or "app"
    permissions: dict[str, str]  # scope -> "read" or "write"

    def allows(self, scope: str, level: str) -> bool:
        return LEVELS[self.permissions.get(scope, "none")] >= LEVELS[level]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str | None  # the kind of token that made it (or "app-jwt"), None without a valid one
    status: int


def unprocessable(message: str) -> Refused:
    return Refused(HTTPStatus.UNPROCESSABLE_ENTITY, message)


def not_found() -> Refused:
    return Refused(HTTPStatus.NOT_FOUND, "Not Found")


def git_env(identity: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its GIT_* (a hook's GIT_DIR, say), plus an identity."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    for role in ("AUTHOR", "COMMITTER"):
        for key, value in (identity or {}).items():
            env[f"GIT_{role}_{key.upper()}"] = value
    return env


@dataclass(frozen=True)
class Repository:
    """The repository playing GitHub, through git plumbing; failures come back as Refused."""

    path: Path

    def git(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *args],
            cwd=self.path,
            input=input,
            env=env or git_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and completed.returncode != 0:
            raise unprocessable(f"git {args[0]}: {completed.stderr.strip()}")
        return completed

    def object_type(self, sha: object) -> str | None:
        if not isinstance(sha, str) or not SHA.match(sha):
            return None
        completed = self.git("cat-file", "-t", sha, check=False)
        return completed.stdout.strip() if completed.returncode == 0 else None

    def tip(self, ref: str) -> str | None:
        completed = self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return completed.stdout.strip() if completed.returncode == 0 else None

    def checked_out(self) -> str | None:
        completed = self.git("symbolic-ref", "--quiet", "HEAD", check=False)
        return completed.stdout.strip() if completed.returncode == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        completed = self.git("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        return completed.returncode == 0

    def commit(self, sha: str) -> dict[str, Any]:
        if self.object_type(sha) != "commit":
            raise not_found()
        fields = self.git("show", "-s", "--format=%T%x00%P%x00%B", sha).stdout
        tree, parents, message = fields.split("\0", 2)
        return {
            "sha": sha,
            "tree": {"sha": tree},
            "parents": [{"sha": parent} for parent in parents.split()],
            "message": message.rstrip("\n"),
        }

    def write_tree(self, base_tree: object, entries: list[dict[str, Any]]) -> str:
        """`base_tree` (or nothing) with `entries` applied, through a temporary index."""
        if base_tree is not None and self.object_type(base_tree) != "tree":
            raise unprocessable("base_tree is not a valid tree oid")
        with tempfile.TemporaryDirectory(prefix="github-api-index-") as scratch:
            env = git_env() | {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if base_tree is None:
                self.git("read-tree", "--empty", env=env)
            else:
                self.git("read-tree", str(base_tree), env=env)
            for entry in entries:
                path, mode = entry.get("path"), entry.get("mode")
                if (
                    not isinstance(path, str)
                    or mode not in BLOB_MODES
                    or entry.get("type") != "blob"
                ):
                    raise unprocessable(f"tree entry not supported by the stand-in: {entry}")
                if "content" in entry:
                    blob = self.git(
                        "hash-object", "-w", "--no-filters", "--stdin", input=entry["content"]
                    ).stdout.strip()
                elif entry.get("sha") is None:  # GitHub's way to delete a path
                    self.git("update-index", "--force-remove", "--", path, env=env)
                    continue
                elif self.object_type(entry["sha"]) == "blob":
                    blob = entry["sha"]
                else:
                    raise unprocessable(f"tree.sha {entry['sha']} is not a valid blob")
                self.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
            return self.git("write-tree", env=env).stdout.strip()

    def tree_entries(self, tree: str) -> list[dict[str, str]]:
        entries = []
        for line in self.git("ls-tree", tree).stdout.splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, sha = meta.split()
            entries.append({"path": path, "mode": mode, "type": kind, "sha": sha})
        return entries

    def commit_tree(self, message: object, tree: object, parents: object) -> str:
        if not isinstance(message, str):
            raise unprocessable("message is required")
        if self.object_type(tree) != "tree":
            raise unprocessable("tree is not a valid tree oid")
        if not isinstance(parents, list) or any(
            self.object_type(parent) != "commit" for parent in parents
        ):
            raise unprocessable("parents must be a list of existing commit SHAs")
        args = [arg for parent in parents for arg in ("-p", parent)]
        return self.git(
            "commit-tree", str(tree), *args, "-F", "-", input=message, env=git_env(BOT)
        ).stdout.strip()

    def move_ref(self, ref: str, sha: object, *, force: bool, create: bool) -> None:
        """Create `ref` or move it, refusing what GitHub refuses (and the checked-out branch,
        which would leave the repository's working tree behind its branch)."""
        if (
            not re.fullmatch(r"refs/(?:heads|tags)/.+", ref)
            or self.git("check-ref-format", ref, check=False).returncode
        ):
            raise unprocessable("Reference name is invalid")
        if ref == self.checked_out():
            raise unprocessable(f"The stand-in does not move {ref}: it is checked out in its repo")
        current = self.tip(ref)
        if create and current:
            raise unprocessable("Reference already exists")
        if not create and not current:
            raise unprocessable("Reference does not exist")
        if self.object_type(sha) != "commit":
            raise unprocessable("Object does not exist")
        assert isinstance(sha, str)
        if current and not force and not self.is_ancestor(current, sha):
            raise unprocessable("Update is not a fast forward")
        self.git("update-ref", ref, sha, current or "")


@dataclass
class GitHubState:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue -> comments
    calls: list[Request] = field(default_factory=list)
    tokens: dict[str, Token] = field(default_factory=dict)
    url: str = ""  # where it is served
    next_id: int = 1
    repository: Path | None = None  # the git repository playing GitHub, if any
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> pull request
    next_pull: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(call.method, call.path) for call in self.calls]

    def issue_token(self, kind: str, permissions: dict[str, str], token: str = "") -> str:
        """A new token of `kind` with `permissions` (scope -> "read" or "write"): `token`, or
        one made up."""
        with self.lock:
            token = token or f"ghs_standin{len(self.tokens) + 1:04d}"
            self.tokens[token] = Token(kind, dict(permissions))
            return token

    @property
    def git(self) -> Repository | None:
        return Repository(self.repository) if self.repository else None

    def refresh(self) -> None:
        """Open pull requests show their branch's current tip, as GitHub's do."""
        if (git := self.git) is None:
            return
        for pull in self.pulls.values():
            if pull["state"] == "open":
                pull["head"]["sha"] = git.tip(f"refs/heads/{pull['head']['ref']}")

    def open_pull(
        self, repository: str, body: dict[str, Any], opened_by: str = GITHUB_TOKEN
    ) -> dict[str, Any]:
        """Open a pull request in `repository` ("owner/name") as `POST .../pulls` does: `body`
        has its title, head and base (and body); GitHub's refusals are raised as Refused."""
        owner, name = repository.split("/", 1)
        head, base = str(body.get("head", "")), str(body.get("base", ""))
        head = head.removeprefix(f"{owner}:")
        if not body.get("title") or not head or not base:
            raise unprocessable("title, head and base are required")
        git = self.git
        if git is not None:
            for field_name, branch in (("head", head), ("base", base)):
                if git.tip(f"refs/heads/{branch}") is None:
                    raise Refused(
                        HTTPStatus.UNPROCESSABLE_ENTITY,
                        "Validation Failed",
                        [{"resource": "PullRequest", "field": field_name, "code": "invalid"}],
                    )
            head_sha, base_sha = git.tip(f"refs/heads/{head}"), git.tip(f"refs/heads/{base}")
            assert head_sha and base_sha
            if git.is_ancestor(head_sha, base_sha):
                raise Refused(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    "Validation Failed",
                    [{"code": "custom", "message": f"No commits between {base} and {head}"}],
                )
        label = f"{owner}:{head}"
        for pull in self.pulls.values():
            if pull["state"] == "open" and (pull["head"]["label"], pull["base"]["ref"]) == (
                label,
                base,
            ):
                raise Refused(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    "Validation Failed",
                    [{"code": "custom", "message": f"A pull request already exists for {label}."}],
                )
        number = self.next_pull
        self.next_pull += 1
        self.pulls[number] = {
            "number": number,
            "title": body["title"],
            "body": body.get("body") or "",
            "head": {"ref": head, "sha": None, "label": label},
            "base": {"ref": base},
            "state": "open",
            "merged": False,
            "merge_commit_sha": None,
            "html_url": f"https://github.com/{owner}/{name}/pull/{number}",
            # GitHub runs no workflow for a pull request its job's own token opened
            "opened_by": opened_by,
            "triggers_workflows": opened_by != GITHUB_TOKEN,
        }
        self.refresh()
        return self.pulls[number]

    def merge(self, number: int) -> str:
        """Merge pull request `number` into the checked-out base branch of the repository with a
        merge commit (`git merge --no-ff`), close it as merged; returns the merge commit's SHA."""
        with self.lock:
            git = self.git
            pull = self.pulls[number]
            if git is None:
                raise RuntimeError("merge needs the stand-in to have a repository")
            if pull["state"] != "open":
                raise RuntimeError(f"pull request #{number} is {pull['state']}, not open")
            base = f"refs/heads/{pull['base']['ref']}"
            if git.checked_out() != base:
                raise RuntimeError(f"merge needs {base} checked out in {git.path}")
            self.refresh()
            source = pull["head"]["label"].replace(":", "/", 1)
            message = f"Merge pull request #{number} from {source}"
            env = git_env(MERGER)
            head = f"refs/heads/{pull['head']['ref']}"
            merged = git.git(
                "merge", "--no-ff", "--no-edit", "-m", message, head, env=env, check=False
            )
            if merged.returncode != 0:
                git.git("merge", "--abort", check=False)
                raise RuntimeError(
                    f"pull request #{number} does not merge:\n{merged.stdout}{merged.stderr}"
                )
            sha = git.git("rev-parse", "HEAD").stdout.strip()
            merged_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            pull.update(state="closed", merged=True, merge_commit_sha=sha, merged_at=merged_at)
            return sha


class Handler(BaseHTTPRequestHandler):
    state: GitHubState

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        self.next_page: str | None = None  # a list's next page, for the Link header
        url = urlsplit(self.path)
        path = unquote(url.path)
        with self.state.lock:
            credentials = self.headers.get("Authorization", "").split()
            secret = credentials[1] if len(credentials) == 2 else None  # "Bearer <token>"
            token = self.state.tokens.get(secret or "")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else {}
            except ValueError:
                body = None
            try:
                if body is None:
                    raise Refused(HTTPStatus.BAD_REQUEST, "Problems parsing JSON")
                if APP_TOKENS.match(path) and method == "POST":
                    status, payload = HTTPStatus.CREATED, self._app_token(secret, body)
                else:
                    token = self._authorize(token, method, path)
                    status, payload = self._route(method, path, parse_qs(url.query), body, token)
            except Refused as refused:
                status, payload = refused.status, refused.payload
            kind = "app-jwt" if APP_TOKENS.match(path) else token and token.kind
            self.state.calls.append(Request(method, path, kind, status))
            self._reply(status, payload)

    @staticmethod
    def _authorize(token: Token | None, method: str, path: str) -> Token:
        """GitHub's answers to a missing or unknown token and to one without the permission."""
        if token is None:
            raise Refused(HTTPStatus.UNAUTHORIZED, "Bad credentials")
        level = "read" if method == "GET" else "write"
        for pattern, scopes in SCOPES:
            if pattern.match(path) and not any(token.allows(scope, level) for scope in scopes):
                raise Refused(HTTPStatus.FORBIDDEN, "Resource not accessible by integration")
        return token

    def _app_token(self, secret: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """An installation token, as `actions/create-github-app-token` gets one: the App's JWT
        (the stand-in action sends `app-<client id>`) asks for permissions within the
        installation's; asking for none gives all of them."""
        if secret != f"app-{APP_CLIENT_ID}":
            raise Refused(HTTPStatus.UNAUTHORIZED, "A JSON web token could not be decoded")
        wanted = body.get("permissions") or APP_PERMISSIONS
        for scope, level in wanted.items():
            if level not in ("read", "write") or not Token("app", APP_PERMISSIONS).allows(
                scope, level
            ):
                raise unprocessable(
                    f"The permissions requested are not granted to this installation: {scope}"
                )
        token = self.state.issue_token("app", wanted)
        return {"token": token, "permissions": wanted}

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: dict[str, Any],
        token: Token,
    ) -> tuple[HTTPStatus, object]:
        state = self.state
        if (match := COMMENTS.match(path)) and method == "GET":
            return HTTPStatus.OK, self._page(
                path, query, state.comments.get(int(match["number"]), [])
            )
        if (match := COMMENTS.match(path)) and method == "POST":
            comment = {"id": state.next_id, "body": body["body"]}
            state.next_id += 1
            state.comments.setdefault(int(match["number"]), []).append(comment)
            return HTTPStatus.CREATED, comment
        if (match := COMMENT.match(path)) and method == "PATCH":
            for comments in state.comments.values():
                for comment in comments:
                    if comment["id"] == int(match["id"]):
                        comment["body"] = body["body"]
                        return HTTPStatus.OK, comment
        if (match := PULLS.match(path)) and method == "GET":
            return HTTPStatus.OK, self._list_pulls(query)
        if (match := PULLS.match(path)) and method == "POST":
            with state.lock:
                repository = f"{match['owner']}/{match['name']}"
                return HTTPStatus.CREATED, state.open_pull(repository, body, token.kind)
        if (match := COMMIT_PULLS.match(path)) and method == "GET":
            # a merge commit's pull request is the one it merged (GitHub lists it first)
            merged = [
                pull for pull in state.pulls.values() if pull["merge_commit_sha"] == match["sha"]
            ]
            return HTTPStatus.OK, merged
        if (match := PULL.match(path)) and int(match["number"]) in state.pulls:
            pull = state.pulls[int(match["number"])]
            if method == "PATCH":
                self._edit_pull(pull, body)
            state.refresh()
            return HTTPStatus.OK, pull
        git = state.git
        if git is None:
            raise not_found()
        if (match := GIT_COMMIT.match(path)) and method == "GET":
            return HTTPStatus.OK, git.commit(match["sha"])
        if GIT_TREES.match(path) and method == "POST":
            tree = git.write_tree(body.get("base_tree"), body.get("tree") or [])
            return HTTPStatus.CREATED, {"sha": tree, "tree": git.tree_entries(tree)}
        if GIT_COMMITS.match(path) and method == "POST":
            sha = git.commit_tree(body.get("message"), body.get("tree"), body.get("parents"))
            return HTTPStatus.CREATED, git.commit(sha)
        if (match := GIT_REF.match(path)) and method in ("GET", "PATCH"):
            ref = f"refs/{match['ref']}"
            if method == "PATCH":
                git.move_ref(ref, body.get("sha"), force=body.get("force") is True, create=False)
                state.refresh()
            return HTTPStatus.OK, self._ref(git, ref)
        if GIT_REFS.match(path) and method == "POST":
            ref = str(body.get("ref"))
            git.move_ref(ref, body.get("sha"), force=False, create=True)
            state.refresh()
            return HTTPStatus.CREATED, self._ref(git, ref)
        raise not_found()

    @staticmethod
    def _ref(git: Repository, ref: str) -> dict[str, Any]:
        if (sha := git.tip(ref)) is None:
            raise not_found()
        return {"ref": ref, "object": {"type": "commit", "sha": sha}}

    def _list_pulls(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        self.state.refresh()
        wanted = query.get("state", ["open"])[0]
        pulls = [
            pull
            for pull in self.state.pulls.values()
            if wanted in ("all", pull["state"])
            # GitHub ignores a head filter without its "owner:" part; so does the stand-in
            and (":" not in (head := query.get("head", [""])[0]) or pull["head"]["label"] == head)
            and query.get("base", [pull["base"]["ref"]])[0] == pull["base"]["ref"]
        ]
        return sorted(pulls, key=lambda pull: -pull["number"])  # newest first, as GitHub's

    def _edit_pull(self, pull: dict[str, Any], body: dict[str, Any]) -> None:
        if body.get("state") not in (None, "open", "closed"):
            raise unprocessable("state must be open or closed")
        if pull["merged"] and body.get("state") == "open":
            raise unprocessable("A merged pull request cannot be reopened")
        for key in ("title", "body", "state"):
            if key in body:
                pull[key] = body[key]

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any]) -> list[Any]:
        """One page of a list, as GitHub pages them: `per_page` (30 unless given, at most 100)
        from `page` (1 unless given), with a Link header to the next page when there is one."""
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * per_page
        if start + per_page < len(items):
            following = f"{self.state.url}{path}?per_page={per_page}&page={page + 1}"
            self.next_page = f'<{following}>; rel="next"'
        return items[start : start + per_page]

    def _reply(self, status: HTTPStatus, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        if self.next_page:
            self.send_header("Link", self.next_page)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are recorded in the state instead


@contextmanager
def github_api(repository: Path | None = None) -> Iterator[tuple[str, GitHubState]]:
    """Serve the stand-in on a free loopback port; yields its base URL and its state.

    With `repository` (a non-bare git repository with `main` checked out), the git data and
    pull-request endpoints work on it: it is the repository on "GitHub"."""
    state = GitHubState(repository=repository)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state.url, state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
