#!/usr/bin/env python3
"""A LiveKit voice agent that corral runs as a LiveKit agent worker (README.md says how to run it).

corral registers with LiveKit as the worker for this profile's agent name and, for every job
LiveKit assigns it, starts this file as a session of its own (or hands the job to an agent it
prewarmed). corral_livekit runs the entrypoint below the way livekit-agents' own job process
would: ``prewarm`` once while the process loads (before READY=1), ``entrypoint`` when the job
arrives, LiveKit's shutdown sequence when corral sends SIGTERM.

    pip install "livekit-agents[openai,silero]==1.8.9"   # the version corral_livekit is tested with
    # and OPENAI_API_KEY in the profile's env

The same entrypoint runs under LiveKit's own worker unchanged: only the last line differs
(``cli.run_app(server)`` there, ``corral_livekit.run(...)`` here).
"""
import os
import sys

# corral_agent.py and corral_livekit.py sit in clients/python: copy both next to your agent, or
# point at them as here.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import corral_livekit  # noqa: E402
from livekit.agents import Agent, AgentSession, JobContext, JobProcess  # noqa: E402
from livekit.plugins import openai, silero  # noqa: E402


class Receptionist(Agent):
    def __init__(self, metadata: str) -> None:
        super().__init__(instructions="You are a friendly receptionist. The caller's context: %s" % (metadata or "none"))


def prewarm(proc: JobProcess) -> None:
    # The slow part, done before corral is told READY=1: a prewarmed agent has it loaded before
    # any call arrives.
    proc.userdata["vad"] = silero.VAD.load()


async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    session = AgentSession(vad=ctx.proc.userdata["vad"], llm=openai.realtime.RealtimeModel())
    # ctx.job is the job LiveKit dispatched: its metadata comes from the dispatch.
    await session.start(agent=Receptionist(ctx.job.metadata), room=ctx.room)
    await session.generate_reply(instructions="Greet the caller.")


if __name__ == "__main__":
    corral_livekit.run(entrypoint, prewarm=prewarm)
