#!/usr/bin/env python3
"""A LiveKit voice agent that corral runs as a LiveKit agent worker (README.md says how to run it).

One file, both ways. Started by corral (the profile in corral.json), ``corral_livekit.run`` serves
corral: as the profile's template it loads livekit-agents and its local models once, and each job
LiveKit assigns is a fork of it that runs ``prewarm`` and then ``entrypoint`` the way
livekit-agents' own job process would (LiveKit's shutdown sequence when corral sends SIGTERM).
Started from a shell, it is LiveKit's own CLI: ``python agent.py console``, ``dev`` or ``start``.

    pip install "livekit-agents[openai,silero]==1.8.9"   # the version corral_livekit is tested with
    # and OPENAI_API_KEY in the profile's env
"""
import os
import sys

# corral_agent.py, corral_livekit.py and corral_livekit_inference.py sit in clients/python: copy
# them next to your agent, or point at them as here.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import corral_livekit  # noqa: E402
from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess  # noqa: E402
from livekit.plugins import openai, silero  # noqa: E402


class Receptionist(Agent):
    def __init__(self, metadata: str) -> None:
        super().__init__(instructions="You are a friendly receptionist. The caller's context: %s" % (metadata or "none"))


def prewarm(proc: JobProcess) -> None:
    # Runs in each job's process before it is handed a job (LiveKit's setup_fnc): under corral in
    # each fork of the template, ahead of time for the profile's prewarm idle agents.
    proc.userdata["vad"] = silero.VAD.load()


server = AgentServer(setup_fnc=prewarm)


@server.rtc_session(agent_name="receptionist")
async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    session = AgentSession(vad=ctx.proc.userdata["vad"], llm=openai.realtime.RealtimeModel())
    # ctx.job is the job LiveKit dispatched: its metadata comes from the dispatch.
    await session.start(agent=Receptionist(ctx.job.metadata), room=ctx.room)
    await session.generate_reply(instructions="Greet the caller.")


if __name__ == "__main__":
    corral_livekit.run(server)  # LiveKit's own worker would be cli.run_app(server)
