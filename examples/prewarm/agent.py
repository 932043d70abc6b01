#!/usr/bin/env python3
"""A prewarm-ready agent: loads (here: sleeps for LOAD_SECONDS, standing in for importing a voice
stack and loading VAD / turn-detection models), says READY=1, waits to be handed a session, then
serves it until corral ends it. Started cold, it serves the session in its environment at once.

Run with examples/prewarm/corral.json:  corral serve --config examples/prewarm/corral.json
"""
import os
import signal
import sys
import time

# corral_agent.py has no dependencies: copy it next to your agent, or point at it as here.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import corral_agent  # noqa: E402


def main():
    time.sleep(float(os.environ.get("LOAD_SECONDS", "1.5")))   # load models here
    corral_agent.ready("models loaded")

    job = corral_agent.wait_for_assignment()
    print("serving session %s (%s start), metadata %s" % (job.session_id, "warm" if job.warm else "cold", job.metadata), flush=True)
    corral_agent.status("in call")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))   # corral ends the session
    while not stop:
        corral_agent.watchdog()
        time.sleep(1)
    corral_agent.stopping()
    print("session %s ended" % job.session_id, flush=True)


if __name__ == "__main__":
    main()
