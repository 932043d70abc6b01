#!/usr/bin/env python3
"""A LiveKit voice agent run by corral: one process per room.

corral starts it with LIVEKIT_URL, LIVEKIT_ROOM and LIVEKIT_TOKEN (a token for this room only,
valid until the session's deadline) in its environment, and CORRAL_SESSION_ID / CORRAL_METADATA.
It joins the room, tells corral it is ready (READY=1 on $NOTIFY_SOCKET, with `"ready": "notify"`
in the profile), runs a voice pipeline with livekit-agents, and leaves cleanly on SIGTERM, which
corral sends when the call ends (room_finished), at the session's timeout, or on DELETE.

    pip install "livekit-agents[openai,silero]==1.8.9"   # the version corral is tested with; and
    # OPENAI_API_KEY in the profile's env
"""
import asyncio
import json
import os
import signal
import socket

from livekit import rtc
from livekit.agents import Agent, AgentSession
from livekit.plugins import openai, silero


def notify(message: str) -> None:
    """systemd's notify protocol, which corral speaks: READY=1, STATUS=…, WATCHDOG=1."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(message.encode(), address)
    except OSError:
        pass  # corral is restarting: the agent carries on, as with systemd's sd_notify


class Receptionist(Agent):
    def __init__(self, metadata: dict) -> None:
        super().__init__(instructions=f"You are a friendly receptionist. Context: {sorted(metadata)}")


async def main() -> None:
    metadata = json.loads(os.environ.get("CORRAL_METADATA", "{}"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    room = rtc.Room()
    await room.connect(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_TOKEN"])
    session = AgentSession(vad=silero.VAD.load(), llm=openai.realtime.RealtimeModel())
    await session.start(agent=Receptionist(metadata), room=room)
    notify(f"READY=1\nSTATUS=in room {os.environ['LIVEKIT_ROOM']}")

    await stop.wait()
    # corral gives grace_seconds before SIGKILL: leave the room properly.
    await session.aclose()
    await room.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
