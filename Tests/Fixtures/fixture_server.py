"""What the test servers in this folder share: listening on a port (0 for any free one), saying
where on stdout, and running until SIGTERM or SIGINT. The Swift tests read the ready line."""

import asyncio
import json
import signal
import socket


def add_port_arguments(parser):
    """``--port`` (0 for any free one) and ``--listen-fd``, a bound socket to serve on instead."""
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--listen-fd", type=int, default=None)


async def listen(runner, host, port, ssl_context=None, fd=None):
    """Serves the set-up aiohttp ``runner`` on ``host:port``, or on the bound socket inherited as
    descriptor ``fd``; returns the port it listens on. A socket the test holds keeps its port
    across a restart of the server: the port cannot be taken meanwhile by another process."""
    from aiohttp import web

    if fd is not None:
        site = web.SockSite(runner, socket.socket(fileno=fd), ssl_context=ssl_context)
    else:
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    return site._server.sockets[0].getsockname()[1]


def say_ready(host, port, **more):
    """Prints ``{"event": "ready", "port": P, "url": "ws://HOST:P", ...more}``."""
    print(json.dumps({"event": "ready", "port": port, "url": "ws://%s:%d" % (host, port), **more}), flush=True)


async def stopped():
    """Returns once the process is sent SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def answer_as_room(request, remember):
    """What a LiveKit room endpoint does for ``ctx.connect()`` in these tests: ``remember`` gets the
    request's path and the access token it carried (``Authorization: Bearer`` or the
    ``access_token`` query parameter); a WebSocket is accepted and closed at once (no room is
    joined), anything else is answered 401."""
    from aiohttp import web

    header = request.headers.get("Authorization", "")
    token = header[len("Bearer "):] if header.startswith("Bearer ") else request.query.get("access_token")
    remember({"path": request.path, "token": token})
    if request.headers.get("Upgrade", "").lower() == "websocket":
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws
    return web.Response(status=401, text="this endpoint records, it joins no room")
