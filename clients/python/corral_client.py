"""A client of corral's HTTP API for orchestrators: standard library only (Python 3.11+).

``CorralClient`` is synchronous (``http.client``); ``AsyncCorralClient`` has the same methods as
coroutines, on asyncio streams (no threads). Both read ``CORRAL_URL`` (default
``http://127.0.0.1:8080``) and ``CORRAL_TOKEN`` when no URL or token is given. Answers are
dataclasses (``Session``, ``EndResult``, ``Inspection``, ``Event``, ...) that keep the whole JSON
object in ``raw``, so fields added by newer servers stay reachable. corral's refusals
(``{"error": "..."}`` with a 4xx/5xx status) raise ``CorralError`` (``NotFound``, ``Conflict``,
``Unauthorized``, ...) carrying ``status`` and the server's ``message``; an unreachable corral
raises ``CorralConnectionError`` naming the URL.

    from corral_client import CorralClient, NotFound

    corral = CorralClient()                       # CORRAL_URL, CORRAL_TOKEN
    session = corral.start("demo", session_id="call-1", metadata={"room": "lobby"})
    print(session.pid, session.status)
    print(corral.processes("call-1").child_processes)
    print(corral.logs("call-1", tail=20))
    with corral.events() as events:               # Server-Sent Events, as Event objects
        result = corral.end("call-1")
        for event in events:
            if event.type == "session.ended" and event.session_id == "call-1":
                break
    try:
        corral.get("call-1")
    except NotFound as error:
        print(error.status, error.message)        # 404 no session 'call-1' (it may have ended)

    # The same with asyncio:
    async with AsyncCorralClient() as corral:
        session = await corral.start("demo")
        async with corral.follow_logs(session.session_id) as lines:
            async for line in lines:
                print(line)                       # until the session ends
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import ssl
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar

__all__ = [
    "CorralClient", "AsyncCorralClient", "Session", "EndResult", "ProcessInfo", "Inspection", "Event",
    "CorralError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "TooManyRequests",
    "Unavailable", "CorralConnectionError", "CorralTimeout", "DEFAULT_URL",
]

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = "corral-client-python/1"
# Answers other than streams are small (a list of 10,000 sessions is a few MB); more is refused.
MAX_BODY_BYTES = 64 << 20
# Lines of a response head: corral sends a handful.
MAX_HEADER_LINES = 100
MAX_HEADER_LINE_BYTES = 64 << 10


# --- Errors -----------------------------------------------------------------------------------


class CorralError(Exception):
    """corral refused a request: ``status`` is the HTTP status, ``message`` the server's own
    (its ``{"error": ...}``), ``code`` its ``"code"`` (``"conflict"``, ``"not_found"``, ...; None
    from an older corral). ``retry_after`` is the seconds of a ``Retry-After`` (429, 503)."""

    def __init__(self, status: Optional[int], message: str, retry_after: Optional[float] = None, code: Optional[str] = None):
        super().__init__(f"{status} {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.code = code


class BadRequest(CorralError):
    """400: the request itself is wrong (a bad id, an unknown field)."""


class Unauthorized(CorralError):
    """401: a missing or wrong token."""


class Forbidden(CorralError):
    """403: the token's role may not do this."""


class NotFound(CorralError):
    """404: no such session (it ended) or agent."""


class Conflict(CorralError):
    """409: the session id is in use."""


class TooManyRequests(CorralError):
    """429: too many starts or streams for this token; see ``retry_after``."""


class Unavailable(CorralError):
    """503: at capacity, draining, or the store does not answer; see ``retry_after``."""


class CorralConnectionError(CorralError):
    """corral could not be reached, or the connection broke; ``status`` is None."""

    def __init__(self, message: str):
        super().__init__(None, message)


class CorralTimeout(CorralConnectionError):
    """corral did not answer (or a stream stayed silent) within the timeout."""


_ERRORS_BY_STATUS = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    429: TooManyRequests, 503: Unavailable,
}


