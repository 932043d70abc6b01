#!/usr/bin/env python3
"""The agent of corral-bench's start comparison, one file three ways: forked from a warm template
(the profile has ``template``), started cold by ``execve``, or a prewarmed agent handed a session
(``prewarm``). Its warm-up, run once per template or once per cold or prewarmed agent, takes
BENCH_LOAD_SECONDS (1.5 s) and keeps BENCH_BALLAST_MB (64) of memory, as an agent's imports and
models would; its session says READY=1 and waits until SIGTERM.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import corral_agent  # noqa: E402

ballast = None


def warm_up():
    global ballast
    time.sleep(float(os.environ.get("BENCH_LOAD_SECONDS", "1.5")))
    ballast = bytes(int(os.environ.get("BENCH_BALLAST_MB", "64")) << 20)


def session(job):
    corral_agent.ready()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    corral_agent.serve_template(warm_up, session)
