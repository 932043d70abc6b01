#!/usr/bin/env python3
"""A livekit-agents job run by clients/python/corral_livekit.py, for corral_livekit_test.py.

It records what it sees, one JSON line per event, to $JOB_AGENT_RECORD: ``prewarm``, then
``entrypoint`` (the job's id, room, agent name, metadata, the participant identity, whether
prewarm's userdata arrived, an inference through the registered runner), ``connect`` (how
``ctx.connect()`` ended; nothing answers a real room here, so it fails after the attempt) and
``shutdown`` (the reason); the registered inference runner records ``runner_initialized`` and
``inference_run`` with the pid of the process that runs it. JOB_AGENT_MODE=crash makes the
entrypoint raise after recording. JOB_AGENT_SERVER=1 hands corral_livekit.run a livekit-agents
``AgentServer`` (agent name "voice", prewarm as its ``setup_fnc``) instead of the functions.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import json  # noqa: E402

import corral_livekit  # noqa: E402
from livekit.agents import JobContext, JobProcess  # noqa: E402
from livekit.agents.inference_runner import _InferenceRunner  # noqa: E402


def record(kind, **fields):
    line = json.dumps({"kind": kind, "pid": os.getpid(), "at": time.time(), **fields}) + "\n"
    fd = os.open(os.environ["JOB_AGENT_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ReverseRunner(_InferenceRunner):
    """An inference runner as plugins register them (the turn detector is one)."""

    INFERENCE_METHOD = "job-agent-reverse"

    def initialize(self):
        record("runner_initialized")

    def run(self, data):
        record("inference_run")
        return data[::-1]


_InferenceRunner.register_runner(ReverseRunner)


def prewarm(proc: JobProcess):
    proc.userdata["loaded"] = "models"
    record("prewarm")


async def entrypoint(ctx: JobContext):
    async def on_shutdown(reason):
        record("shutdown", reason=reason)

    ctx.add_shutdown_callback(on_shutdown)
    reversed_bytes = await ctx.inference_executor.do_inference(ReverseRunner.INFERENCE_METHOD, b"abc")
    record(
        "entrypoint",
        job_id=ctx.job.id,
        room=ctx.job.room.name,
        agent_name=ctx.job.agent_name,
        metadata=ctx.job.metadata,
        identity=ctx.local_participant_identity,
        worker_id=ctx.worker_id,
        userdata=ctx.proc.userdata.get("loaded"),
        inference=reversed_bytes.decode(),
        session=os.environ.get("CORRAL_SESSION_ID"),
        parent=os.getppid(),
    )
    if os.environ.get("JOB_AGENT_MODE") == "crash":
        raise RuntimeError("the entrypoint crashed on purpose")
    try:
        await ctx.connect()
        record("connect", ok=True)
    except Exception as error:  # noqa: BLE001 - nothing here completes a room connection
        record("connect", ok=False, error=str(error))


if __name__ == "__main__":
    if os.environ.get("JOB_AGENT_SERVER") == "1":
        from livekit.agents import AgentServer

        # port=0: LiveKit's own worker (``start`` from a shell) puts its health server anywhere.
        server = AgentServer(setup_fnc=prewarm, port=0)
        server.rtc_session(entrypoint, agent_name="voice")
        corral_livekit.run(server)
    else:
        corral_livekit.run(entrypoint, prewarm=prewarm)
