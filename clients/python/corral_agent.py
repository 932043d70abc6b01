"""Helpers for agents supervised by corral, in plain Python (no dependencies).

corral speaks two small protocols with its agents:

* systemd's notify protocol: datagrams of ``KEY=VALUE`` lines sent to the Unix socket named by
  ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). ``READY=1`` says the
  agent has loaded; ``STATUS=...`` is a free-form status line; ``WATCHDOG=1`` is a keep-alive;
  ``STOPPING=1`` says it is shutting down.
* the assignment channel of a prewarmed agent: a stream socket inherited as the file descriptor
  named by ``$CORRAL_ASSIGN_FD``. corral writes one line of JSON, the session the agent now
  serves (``{"type": "assign", "session_id", "agent", "metadata", "expires_at", "env", ...}``);
  the agent answers with one line, ``{"type": "ack", "session_id": ...}``.

The same agent runs cold too (spawned for one session, everything in its environment):
``wait_for_assignment()`` hides the difference.

    import corral_agent
    load_models()                              # the slow part, done before any call arrives
    corral_agent.ready()
    job = corral_agent.wait_for_assignment()   # returns at once when started cold
    serve(job.session_id, job.metadata)

* the control channel of a template (a profile with ``template``; ``docs/templates.md``): the
  template warms up once and forks each session; ``serve_template()`` does it all, and the same
  program runs cold too:

    corral_agent.serve_template(warm_up, session, setup)   # warm_up once; setup, session(job) per fork
"""

import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback

__all__ = ["Assignment", "notify", "ready", "status", "watchdog", "stopping", "prewarmed", "wait_for_assignment",
           "is_template", "serve_template", "TemplateError"]


def notify(*lines):
    """Sends ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET`` as one datagram. Returns False when the
    agent was started without a notify socket, or when nobody listens on it: corral restarting
    after a crash is not a reason for its agents to fail (as sd_notify, this never raises)."""
    return _send_datagram(lines, os.environ.get("NOTIFY_SOCKET")) is None


# What sending to a socket nobody listens on fails with: corral is down (its socket file is
# there, unbound, or gone) and is expected back.
_NOBODY_LISTENS = (errno.ECONNREFUSED, errno.ENOENT)
# How often and for how long an undelivered READY=1 is said again.
_RESEND_INTERVAL_SECONDS = 0.2
_RESEND_FOR_SECONDS = 3600.0
_resend_lock = threading.Lock()
_resend_state = {"lines": None, "thread": None}


def _forget_resend_in_child():
    # A fork (a template's session) copies the lock as it was, perhaps held by the resending
    # thread, which the fork does not have.
    global _resend_lock
    _resend_lock = threading.Lock()
    _resend_state.update(lines=None, thread=None)


os.register_at_fork(after_in_child=_forget_resend_in_child)


def _nobody_listens(failure):
    """Whether `_send_datagram` failed for want of a listener (worth saying again later)."""
    return isinstance(failure, OSError) and failure.errno in _NOBODY_LISTENS


def _send_datagram(lines, address):
    """None once sent; else why not: False without a socket, or the OSError."""
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(lines).encode(), address)
    except OSError as error:
        return error
    return None


def ready(status_text=None):
    """Tells corral the agent has loaded and can serve. Returns whether corral heard it now.

    If nobody listens (corral crashed and is restarting), it is said again in the background
    every 0.2 s until the restarted corral hears it, for up to an hour: a session still starting
    when corral went down would otherwise be ended at its startup timeout, ready as it is."""
    lines = ["READY=1"]
    if status_text is not None:
        lines.append("STATUS=" + status_text)
    address = os.environ.get("NOTIFY_SOCKET")
    failure = _send_datagram(lines, address)
    with _resend_lock:
        if not _nobody_listens(failure):
            _resend_state["lines"] = None
            return failure is None
        _resend_state["lines"] = (lines, address)
        thread = _resend_state["thread"]
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_resend, name="corral-ready", daemon=True)
            _resend_state["thread"] = thread
            thread.start()
    return False