def _error_from_response(status: int, reason: str, headers: dict[str, str], body: bytes) -> CorralError:
    """The exception for a 4xx/5xx answer, with corral's message when the body has one."""
    message = ""
    code = None
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
            message = decoded["error"]
            code = decoded["code"] if isinstance(decoded.get("code"), str) else None
    except ValueError:
        message = body.decode("utf-8", "replace").strip()[:500]
    retry_after = None
    try:
        retry_after = float(headers["retry-after"]) if "retry-after" in headers else None
    except ValueError:
        pass
    kind = _ERRORS_BY_STATUS.get(status, CorralError)
    return kind(status, message or reason or "HTTP error", retry_after, code)


# --- Typed answers ------------------------------------------------------------------------------


def _time(value: Any) -> Optional[datetime]:
    """An RFC 3339 time as an aware datetime; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass
class Session:
    """A live session (``GET /api/sessions/{id}``). ``processes`` and ``memory_bytes`` are set in
    ``list(usage=True)``; ``node`` with several nodes; ``livekit`` for LiveKit sessions."""

    session_id: str
    agent: str
    status: str
    pid: Optional[int]
    pgid: Optional[int]
    is_group_leader: bool
    containment: Optional[str]
    start: Optional[str]
    started_at: Optional[datetime]
    expires_at: Optional[datetime]
    metadata: dict[str, str]
    node: Optional[str] = None
    livekit: Optional[dict[str, str]] = None
    processes: Optional[int] = None
    memory_bytes: Optional[int] = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(
            session_id=data.get("session_id", ""), agent=data.get("agent", ""), status=data.get("status", ""),
            pid=data.get("pid"), pgid=data.get("pgid"), is_group_leader=bool(data.get("is_group_leader", False)),
            containment=data.get("containment"), start=data.get("start"),
            started_at=_time(data.get("started_at")), expires_at=_time(data.get("expires_at")),
            metadata=dict(data.get("metadata") or {}), node=data.get("node"), livekit=data.get("livekit"),
            processes=data.get("processes"), memory_bytes=data.get("memory_bytes"), raw=data,
        )


@dataclass
class EndResult:
    """The answer to an end (``DELETE``): ``outcome`` is ``exited``, ``terminated`` or ``killed``;
    ``duration_ms`` is how long the end took."""

    session_id: str
    outcome: str
    reason: Optional[str]
    duration_ms: Optional[int]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndResult:
        return cls(
            session_id=data.get("session_id", ""), outcome=data.get("outcome", ""), reason=data.get("reason"),
            duration_ms=data.get("duration_ms"), raw=data,
        )


@dataclass
class ProcessInfo:
    """One process of a session. ``env`` only for admin tokens (left out of ``repr``: it holds
    secrets)."""

    pid: int
    ppid: int
    pgid: int
    cmd: str
    env: Optional[dict[str, str]] = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessInfo:
        return cls(
            pid=data.get("pid", 0), ppid=data.get("ppid", 0), pgid=data.get("pgid", 0), cmd=data.get("cmd", ""),
            env=data.get("env"), raw=data,
        )


@dataclass
class Inspection:
    """Every process of a session, leader first (``GET /api/debug/session/{id}/processes``), and
    the stored record as ``session_data``."""

    session_id: str
    pid: Optional[int]
    pgid: Optional[int]
    is_group_leader: bool
    is_process_alive: bool
    is_group_alive: bool
    child_processes: list[ProcessInfo]
    session_data: dict[str, Any]
    errors: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def log_path(self) -> Optional[str]:
        """The session's log file on corral's host, from the stored record (None if not shown)."""
        return self.session_data.get("log_path")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inspection:
        return cls(
            session_id=data.get("session_id", ""), pid=data.get("pid"), pgid=data.get("pgid"),
            is_group_leader=bool(data.get("is_group_leader", False)),
            is_process_alive=bool(data.get("is_process_alive", False)),
            is_group_alive=bool(data.get("is_group_alive", False)),
            child_processes=[ProcessInfo.from_json(entry) for entry in data.get("child_processes") or []],
            session_data=dict(data.get("session_data") or {}), errors=list(data.get("errors") or []), raw=data,
        )


@dataclass
class Event:
    """One Server-Sent Event of ``/api/events``: ``type`` from its ``event:`` line (``session.started``,
    ``session.ended``, ...), ``id`` from ``id:``, and ``data`` its JSON (``{}`` when it is not a JSON
    object; the text is in ``raw_data``). The common fields are lifted out of ``data``."""

    type: str
    id: Optional[str]
    data: dict[str, Any]
    raw_data: str = field(repr=False)
    session_id: Optional[str] = None
    agent: Optional[str] = None
    sequence: Optional[int] = None
    time: Optional[datetime] = None

    @classmethod
    def from_sse(cls, event_type: str, event_id: Optional[str], text: str) -> Event:
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = None
        data = decoded if isinstance(decoded, dict) else {}
        return cls(
            type=event_type, id=event_id, data=data, raw_data=text, session_id=data.get("session_id"),
            agent=data.get("agent"), sequence=data.get("sequence"), time=_time(data.get("time")),
        )


# --- Stream decoding, shared by both clients (bytes in, items out; no I/O) --------------------------


_LF = re.compile(rb"\n")
_ANY_NEWLINE = re.compile(rb"\r\n|\r|\n")


class _LineSplitter:
    """Cuts a byte stream into lines. Agent logs end lines at LF; Server-Sent Events at CRLF, LF
    or CR alike (``any_newline``), where a CR at the end of one chunk may be the first half of a
    CRLF split across two."""

    def __init__(self, any_newline: bool):
        self.pattern = _ANY_NEWLINE if any_newline else _LF
        self.pending = bytearray()
        # Where the search for a line end resumes: a long line arriving in many chunks is
        # searched once, not once per chunk.
        self.searched = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.pending += data
        lines: list[bytes] = []
        start = 0
        for match in self.pattern.finditer(self.pending, self.searched):
            if match.group() == b"\r" and match.end() == len(self.pending):
                break  # perhaps the first half of a CRLF: decided by the next byte
            lines.append(bytes(self.pending[start:match.start()]))
            start = match.end()
        del self.pending[:start]
        self.searched = len(self.pending) - (1 if self.pending.endswith(b"\r") else 0)
        return lines

    def finish(self) -> list[bytes]:
        """The last line, when the stream ended without a newline after it."""
        rest = bytes(self.pending.removesuffix(b"\r") if self.pattern is _ANY_NEWLINE else self.pending)
        self.pending.clear()
        self.searched = 0
        return [rest] if rest else []


class _LogDecoder:
    """Followed log bytes to text lines (without their newline). Split before decoding, so that a
    character cut between two chunks is decoded whole."""

    def __init__(self) -> None:
        self.lines = _LineSplitter(any_newline=False)

    def feed(self, data: bytes) -> list[str]:
        return [line.decode("utf-8", "replace") for line in self.lines.feed(data)]

    def finish(self) -> list[str]:
        return [line.decode("utf-8", "replace") for line in self.lines.finish()]


class _EventDecoder:
    """Server-Sent Events (the WHATWG format): ``event:``, ``data:`` (several make one, joined by
    newlines), ``id:``; lines starting with ``:`` are comments (corral's keep-alives); a blank line
    dispatches the event, and one without data is dropped."""

    def __init__(self) -> None:
        self.lines = _LineSplitter(any_newline=True)
        self.first_line = True
        self.last_id: Optional[str] = None
        self._reset()

    def _reset(self) -> None:
        self.event_type = ""
        self.data: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
        return [event for line in self.lines.feed(data) if (event := self._line(line)) is not None]

    def finish(self) -> list[Event]:
        # An event not closed by a blank line when the stream ends is incomplete: dropped.
        for line in self.lines.finish():
            self._line(line)
        return []

    def _line(self, raw: bytes) -> Optional[Event]:
        line = raw.decode("utf-8", "replace")
        if self.first_line:
            line = line.removeprefix("\ufeff")
            self.first_line = False
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event_type = value
        elif name == "data":
            self.data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        # `retry:` and unknown fields are ignored: this client does not reconnect by itself.
        return None

    def _dispatch(self) -> Optional[Event]:
        event = None
        if self.data:
            event = Event.from_sse(self.event_type or "message", self.last_id, "\n".join(self.data))
        self._reset()
        return event


# --- What both clients share -------------------------------------------------------------------------


T = TypeVar("T")


class _Endpoint:
    """Where corral is and how to talk to it: the parsed URL, the token, the headers every
    request carries."""

    def __init__(self, url: Optional[str], token: Optional[str], ssl_context: Optional[ssl.SSLContext]):
        self.url = (url or os.environ.get("CORRAL_URL") or DEFAULT_URL).rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"corral URL must be http://HOST[:PORT] or https://HOST[:PORT], got {self.url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = token if token is not None else (os.environ.get("CORRAL_TOKEN") or None)
        self.ssl_context = ssl_context or (ssl.create_default_context() if self.tls else None)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    def headers(self, method: str, body: Optional[bytes], accept: str) -> dict[str, str]:
        """What a well-behaved program sends: no ``Origin`` or ``Sec-Fetch-*`` (those mark a browser,
        and corral refuses cross-site ones), JSON bodies as ``application/json`` (corral answers 415
        otherwise), and the token as a bearer credential."""
        headers = {"Host": self.authority, "User-Agent": USER_AGENT, "Accept": accept, "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(body))
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        return headers

    def unreachable(self, error: BaseException) -> CorralConnectionError:
        if isinstance(error, TimeoutError):
            return CorralTimeout(f"corral at {self.url} did not answer in time")
        # asyncio words a refused connection "Connect call failed (...)": the errno says it plainly.
        # Name-resolution errors (negative numbers) carry their own words.
        errno = getattr(error, "errno", None)
        reason = os.strerror(errno) if isinstance(errno, int) and errno > 0 else (str(error) or type(error).__name__)
        return CorralConnectionError(f"cannot reach corral at {self.url}: {reason}")


def _segment(session_id: str) -> str:
    """A session id as one path segment: percent-encoded, so that an id from an untrusted source
    cannot add segments or a query; `.` and `..` encoded too, so no one normalises them away."""
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("a session id must be a non-empty string")
    quoted = urllib.parse.quote(session_id, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _start_body(agent, session_id, metadata, timeout_seconds, livekit) -> bytes:
    """Only what is given: the server's defaults apply to the rest."""
    body: dict[str, Any] = {}
    for name, value in (("agent", agent), ("session_id", session_id), ("metadata", metadata),
                        ("timeout_seconds", timeout_seconds), ("livekit", livekit)):
        if value is not None:
            body[name] = value
    return json.dumps(body).encode()


def _logs_path(session_id: str, tail: Optional[int], follow: bool) -> str:
    query = {}
    if tail is not None:
        query["tail"] = str(int(tail))
    if follow:
        query["follow"] = "true"
    encoded = urllib.parse.urlencode(query)
    return f"/api/sessions/{_segment(session_id)}/logs" + (f"?{encoded}" if encoded else "")


def _json_object(status: int, body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise CorralError(status, f"expected a JSON object from corral, got {body[:200]!r}")
    return decoded


# --- The synchronous client ----------------------------------------------------------------------


class _Exchange:
    """One request's connection and its answer, closed together: corral may keep a connection
    open after answering even when asked to close it, so the socket is closed here, not left to
    the garbage collector."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse, endpoint: _Endpoint):
        self.connection = connection
        self.response = response
        self.endpoint = endpoint

    @property
    def status(self) -> int:
        return self.response.status

    def read_some(self) -> bytes:
        """What has arrived of the body (waiting for at least a byte); ``b""`` at its end."""
        try:
            return self.response.read1(65536)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise self.endpoint.unreachable(error) from error

    def read_all(self) -> bytes:
        try:
            body = self.response.read(MAX_BODY_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            raise self.endpoint.unreachable(error) from error
        finally:
            self.close()
        if len(body) > MAX_BODY_BYTES:
            raise CorralError(self.status, f"answer larger than {MAX_BODY_BYTES} bytes")
        return body

    def close(self) -> None:
        self.connection.close()  # closes the response too
        self.response.close()


class Stream(Generic[T]):
    """A streaming answer (followed log lines, events), read as it arrives. Iterate over it; close
    it (or use ``with``) to hang up early. It ends when the server ends the response: a followed
    log when its session ends, events when corral stops."""

    def __init__(self, exchange: _Exchange, decoder):
        self._exchange = exchange
        self._decoder = decoder
        self._items = self._generate()

    def _generate(self) -> Iterator[T]:
        try:
            while chunk := self._exchange.read_some():
                yield from self._decoder.feed(chunk)
            yield from self._decoder.finish()
        finally:
            self._exchange.close()

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        self._items.close()
        self._exchange.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Client:
    """Where corral is, its token, and how long to wait: what both clients are made with."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0,
                 ssl_context: Optional[ssl.SSLContext] = None):
        self.endpoint = _Endpoint(url, token, ssl_context)
        self.timeout = timeout

    @property
    def url(self) -> str:
        return self.endpoint.url


class CorralClient(_Client):
    """corral's API, synchronously. Each request uses a connection of its own, so one client may
    be shared between threads. ``timeout`` (seconds) bounds connecting and each wait for data;
    streams take their own (``None``: wait as long as the stream is open)."""

    def __enter__(self) -> CorralClient:
        return self

    def __exit__(self, *exc_info) -> None:
        pass  # no connection outlives a request

    # Sessions

    def start(self, agent: Optional[str] = None, session_id: Optional[str] = None,
              metadata: Optional[dict[str, str]] = None, timeout_seconds: Optional[float] = None,
              livekit: Optional[dict[str, str]] = None) -> Session:
        """Starts a session (the server's default agent and a generated id unless given)."""
        body = _start_body(agent, session_id, metadata, timeout_seconds, livekit)
        return Session.from_json(self._json("POST", "/api/sessions", body))

    def get(self, session_id: str) -> Session:
        return Session.from_json(self._json("GET", f"/api/sessions/{_segment(session_id)}"))

    def list(self, usage: bool = False) -> list[Session]:
        """Live sessions; with ``usage``, each with ``processes`` and ``memory_bytes``."""
        answer = self._json("GET", "/api/sessions" + ("?usage=true" if usage else ""))
        return [Session.from_json(entry) for entry in answer.get("sessions") or []]

    def end(self, session_id: str) -> EndResult:
        """Ends a session; answers once no process of it is left (allow for ``grace_seconds``)."""
        return EndResult.from_json(self._json("DELETE", f"/api/sessions/{_segment(session_id)}"))

    def processes(self, session_id: str) -> Inspection:
        return Inspection.from_json(self._json("GET", f"/api/debug/session/{_segment(session_id)}/processes"))

    # Logs and events

    def logs(self, session_id: str, tail: Optional[int] = None) -> str:
        """The last ``tail`` lines of the agent's output (the server's default: 100)."""
        exchange = self._send("GET", _logs_path(session_id, tail, follow=False), accept="text/plain")
        return exchange.read_all().decode("utf-8", "replace")

    def follow_logs(self, session_id: str, tail: Optional[int] = 0, timeout: Optional[float] = None) -> Stream[str]:
        """The last ``tail`` lines, then each line the agent writes, until its session ends."""
        path = _logs_path(session_id, tail, follow=True)
        return Stream(self._send("GET", path, accept="text/plain", stream=True, stream_timeout=timeout), _LogDecoder())

    def events(self, timeout: Optional[float] = None) -> Stream[Event]:
        """Every session event from now on (the subscription is in place when this returns). corral
        sends a keep-alive every 15 s, so a ``timeout`` above that detects a dead connection."""
        exchange = self._send("GET", "/api/events", accept="text/event-stream", stream=True, stream_timeout=timeout)
        return Stream(exchange, _EventDecoder())

    # HTTP

    def _json(self, method: str, path: str, body: Optional[bytes] = None) -> dict[str, Any]:
        exchange = self._send(method, path, body)
        return _json_object(exchange.status, exchange.read_all())

    def _send(self, method: str, path: str, body: Optional[bytes] = None, accept: str = "application/json",
              stream: bool = False, stream_timeout: Optional[float] = None) -> _Exchange:
        """Sends a request and reads the answer's head; raises for a refusal. The body is left to
        read; for a ``stream``, the socket then waits ``stream_timeout`` for data (None: forever)."""
        endpoint = self.endpoint
        if endpoint.tls:
            connection = http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=self.timeout, context=endpoint.ssl_context)
        else:
            connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self.timeout)
        try:
            connection.putrequest(method, endpoint.prefix + path, skip_host=True, skip_accept_encoding=True)
            for name, value in endpoint.headers(method, body, accept).items():
                connection.putheader(name, value)
            connection.endheaders(body)
            # Taken before the answer: a connection told "Connection: close" lets go of its socket.
            sock = connection.sock
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise endpoint.unreachable(error) from error
        exchange = _Exchange(connection, response, endpoint)
        if response.status >= 400:
            headers = {name.lower(): value for name, value in response.getheaders()}
            raise _error_from_response(response.status, response.reason, headers, exchange.read_all())
        if stream and sock is not None:
            sock.settimeout(stream_timeout)
        return exchange


