"""One inference process per corral template, shared by its jobs (used by corral_livekit.py).

livekit-agents plugins register inference runners (``_InferenceRunner.registered_runners``; the
turn detector is one): models a job asks to run through ``ctx.inference_executor``. LiveKit's
worker runs them in one inference process of its own, which every job process reaches over its
IPC channel. A corral template does the same: before it serves, it forks the inference process
(``start``; the template still has no thread), which initializes every runner and serves
requests on an abstract Unix socket with a random name (nothing to clean up in the file system,
however it ends), answering only processes of its own user (``SO_PEERCRED``); every job forked
from the template reaches it through ``RemoteRunners``.

Frames on the socket, both ways: a 4-byte big-endian length, a JSON header, a 4-byte length and
the data (``0xFFFFFFFF``: None). A request's header is ``{"id", "method"}``; an answer's is
``{"id", "error"}`` (``error`` null on success).

The process lives as long as the template, and after it for as long as jobs are still connected
(the template's end of a pipe closes when it exits; jobs forked from it do not hold that end).
A job whose inference process is gone (corral ended its template's cgroup) runs the runners in
its own process from then on, as a cold agent does (``LocalRunners``), and logs it once.
"""

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import secrets
import socket
import struct
import sys
import traceback

__all__ = ["LocalRunners", "RemoteRunners", "start"]

logger = logging.getLogger("corral_livekit")

_NONE = 0xFFFFFFFF
_held = []


def start(runners):
    """Forks the inference process for ``runners`` (name -> runner class) and waits until each
    runner is initialized. Returns the socket's address. Call it with no thread running."""
    path = "\0corral-livekit-inference-" + secrets.token_hex(16)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    ready_read, ready_write = os.pipe()
    life_read, life_write = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(ready_read)
            os.close(life_write)
            _serve(listener, runners, ready_write, life_read)
        except BaseException:  # noqa: BLE001 - the process ends here whatever happened
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_write)
    os.close(life_read)
    listener.close()
    try:
        answer = os.read(ready_read, 1)
    finally:
        os.close(ready_read)
    if answer != b"1":
        raise RuntimeError("the inference process (pid %d) exited before its runners were initialized" % pid)
    # Held, never written: its closing (the template's exit) tells the inference process.
    _held.append(life_write)
    return path


def _serve(listener, runners, ready_write, life_read):
    instances = {}
    for name, runner_class in runners.items():
        try:
            runner = runner_class()
            runner.initialize()
            instances[name] = runner
        except Exception:  # noqa: BLE001 - as LiveKit's inference process: the others still serve
            logger.exception("inference runner %s failed to initialize", name)
    os.write(ready_write, b"1")
    os.close(ready_write)
    logger.info("inference process %d serves %s", os.getpid(), ", ".join(sorted(instances)) or "no runner")
    asyncio.run(_Server(listener, instances, life_read).run())