def _resend():
    deadline = time.monotonic() + _RESEND_FOR_SECONDS
    while time.monotonic() < deadline:
        time.sleep(_RESEND_INTERVAL_SECONDS)
        with _resend_lock:
            pending = _resend_state["lines"]
            if pending is None:
                return
            failure = _send_datagram(*pending)
            if not _nobody_listens(failure):
                _resend_state["lines"] = None
                return
    with _resend_lock:
        _resend_state["lines"] = None


def status(text):
    return notify("STATUS=" + text)


def watchdog():
    return notify("WATCHDOG=1")


def stopping():
    return notify("STOPPING=1")


def prewarmed():
    """True when this agent was started ahead of time and waits to be handed a session."""
    return "CORRAL_ASSIGN_FD" in os.environ


class Assignment:
    """The session an agent serves."""

    def __init__(self, session_id, agent, metadata, env, expires_at=None, livekit=None, warm=False, forked=False):
        self.session_id = session_id
        self.agent = agent
        self.metadata = metadata
        self.env = env
        self.expires_at = expires_at
        self.livekit = livekit
        self.warm = warm
        self.forked = forked

    def __repr__(self):
        return "Assignment(session_id=%r, agent=%r, warm=%r, forked=%r)" % (self.session_id, self.agent, self.warm, self.forked)


_SESSION_VARIABLES = ("CORRAL_SESSION_ID", "CORRAL_AGENT", "CORRAL_METADATA", "LIVEKIT_URL", "LIVEKIT_ROOM", "LIVEKIT_TOKEN")


def wait_for_assignment():
    """The session this agent serves. Started cold, it is read from the environment at once.
    Prewarmed, this blocks until corral hands one over, puts the session's variables
    (``CORRAL_SESSION_ID``, ``CORRAL_METADATA``, LiveKit credentials, ...) into ``os.environ``,
    and acknowledges it. Raises ConnectionError if corral closes the channel first."""
    if not prewarmed():
        env = {name: os.environ[name] for name in _SESSION_VARIABLES if name in os.environ}
        livekit = None
        if "LIVEKIT_ROOM" in env:
            livekit = {"room": env["LIVEKIT_ROOM"]}
        return Assignment(
            session_id=os.environ.get("CORRAL_SESSION_ID"),
            agent=os.environ.get("CORRAL_AGENT"),
            metadata=json.loads(os.environ.get("CORRAL_METADATA") or "{}"),
            env=env,
            livekit=livekit,
        )
    fd = int(os.environ["CORRAL_ASSIGN_FD"])
    line = _read_line(fd)
    message = json.loads(line)
    if message.get("type") != "assign" or not message.get("session_id"):
        raise ValueError("corral sent something other than an assignment: %r" % line[:200])
    env = {str(k): str(v) for k, v in (message.get("env") or {}).items()}
    os.environ.update(env)
    _write_all(fd, (json.dumps({"type": "ack", "session_id": message["session_id"]}) + "\n").encode())
    os.close(fd)
    del os.environ["CORRAL_ASSIGN_FD"]
    return Assignment(
        session_id=message["session_id"],
        agent=message.get("agent"),
        metadata=message.get("metadata") or {},
        env=env,
        expires_at=message.get("expires_at"),
        livekit=message.get("livekit"),
        warm=True,
    )


def _read_line(fd):
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise ConnectionError("corral closed the assignment channel before handing over a session")
        data += chunk
    return data.split(b"\n", 1)[0].decode()


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


# --- Templates ------------------------------------------------------------------------------


class TemplateError(RuntimeError):
    """The template cannot fork safely (threads running after the warm-up)."""


def is_template():
    """True when corral started this process as its profile's template."""
    return os.environ.get("CORRAL_TEMPLATE") == "1" and "CORRAL_TEMPLATE_FD" in os.environ