# --- The asynchronous client ---------------------------------------------------------------------


class _ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this reader understands it."""


_DIGITS = re.compile(r"[0-9]+")
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")


class _AsyncResponse:
    """An HTTP/1.1 answer read from an asyncio stream: the status line and headers at once, the body
    on demand, framed by ``Transfer-Encoding: chunked``, ``Content-Length`` or the end of the
    connection (in that order of precedence, as RFC 9112 says)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.chunked = False
        self.remaining: Optional[int] = None  # bytes left: of the body, or of the current chunk
        self.done = False

    async def read_head(self, method: str) -> None:
        # Interim answers (100 Continue, ...) come before the real one; 101 would switch protocols.
        while True:
            self.status, self.reason = self._status_line(await self._line())
            self.headers = await self._headers()
            if not 100 <= self.status < 200 or self.status == 101:
                break
        transfer_encoding = self.headers.get("transfer-encoding", "").lower()
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.done = True
        elif transfer_encoding:
            # Only chunked frames a body; any other last coding means "until the connection closes".
            self.chunked = transfer_encoding.rsplit(",", 1)[-1].strip() == "chunked"
            self.remaining = 0 if self.chunked else None
        elif "content-length" in self.headers:
            lengths = {value.strip() for value in self.headers["content-length"].split(",")}
            if len(lengths) != 1 or not _DIGITS.fullmatch(next(iter(lengths))):
                raise _ProtocolError(f"bad Content-Length: {self.headers['content-length']!r}")
            self.remaining = int(lengths.pop())
            self.done = self.remaining == 0

    async def _line(self) -> bytes:
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as error:
            raise _ProtocolError("connection closed in the middle of the answer's head") from error
        except asyncio.LimitOverrunError as error:
            raise _ProtocolError("a line of the answer's head is too long") from error
        return line.rstrip(b"\r\n")

    @staticmethod
    def _status_line(line: bytes) -> tuple[int, str]:
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isdigit() and len(parts[1]) == 3):
            raise _ProtocolError(f"not an HTTP/1.x status line: {line[:100]!r}")
        return int(parts[1]), parts[2] if len(parts) > 2 else ""

    async def _headers(self) -> dict[str, str]:
        """Header fields by lower-case name; repeated fields joined with commas."""
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES + 1):
            line = await self._line()
            if not line:
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip():
                raise _ProtocolError(f"bad header line: {line[:100]!r}")
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        raise _ProtocolError(f"more than {MAX_HEADER_LINES} header lines")

    async def read_chunk(self) -> bytes:
        """The next bytes of the body as soon as any arrive; ``b""`` once it is complete."""
        if self.done:
            return b""
        if self.chunked:
            return await self._read_chunked()
        if self.remaining is None:  # until the connection closes
            data = await self.reader.read(65536)
            self.done = not data
            return data
        data = await self.reader.read(min(self.remaining, 65536))
        if not data:
            raise _ProtocolError(f"connection closed with {self.remaining} bytes of the body missing")
        self.remaining -= len(data)
        self.done = self.remaining == 0
        return data

    async def _read_chunked(self) -> bytes:
        if self.remaining == 0:
            size_line = (await self._line()).split(b";", 1)[0].strip()
            # Plain hex only: int() would also take a sign, "0x" or underscores.
            if not _HEX_DIGITS.fullmatch(size_line):
                raise _ProtocolError(f"bad chunk size: {size_line[:40]!r}")
            self.remaining = int(size_line, 16)
            if self.remaining == 0:
                await self._headers()  # trailer fields, then the blank line that ends the body
                self.done = True
                return b""
        data = await self.reader.read(min(self.remaining, 65536))
        if not data:
            raise _ProtocolError("connection closed in the middle of a chunk")
        self.remaining -= len(data)
        if self.remaining == 0 and await self._line() != b"":
            raise _ProtocolError("a chunk is not followed by CRLF")
        return data

    async def read_all(self, limit: int) -> bytes:
        body = bytearray()
        while chunk := await self.read_chunk():
            body += chunk
            if len(body) > limit:
                raise _ProtocolError(f"answer larger than {limit} bytes")
        return bytes(body)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass  # already gone: nothing left to release


