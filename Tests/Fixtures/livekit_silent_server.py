#!/usr/bin/env python3
"""A LiveKit server that takes a worker's WebSocket at ``/agent`` and its register message but
never answers it, for the test that a worker gives up on a registration in time and tries again.

    python livekit_silent_server.py --port 0 [--api-key K --api-secret S]

prints ``{"event": "ready", "port": P, "url": "ws://127.0.0.1:P"}`` once it listens and runs until
SIGTERM. ``GET /control/connections`` answers ``{"connections": n, "registers": n, "open": n}``:
WebSocket connections taken, register messages read, connections still open.
"""

import argparse
import asyncio
import sys

from aiohttp import WSMsgType, web
from livekit.protocol import agent

import fixture_server


async def main(argv):
    parser = argparse.ArgumentParser()
    fixture_server.add_port_arguments(parser)
    parser.add_argument("--api-key")
    parser.add_argument("--api-secret")
    arguments = parser.parse_args(argv)
    counts = {"connections": 0, "registers": 0, "open": 0}

    async def handle_agent(request):
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        counts["connections"] += 1
        counts["open"] += 1
        try:
            async for frame in ws:
                if frame.type == WSMsgType.BINARY:
                    message = agent.WorkerMessage()
                    message.ParseFromString(frame.data)
                    if message.WhichOneof("message") == "register":
                        counts["registers"] += 1
        finally:
            counts["open"] -= 1
        return ws

    async def connections(_):
        return web.json_response(counts)

    app = web.Application()
    app.add_routes([web.get("/agent", handle_agent), web.get("/control/connections", connections)])
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    fixture_server.say_ready("127.0.0.1", await fixture_server.listen(runner, "127.0.0.1", arguments.port, fd=arguments.listen_fd))
    await fixture_server.stopped()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
