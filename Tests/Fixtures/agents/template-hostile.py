#!/usr/bin/env python3
"""A template that breaks the protocol (HOSTILE_MODE): it warms up and says READY=1 like a good
one, then answers a fork request with garbage (`garbage`), never answers (`silent`), or answers
with the pidfd of a process outside the session's cgroup (`stranger`: a child of its own that
stays in the template's cgroup)."""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
import corral_agent  # noqa: E402

mode = os.environ.get("HOSTILE_MODE", "garbage")
channel = socket.socket(fileno=int(os.environ["CORRAL_TEMPLATE_FD"]))
corral_agent.ready()
stranger = None
while True:
    message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 16)
    for fd in fds:
        os.close(fd)
    if not message:
        sys.exit(0)
    request = json.loads(message)
    print("fork request %s (%s)" % (request.get("id"), mode), flush=True)
    if mode == "garbage":
        channel.send(b"\x00this is not the protocol")
    elif mode == "stranger":
        stranger = subprocess.Popen(["sleep", "100000"])
        pidfd = os.pidfd_open(stranger.pid)
        socket.send_fds(channel, [json.dumps({"type": "forked", "id": request["id"], "pid": stranger.pid}).encode()], [pidfd])
        os.close(pidfd)
    else:
        time.sleep(0.01)
