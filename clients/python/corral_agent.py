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
"""

import json
import os
import socket

__all__ = ["Assignment", "notify", "ready", "status", "watchdog", "stopping", "prewarmed", "wait_for_assignment"]


def notify(*lines):
    """Sends ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET`` as one datagram. Returns False when the
    agent was started without a notify socket."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto("\n".join(lines).encode(), address)
    return True


def ready(status_text=None):
    """Tells corral the agent has loaded and can serve."""
    lines = ["READY=1"]
    if status_text is not None:
        lines.append("STATUS=" + status_text)
    return notify(*lines)


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

    def __init__(self, session_id, agent, metadata, env, expires_at=None, livekit=None, warm=False):
        self.session_id = session_id
        self.agent = agent
        self.metadata = metadata
        self.env = env
        self.expires_at = expires_at
        self.livekit = livekit
        self.warm = warm

    def __repr__(self):
        return "Assignment(session_id=%r, agent=%r, warm=%r)" % (self.session_id, self.agent, self.warm)


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