class AsyncStream(Generic[T]):
    """A streaming answer for asyncio: ``async with client.events() as events: async for event in
    events: ...``. ``await client.events()`` opens it too (then ``await stream.close()``). The
    request is sent on opening, so errors (401, 404, 429) surface there."""

    def __init__(self, open_response: Callable[[], Any], decoder, endpoint: _Endpoint, timeout: Optional[float]):
        self._open_response = open_response
        self._decoder = decoder
        self._endpoint = endpoint
        self._timeout = timeout
        self._response: Optional[_AsyncResponse] = None
        self._pending: list[T] = []
        self._finished = False

    async def open(self) -> AsyncStream[T]:
        if self._response is None and not self._finished:
            self._response = await self._open_response()
        return self

    def __await__(self):
        return self.open().__await__()

    async def __aenter__(self) -> AsyncStream[T]:
        return await self.open()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        await self.open()
        while not self._pending:
            if self._finished or self._response is None:
                raise StopAsyncIteration
            chunk = await self._read()
            if chunk:
                self._pending.extend(self._decoder.feed(chunk))
            else:
                self._pending.extend(self._decoder.finish())
                await self.close()
        return self._pending.pop(0)

    async def _read(self) -> bytes:
        assert self._response is not None
        try:
            async with asyncio.timeout(self._timeout):
                return await self._response.read_chunk()
        except (OSError, TimeoutError, _ProtocolError) as error:
            await self.close()
            raise _async_failure(self._endpoint, error) from error

    async def close(self) -> None:
        self._finished = True
        self._pending.clear()
        if self._response is not None:
            response, self._response = self._response, None
            await response.close()


