#!/usr/bin/env python3
"""A prewarm-capable test agent built on clients/python/corral_agent.py.

PREWARM_LOAD_SECONDS: time it "loads" before READY=1. PREWARM_MODE: normal, crash (exits while
loading), never-ready, no-ack (takes the assignment and never answers). Once it serves a session
it starts a child (so the tree is more than the leader) and prints "serving <id> warm=<bool>".
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import corral_agent  # noqa: E402

mode = os.environ.get("PREWARM_MODE", "normal")
time.sleep(float(os.environ.get("PREWARM_LOAD_SECONDS", "0")))
if mode == "crash":
    print("crashing while loading", flush=True)
    sys.exit(3)
if mode == "never-ready":
    while True:
        time.sleep(3600)
corral_agent.ready("loaded")
print("ready pid=%d" % os.getpid(), flush=True)
if mode == "no-ack" and corral_agent.prewarmed():
    os.read(int(os.environ["CORRAL_ASSIGN_FD"]), 65536)
    while True:
        time.sleep(3600)
job = corral_agent.wait_for_assignment()
subprocess.Popen(["sleep", "100000"])
print("serving %s warm=%s metadata=%s" % (job.session_id, job.warm, job.metadata), flush=True)
while True:
    time.sleep(1)
    corral_agent.watchdog()
