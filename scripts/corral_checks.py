"""What scripts/test-termination.sh and scripts/test_concurrent_sessions.py share: the client,
the [PASS]/[FAIL]/[SKIP] report, a look at this host's processes through /proc, and a look into
corral's store (SQLite or Redis) for a session's record. Standard library only.

The process checks read /proc on the host they run on: run the scripts on corral's host (in its
PID namespace), as corral's user or root, so that its agents' environments can be read.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Iterable, Optional

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import corral_client  # noqa: E402  (found through the path set just above)

__all__ = ["corral_client", "Report", "HostProcess", "read_process", "host_processes", "leftovers", "describe", "StoreLookup"]


class Report:
    """Prints one line per check and remembers whether any failed."""

    def __init__(self) -> None:
        self.failures = 0

    def passed(self, what: str, detail: str = "") -> None:
        self._line("PASS", what, detail)

    def failed(self, what: str, detail: str = "") -> None:
        self.failures += 1
        self._line("FAIL", what, detail)

    def skipped(self, what: str, detail: str = "") -> None:
        self._line("SKIP", what, detail)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        (self.passed if ok else self.failed)(what, detail)
        return ok

    @staticmethod
    def _line(verdict: str, what: str, detail: str) -> None:
        print(f"[{verdict}] {what}" + (f": {detail}" if detail else ""), flush=True)

    @property
    def exit_status(self) -> int:
        return 1 if self.failures else 0


@dataclass
class HostProcess:
    """A process as /proc shows it. ``session_id`` is its ``CORRAL_SESSION_ID``; None when it has
    none, or when its environment could not be read (``environment_readable`` says which)."""

    pid: int
    ppid: int
    pgid: int
    state: str
    start_time: int
    command: str
    session_id: Optional[str] = None
    environment_readable: bool = True

    @property
    def alive(self) -> bool:
        """Running or sleeping: a zombie has exited and only waits to be reaped."""
        return self.state not in ("Z", "X")


def read_process(pid: int) -> Optional[HostProcess]:
    """The process with this pid, or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name, in parentheses, may itself contain spaces and parentheses.
    command = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    process = HostProcess(
        pid=pid, ppid=int(fields[1]), pgid=int(fields[2]), state=fields[0], start_time=int(fields[19]), command=command,
    )
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            environment = file.read().split(b"\0")
        for entry in environment:
            if entry.startswith(b"CORRAL_SESSION_ID="):
                process.session_id = entry.split(b"=", 1)[1].decode("utf-8", "replace")
    except PermissionError:
        process.environment_readable = False
    except (FileNotFoundError, ProcessLookupError):
        return None
    return process


def host_processes() -> list[HostProcess]:
    """Every process of this host (of this PID namespace) that still exists."""
    processes = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (process := read_process(int(name))) is not None:
            processes.append(process)
    return processes


def is_sessions_process(process: HostProcess, session) -> bool:
    """Whether ``process`` carries the session's id: its own, or, for a session handed to a
    prewarmed agent (``start`` is ``warm``), the idle id the agent was started with."""
    if process.session_id == session.session_id:
        return True
    return session.start == "warm" and (process.session_id or "").startswith("idle_")


def leftovers(session_ids: Iterable[str], leaders: Iterable[HostProcess]) -> list[HostProcess]:
    """Live processes that belong to the sessions: those whose environment names one of them (or
    the idle id a prewarmed leader was started with),
    the leaders themselves (same pid and start time, so that a recycled pid does not count), and
    any member of the leaders' process groups."""
    leaders = list(leaders)
    # A prewarmed agent keeps the id it was started with (idle_...) after it is handed a session.
    ids = set(session_ids) | {leader.session_id for leader in leaders if leader.session_id}
    identities = {(leader.pid, leader.start_time) for leader in leaders}
    groups = {leader.pgid for leader in leaders if leader.pgid > 1}
    return [
        process for process in host_processes()
        if process.alive and (
            process.session_id in ids or (process.pid, process.start_time) in identities or process.pgid in groups
        )
    ]


def describe(processes: Iterable[HostProcess]) -> str:
    return ", ".join(f"{process.pid} ({process.command}, group {process.pgid})" for process in processes)


# --- The store ---------------------------------------------------------------------------------------


class StoreLookup:
    """What is left of a session's record in corral's store, given as corral's ``store`` key is:
    ``sqlite:PATH`` (a relative PATH is inside ``data_dir``, as for corral), ``memory`` or
    ``redis://[[USER]:PASSWORD@]HOST:PORT[/DB]``."""

    def __init__(self, store: str, data_dir: str, timeout: float = 10.0):
        self.store = store
        self.data_dir = data_dir
        self.timeout = timeout

    @property
    def description(self) -> str:
        """The store as it may be printed: a Redis URL without its credentials."""
        if not self.store.startswith("redis://"):
            return self.sqlite_path if self.store.startswith("sqlite:") else self.store
        parts = urllib.parse.urlsplit(self.store)
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()

    @property
    def inspectable(self) -> bool:
        """An in-memory store lives inside corral: nothing to look at from outside."""
        return self.store != "memory"

    def left(self, session_id: str) -> list[str]:
        """What of the session's record is still stored (empty: nothing). Raises OSError,
        sqlite3.Error or ValueError when the store cannot be read."""
        if self.store.startswith("sqlite:"):
            return self._sqlite_left(session_id)
        if self.store.startswith("redis://"):
            return self._redis_left(session_id)
        raise ValueError(f"unknown store {self.store!r}: expected sqlite:PATH, memory or redis://HOST:PORT[/DB]")

    @property
    def sqlite_path(self) -> str:
        path = self.store.removeprefix("sqlite:")
        return path if os.path.isabs(path) else os.path.join(self.data_dir, path)

    def _sqlite_left(self, session_id: str) -> list[str]:
        # Read-only: the check must never change corral's database (nor create one).
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.sqlite_path)) + "?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=self.timeout) as database:
            rows = database.execute("SELECT count(*) FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
        database.close()
        return ["its row in the sessions table"] if rows else []

    def _redis_left(self, session_id: str) -> list[str]:
        keys = [f"session:{session_id}", f"agent:{session_id}:pid"]
        with RedisConnection(self.store, self.timeout) as redis:
            return [key for key in keys if redis.command("EXISTS", key) == 1]


class RedisError(Exception):
    pass


class RedisConnection:
    """Just enough RESP2 to ask a few questions: AUTH and SELECT from the URL, then commands."""

    def __init__(self, url: str, timeout: float):
        parts = urllib.parse.urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"no host in {url!r}")
        self.socket = socket.create_connection((parts.hostname, parts.port or 6379), timeout=timeout)
        self.reader = self.socket.makefile("rb")
        try:
            if parts.password is not None:
                password = urllib.parse.unquote(parts.password)
                user = urllib.parse.unquote(parts.username) if parts.username else None
                self.command("AUTH", *([user] if user else []), password)
            database = parts.path.strip("/")
            if database and database != "0":
                self.command("SELECT", database)
        except BaseException:
            self.close()
            raise

    def command(self, *arguments: str):
        encoded = [argument.encode() for argument in arguments]
        request = b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(item), item) for item in encoded)
        self.socket.sendall(request)
        return self._reply()

    def _reply(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("the connection closed mid-reply")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else self.reader.read(length + 2)[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise RedisError(f"not a RESP reply: {line[:40]!r}")

    def close(self) -> None:
        self.reader.close()
        self.socket.close()

    def __enter__(self) -> RedisConnection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
