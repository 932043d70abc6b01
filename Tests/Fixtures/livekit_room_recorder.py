#!/usr/bin/env python3
"""Where a LiveKit job's ``ctx.connect()`` goes in corral's worker tests: a local endpoint that
records each request (its path and the access token it carried, from ``Authorization: Bearer`` or
the ``access_token`` query parameter) as one JSON line in the ``--record`` file, accepts a
WebSocket and closes it at once. It joins no room (as ``corral_livekit_test.py``'s RoomEndpoint).

    python livekit_room_recorder.py --port 0 --record FILE [--api-key K --api-secret S]

prints ``{"event": "ready", "port": P, "url": "ws://127.0.0.1:P"}`` once it listens and runs until
SIGTERM or SIGINT. It takes the test LiveKit server's arguments (the key pair is not used), so
that the tests start and stop it the same way.
"""

import argparse
import asyncio
import json
import sys

from aiohttp import web

import fixture_server


async def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fixture_server.add_port_arguments(parser)
    parser.add_argument("--record", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--api-secret")
    arguments = parser.parse_args(argv)

    def remember(seen):
        with open(arguments.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(seen) + "\n")

    async def record(request):
        return await fixture_server.answer_as_room(request, remember)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    fixture_server.say_ready("127.0.0.1", await fixture_server.listen(runner, "127.0.0.1", arguments.port, fd=arguments.listen_fd))
    await fixture_server.stopped()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