def serve_template(warm_up, session, setup=None):
    """Runs an agent whose sessions corral may fork from a warm template (docs/templates.md).

    As a template (``is_template()``): ``warm_up()`` once, then, with no other thread running
    (``threading.active_count() == 1``, else ``TemplateError``: a fork copies only the calling
    thread), ``READY=1`` and a child forked per request, reaped and reported; it exits when corral
    closes the channel (its children run on). Never returns. Each child first enters the
    session's cgroups, leads a new session, takes the session's log, environment (also
    ``os.environ``), working directory and the signal dispositions of the call, then runs
    ``setup()`` (start threads here, never in ``warm_up``), says ``READY=1`` and waits for its
    session if it is an idle fork (``prewarm``), and runs ``session(job)``; it exits with what
    that returns (None: 0), a ``SystemExit``'s code, or 1 after an exception's traceback.

    Cold: ``warm_up()``, ``setup()`` and ``session(job)`` in this process; returns what
    ``session`` returns.

    With ``"ready": "notify"``, ``session`` calls ``ready()`` once it can take the call (forked or
    cold); only idle forks are said ready here, when loaded.
    """
    dispositions = _signal_dispositions()
    if not is_template():
        if warm_up is not None:
            warm_up()
        if setup is not None:
            setup()
        if prewarmed():
            ready("loaded")
        return session(wait_for_assignment())
    fd = int(os.environ["CORRAL_TEMPLATE_FD"])
    if warm_up is not None:
        warm_up()
    _TemplateServer(fd, session, setup, dispositions).serve()


def _signal_dispositions():
    """The handler of every signal Python can set, to give each forked child."""
    saved = {number: signal.getsignal(number) for number in signal.valid_signals() if number not in (signal.SIGKILL, signal.SIGSTOP)}
    return {number: handler for number, handler in saved.items() if handler is not None}


def _threads_problem():
    if threading.active_count() == 1:
        return None
    names = ", ".join(thread.name for thread in threading.enumerate() if thread is not threading.current_thread())
    return "%d threads run besides the main one (%s); a template must not run threads when it forks" % (
        threading.active_count() - 1, names)


