#!/usr/bin/env python3
"""The livekit-agents agent of corral-bench's density scenario, run both ways from this one file:
by LiveKit's own worker (``python livekit_density_agent.py start``: ``num_idle_processes=2``) and by
corral (``corral_livekit``, the profile a template with ``prewarm: 2``).

Each job starts a helper in a kernel session of its own (``sleep $BENCH_HELPER``, the argument
unique to the run, so that the benchmark finds the helpers left after the jobs end) and returns;
the job lasts until it is terminated. Nothing connects to a room.
"""
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import corral_livekit  # noqa: E402
from livekit.agents import AgentServer, JobContext  # noqa: E402

# LiveKit's worker: two idle job processes, its health port anywhere, and no CPU-based refusal on
# a busy benchmark host. corral reads none of these (its profile says the same).
server = AgentServer(num_idle_processes=2, port=0, load_threshold=math.inf)


@server.rtc_session(agent_name="bench-density")
async def entrypoint(ctx: JobContext) -> None:
    subprocess.Popen(["sleep", os.environ["BENCH_HELPER"]], start_new_session=True, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    corral_livekit.run(server)