class _Server:
    def __init__(self, listener, runners, life_read):
        self.listener = listener
        self.runners = runners
        self.life_read = life_read
        self.connections = 0
        self.template_gone = False
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=math.ceil(os.cpu_count() or 1), thread_name_prefix="inference")

    async def run(self):
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        loop.add_reader(self.life_read, self._template_ended)
        server = await asyncio.start_unix_server(self._connection, sock=self.listener)
        async with server:
            await self.done
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _template_ended(self):
        asyncio.get_running_loop().remove_reader(self.life_read)
        self.template_gone = True
        self._maybe_done()

    def _maybe_done(self):
        if self.template_gone and self.connections == 0 and not self.done.done():
            self.done.set_result(None)

    async def _connection(self, reader, writer):
        credentials = writer.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", credentials)
        if uid != os.getuid():
            # An abstract socket has no permissions of its own: only the template's user is served.
            logger.warning("inference process: a connection from uid %d refused", uid)
            writer.close()
            return
        self.connections += 1
        tasks = set()
        lock = asyncio.Lock()
        try:
            while True:
                try:
                    header, data = await read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                task = asyncio.create_task(self._answer(header, data, writer, lock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            writer.close()
            self.connections -= 1
            self._maybe_done()

    async def _answer(self, header, data, writer, lock):
        error, result = None, None
        runner = self.runners.get(header.get("method"))
        if runner is None:
            error = "no inference runner %r is registered (or it failed to initialize)" % header.get("method")
        else:
            try:
                result = await asyncio.get_running_loop().run_in_executor(self.pool, runner.run, data)
            except Exception as failure:  # noqa: BLE001 - the job gets the error, as from LiveKit's executor
                logger.exception("inference %s failed", header.get("method"))
                error = str(failure) or type(failure).__name__
        async with lock:
            try:
                writer.write(frame({"id": header.get("id"), "error": error}, result))
                await writer.drain()
            except ConnectionError:
                pass


def frame(header, data):
    encoded = json.dumps(header).encode()
    size = _NONE if data is None else len(data)
    return struct.pack(">I", len(encoded)) + encoded + struct.pack(">I", size) + (data or b"")


async def read_frame(reader):
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    header = json.loads(await reader.readexactly(length))
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    data = None if size == _NONE else await reader.readexactly(size)
    return header, data


class LocalRunners:
    """The runners in this process, initialized on first use (or at once with ``initialize``),
    run on a thread pool: a cold agent's, or a job's whose inference process is gone."""

    def __init__(self):
        self._runners = None
        self._pool = None

    def initialize(self):
        from livekit.agents.inference_runner import _InferenceRunner

        if self._runners is None:
            self._runners = {}
            for name, runner_class in _InferenceRunner.registered_runners.items():
                runner = runner_class()
                runner.initialize()
                self._runners[name] = runner
        return self

    async def run(self, method, data):
        if self._runners is None:
            await asyncio.get_running_loop().run_in_executor(None, self.initialize)
        runner = self._runners.get(method)
        if runner is None:
            raise RuntimeError("no inference runner %r is registered in this process" % method)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="inference")
        return await asyncio.get_running_loop().run_in_executor(self._pool, runner.run, data)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class RemoteRunners:
    """A job's way to the template's inference process at ``path``; ``LocalRunners`` once it
    cannot be reached."""

    def __init__(self, path):
        self._path = path
        self._writer = None
        self._reader_task = None
        self._pending = {}
        self._last_id = 0
        self._connecting = None
        self._lost = None
        self._local = None

    async def run(self, method, data):
        if self._local is None:
            try:
                return await self._remote(method, data)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as error:
                if self._local is None:
                    logger.warning("the template's inference process cannot be reached (%s): runners run in this job from now on", error)
                    self._local = LocalRunners()
        return await self._local.run(method, data)

    async def _remote(self, method, data):
        if self._writer is None:
            if self._connecting is None:
                self._connecting = asyncio.ensure_future(self._connect())
            await asyncio.shield(self._connecting)
        if self._lost is not None:
            raise self._lost
        self._last_id += 1
        request_id = self._last_id
        answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            self._writer.write(frame({"id": request_id, "method": method}, data))
            await self._writer.drain()
            header, result = await answer
        finally:
            self._pending.pop(request_id, None)
        if header.get("error") is not None:
            raise RuntimeError("inference of %s failed: %s" % (method, header["error"]))
        return result

    async def _connect(self):
        reader, self._writer = await asyncio.open_unix_connection(self._path)
        self._reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader):
        try:
            while True:
                header, data = await read_frame(reader)
                answer = self._pending.get(header.get("id"))
                if answer is not None and not answer.done():
                    answer.set_result((header, data))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as error:
            self._lost = ConnectionError("the inference process closed the connection: %s" % (error or type(error).__name__))
        for answer in list(self._pending.values()):
            if not answer.done():
                answer.set_exception(self._lost)

    def close(self):
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._writer is not None:
            self._writer.close()
        if self._local is not None:
            self._local.close()
