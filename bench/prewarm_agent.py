#!/usr/bin/env python3
"""The benchmark's slow-loading agent: loads for BENCH_LOAD_SECONDS (1.5 s), says READY=1, then
serves the session it is handed (or, started cold, the one in its environment) until SIGTERM."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import corral_agent  # noqa: E402

time.sleep(float(os.environ.get("BENCH_LOAD_SECONDS", "1.5")))
corral_agent.ready()
corral_agent.wait_for_assignment()
while True:
    time.sleep(3600)