class _TemplateServer:
    def __init__(self, fd, session, setup, dispositions):
        self.channel = socket.socket(fileno=fd)
        self.channel.setblocking(True)
        self.session = session
        self.setup = setup
        self.dispositions = dispositions
        # Forks corral was told about: only their exits are reported.
        self.children = set()
        # Forks placing themselves in their cgroups, by the pipe each says it is placed on:
        # (request id, pid, pidfd). The next request is forked meanwhile, so that children
        # placing themselves at once share the kernel's wait for the first move.
        self.placing = {}
        # Exits of forks reaped while they were placing themselves (reported after "forked").
        self.early_exits = {}

    def serve(self):
        problem = _threads_problem()
        if problem is not None:
            raise TemplateError("after warm_up: " + problem)
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)
        signal.set_wakeup_fd(wake_write)
        ready("template ready")
        try:
            while True:
                readable, _, _ = select.select([self.channel, wake_read, *self.placing], [], [])
                for fd in readable:
                    if fd in self.placing:
                        self._placed(fd)
                if wake_read in readable:
                    _drain(wake_read)
                    self._reap()
                if self.channel in readable and not self._receive():
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        # corral closed the channel (it stops, or it replaces this template): the forks run on.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _receive(self):
        """One message from corral; False once it closed the channel."""
        message, fds, flags, _ = socket.recv_fds(self.channel, 1 << 20, 16)
        try:
            request = json.loads(message) if message else None
        except ValueError:
            request = None
        if isinstance(request, dict) and request.get("type") == "fork" and not flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            self._fork(request, fds)
        else:
            for fd in fds:
                os.close(fd)
        return bool(message)

    def _send(self, message, fds=()):
        socket.send_fds(self.channel, [json.dumps(message).encode()], list(fds))

    def _fork(self, request, fds):
        request_id = request.get("id")
        kinds = request.get("fds") or []
        try:
            if len(kinds) != len(fds) or kinds.count("log") != 1:
                raise TemplateError("the request's descriptors do not match its \"fds\"")
            problem = _threads_problem()
            if problem is not None:
                raise TemplateError(problem)
            log = fds[kinds.index("log")]
            cgroups = [fd for kind, fd in zip(kinds, fds) if kind == "cgroup"]
            assign = fds[kinds.index("assign")] if "assign" in kinds else None
            sys.stdout.flush()
            sys.stderr.flush()
            placed_read, placed_write = os.pipe()
            pid = os.fork()
        except (OSError, TemplateError) as error:
            for fd in fds:
                os.close(fd)
            self._send({"type": "refused", "id": request_id, "error": str(error)})
            return
        if pid == 0:
            os.close(placed_read)
            self._child(request, log, cgroups, assign, placed_write)
        os.close(placed_write)
        for fd in fds:
            os.close(fd)
        try:
            # Opened now: the child cannot be reaped before (reaping is this loop's), so the
            # pidfd is the child's whenever it is answered.
            pidfd = os.pidfd_open(pid)
        except OSError as error:
            os.close(placed_read)
            os.kill(pid, signal.SIGKILL)
            self._send({"type": "refused", "id": request_id, "error": "no pidfd for the child: %s" % error})
            return
        self.placing[placed_read] = (request_id, pid, pidfd)

    def _placed(self, placed_read):
        """The child said it is placed (or exited without being placed): corral is answered."""
        request_id, pid, pidfd = self.placing.pop(placed_read)
        try:
            placed = os.read(placed_read, 1) == b"1"
        finally:
            os.close(placed_read)
        try:
            if not placed:
                # It could not enter its cgroups (and has exited): nothing of the session ran.
                self.early_exits.pop(pid, None)
                self._send({"type": "refused", "id": request_id, "error": "the child could not enter the session's cgroups"})
                return
            self.children.add(pid)
            self._send({"type": "forked", "id": request_id, "pid": pid}, [pidfd])
        finally:
            os.close(pidfd)
        if pid in self.early_exits:
            self.children.discard(pid)
            self._send_exit(pid, self.early_exits.pop(pid))

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                self._send_exit(pid, status)
            elif any(pid == placing[1] for placing in self.placing.values()):
                self.early_exits[pid] = status

    def _send_exit(self, pid, status):
        if os.WIFSIGNALED(status):
            self._send({"type": "exited", "pid": pid, "signal": os.WTERMSIG(status)})
        else:
            self._send({"type": "exited", "pid": pid, "code": os.WEXITSTATUS(status)})

    def _child(self, request, log, cgroups, assign, placed):
        """In the forked child; never returns."""
        try:
            # First, before anything of the session: into the session's cgroups.
            for fd in cgroups:
                os.write(fd, b"0")
        except OSError:
            os._exit(127)
        try:
            os.setsid()
            # Above the numbers about to be taken, then into place.
            log, placed = _above(log, 10), _above(placed, 10)
            assign = None if assign is None else _above(assign, 10)
            for fd, target in [(os.open(os.devnull, os.O_RDONLY), 0), (log, 1), (log, 2), (assign, 3)]:
                if fd is not None:
                    os.dup2(fd, target)
            _close_all_but([0, 1, 2, placed] + ([] if assign is None else [3]))
            signal.set_wakeup_fd(-1)
            for number, handler in self.dispositions.items():
                try:
                    signal.signal(number, handler)
                except (OSError, ValueError, TypeError):
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            environment = {str(k): str(v) for k, v in (request.get("env") or {}).items()}
            os.environ.clear()
            os.environ.update(environment)
            if request.get("cwd"):
                os.chdir(request["cwd"])
            os.write(placed, b"1")
            os.close(placed)
        except BaseException:
            traceback.print_exc()
            os._exit(126)
        code = _run_child(self.session, self.setup, bool(request.get("idle")))
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run_child(session, setup, idle):
    try:
        if setup is not None:
            setup()
        if idle:
            ready("loaded")
        job = wait_for_assignment()
        job.forked = True
        result = session(job)
        return 0 if result is None else int(result)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            return exit.code or 0
        print(exit.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


def _above(fd, floor):
    moved, _ = fcntl.fcntl(fd, fcntl.F_DUPFD, floor), os.close(fd)
    return moved


def _close_all_but(kept):
    low = 0
    for fd in sorted(set(kept)):
        if fd > low:  # closerange(0, 0) closes everything: close_range(0, -1)
            os.closerange(low, fd)
        low = fd + 1
    # os.closerange uses close_range(2) where the kernel has it: no loop over a million numbers.
    os.closerange(low, max(os.sysconf("SC_OPEN_MAX"), 65536))


def _drain(fd):
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