def _async_failure(endpoint: _Endpoint, error: BaseException) -> CorralConnectionError:
    if isinstance(error, _ProtocolError):
        return CorralConnectionError(f"bad answer from corral at {endpoint.url}: {error}")
    return endpoint.unreachable(error)


class AsyncCorralClient(_Client):
    """corral's API for asyncio, with the methods of ``CorralClient`` as coroutines (streams as
    ``AsyncStream``). Each request uses a connection of its own, so requests may run concurrently
    (``asyncio.gather``)."""

    async def __aenter__(self) -> AsyncCorralClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        pass  # no connection outlives a request

    async def start(self, agent: Optional[str] = None, session_id: Optional[str] = None,
                    metadata: Optional[dict[str, str]] = None, timeout_seconds: Optional[float] = None,
                    livekit: Optional[dict[str, str]] = None) -> Session:
        body = _start_body(agent, session_id, metadata, timeout_seconds, livekit)
        return Session.from_json(await self._json("POST", "/api/sessions", body))

    async def get(self, session_id: str) -> Session:
        return Session.from_json(await self._json("GET", f"/api/sessions/{_segment(session_id)}"))

    async def list(self, usage: bool = False) -> list[Session]:
        answer = await self._json("GET", "/api/sessions" + ("?usage=true" if usage else ""))
        return [Session.from_json(entry) for entry in answer.get("sessions") or []]

    async def end(self, session_id: str) -> EndResult:
        return EndResult.from_json(await self._json("DELETE", f"/api/sessions/{_segment(session_id)}"))

    async def processes(self, session_id: str) -> Inspection:
        return Inspection.from_json(await self._json("GET", f"/api/debug/session/{_segment(session_id)}/processes"))

    async def logs(self, session_id: str, tail: Optional[int] = None) -> str:
        status, body = await self._request("GET", _logs_path(session_id, tail, follow=False), accept="text/plain")
        return body.decode("utf-8", "replace")

    def follow_logs(self, session_id: str, tail: Optional[int] = 0, timeout: Optional[float] = None) -> AsyncStream[str]:
        path = _logs_path(session_id, tail, follow=True)
        return AsyncStream(lambda: self._open(path, "text/plain"), _LogDecoder(), self.endpoint, timeout)

    def events(self, timeout: Optional[float] = None) -> AsyncStream[Event]:
        return AsyncStream(lambda: self._open("/api/events", "text/event-stream"), _EventDecoder(), self.endpoint, timeout)

    # HTTP

    async def _json(self, method: str, path: str, body: Optional[bytes] = None) -> dict[str, Any]:
        status, answer = await self._request(method, path, body)
        return _json_object(status, answer)

    async def _request(self, method: str, path: str, body: Optional[bytes] = None,
                       accept: str = "application/json") -> tuple[int, bytes]:
        response = await self._open(path, accept, method, body)
        try:
            async with asyncio.timeout(self.timeout):
                return response.status, await response.read_all(MAX_BODY_BYTES)
        except (OSError, TimeoutError, _ProtocolError) as error:
            raise _async_failure(self.endpoint, error) from error
        finally:
            await response.close()

    async def _open(self, path: str, accept: str, method: str = "GET", body: Optional[bytes] = None) -> _AsyncResponse:
        """Connects, sends the request and reads the answer's head; raises for a refusal (after
        reading its body for the message)."""
        endpoint = self.endpoint
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=endpoint.ssl_context, limit=MAX_HEADER_LINE_BYTES,
                    server_hostname=endpoint.host if endpoint.tls else None,
                )
        except (OSError, TimeoutError) as error:
            raise endpoint.unreachable(error) from error
        response = _AsyncResponse(reader, writer)
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(self._request_head(method, path, body, accept) + (body or b""))
                await writer.drain()
                await response.read_head(method)
                if response.status >= 400:
                    answer = await response.read_all(MAX_BODY_BYTES)
                    raise _error_from_response(response.status, response.reason, response.headers, answer)
        except BaseException as error:
            await response.close()
            if isinstance(error, (OSError, TimeoutError, _ProtocolError)):
                raise _async_failure(endpoint, error) from error
            raise
        return response

    def _request_head(self, method: str, path: str, body: Optional[bytes], accept: str) -> bytes:
        lines = [f"{method} {self.endpoint.prefix}{path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.endpoint.headers(method, body, accept).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
