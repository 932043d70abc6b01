#!/usr/bin/env python3
"""A template-capable test agent built on clients/python/corral_agent.py (serve_template).

Template (warm-up) settings, from the profile's env: TEMPLATE_ALLOCATE_MB allocates and touches
that much memory before READY=1 (the forks share it); TEMPLATE_NEVER_READY=1 warms up for ever.
What a session does, from its metadata: by default it starts a child (so the tree is more than
the leader), prints "serving <id> pid=<pid> forked=<bool> warm=<bool>" and runs until ended;
"exit_code" exits with that code (a LiveKit job's metadata, JSON, is read the same way) (once the file "exit_when" names exists, if given);
"double_fork" first double-forks a setsid() escapee and prints its pid; "ready": "never" never
sends READY=1 (ready: notify profiles).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
import corral_agent  # noqa: E402

warm = {}


def warm_up():
    megabytes = int(os.environ.get("TEMPLATE_ALLOCATE_MB", "0"))
    if megabytes:
        block = bytearray(megabytes << 20)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        warm["block"] = block
    if os.environ.get("TEMPLATE_NEVER_READY") == "1":
        while True:
            time.sleep(3600)
    print("warmed up pid=%d" % os.getpid(), flush=True)


def double_fork():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(100000)
            os._exit(0)
        os._exit(0)
    os.wait()


def session(job):
    metadata = dict(job.metadata)
    # A LiveKit job's metadata (JSON) says what to do, as a session's metadata does.
    if metadata.get("livekit_job_metadata"):
        metadata.update(json.loads(metadata["livekit_job_metadata"]))
    if metadata.get("double_fork"):
        double_fork()
    if "exit_code" in metadata:
        trigger = metadata.get("exit_when")
        print("serving %s pid=%d forked=%s waiting to exit" % (job.session_id, os.getpid(), job.forked), flush=True)
        while trigger and not os.path.exists(trigger):
            time.sleep(0.05)
        return int(metadata["exit_code"])
    subprocess.Popen(["sleep", "100000"])
    if metadata.get("ready") != "never":
        corral_agent.ready()
    print("serving %s pid=%d forked=%s warm=%s shared=%d" % (job.session_id, os.getpid(), job.forked, job.warm, len(warm.get("block", b""))), flush=True)
    while True:
        time.sleep(1)


corral_agent.serve_template(warm_up, session)
