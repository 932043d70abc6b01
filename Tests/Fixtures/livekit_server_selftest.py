#!/usr/bin/env python3
"""Proves livekit_test_server.py right with LiveKit's own worker (livekit-agents, pinned in
livekit-requirements.txt): if LiveKit's worker gets along with it, the test server is a fair
stand-in for LiveKit server when corral is the worker.

    python livekit_server_selftest.py           runs every check; exits 0, or 1 after printing
                                                what failed (with the logs of both processes)
    python livekit_server_selftest.py worker    (used by the checks) a LiveKit worker for agent
                                                "selftest-agent", configured by SELFTEST_* variables

Before the LiveKit worker comes, plain clients check what the server refuses (tokens, a first
message other than register, text frames) and whom it offers a job first (only WS_AVAILABLE
workers, weighted by 1 - load).

The checks start the test server through its command line and a LiveKit worker in a kernel
session of its own (the worker starts a forkserver and job processes), and end both by pid (the
worker's whole process group) however the checks go. The worker's entrypoint needs no LiveKit
room: it records its job to a file and returns without ``ctx.connect()``; the job then runs until
it is told to end, as a LiveKit job that never connected does.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = "selftest-agent"
KEY = "APIselftest"
SECRET = "selftest-secret-0123456789-0123456789-0123456789"
# Seconds for everything; the Swift test that runs this waits longer. The whole suite runs beside
# this on two cores (load averages of 10-15), where loading livekit-agents alone takes ten times
# its 2 s.
DEADLINE = 420


# The worker (runs as `livekit_server_selftest.py worker`). Its functions sit at module level:
# LiveKit's job processes come from a forkserver, which imports this file to find them.

def record(kind, **fields):
    line = json.dumps({"kind": kind, "pid": os.getpid(), **fields}) + "\n"
    fd = os.open(os.environ["SELFTEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def prewarm(proc):
    proc.userdata["prewarmed"] = True
    record("prewarm")


async def on_request(request):
    room = request.room.name
    if room.startswith("reject-"):
        await request.reject(terminate=False)
    elif room.startswith("terminate-"):
        await request.reject(terminate=True)
    elif room.startswith("slow-"):
        await asyncio.sleep(float(os.environ.get("SELFTEST_SLOW_SECONDS", "3")))
        await request.reject(terminate=False)
    else:
        await request.accept(name="Selftest", identity="selftest-" + request.id, attributes={"checked": "yes"})


async def entrypoint(ctx):
    async def shutdown(reason):
        record("shutdown", job_id=ctx.job.id, reason=reason)

    ctx.add_shutdown_callback(shutdown)
    record(
        "entrypoint",
        job_id=ctx.job.id,
        room=ctx.job.room.name,
        agent_name=ctx.job.agent_name,
        metadata=ctx.job.metadata,
        worker_id=ctx.worker_id,
        identity=ctx.token_claims().identity,
        prewarmed=ctx.proc.userdata.get("prewarmed", False),
    )


def run_worker():
    from livekit.agents import AgentServer

    async def main():
        server = AgentServer(
            ws_url=os.environ["SELFTEST_URL"],
            api_key=KEY,
            api_secret=SECRET,
            port=0,
            num_idle_processes=1,
            # LiveKit's 10 s default loses the warmed process on a busy CI host (the whole
            # suite runs beside it), and the job then waits for a new one past our deadline.
            initialize_process_timeout=60,
            load_threshold=float("inf"),
            setup_fnc=prewarm,
        )
        server.rtc_session(entrypoint, agent_name=AGENT, on_request=on_request)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(server.aclose()))
        await server.run()

    asyncio.run(main())


# The checks.

class Failed(Exception):
    """A check that the rest cannot go on without."""


class Processes:
    """The test server and the LiveKit worker, started in kernel sessions of their own, ended by
    pid (the worker with its process group: its forkserver and job processes)."""

    def __init__(self, directory):
        self.directory = directory
        self.server = None
        self.worker = None

    @staticmethod
    def _die_with_parent():
        # If this script is killed outright, what it started goes too (PR_SET_PDEATHSIG).
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)

    def start_server(self, port=0):
        log = open(os.path.join(self.directory, "server.log"), "ab")
        self.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "livekit_test_server.py"), "--port", str(port),
             "--api-key", KEY, "--api-secret", SECRET, "--availability-timeout", "5"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, preexec_fn=self._die_with_parent,
        )
        log.close()
        line = _read_line(self.server.stdout, 30)
        if not line:
            raise Failed("the test server printed no ready line (exit status %s)" % self.server.poll())
        ready = json.loads(line)
        if ready.get("event") != "ready" or not ready.get("port"):
            raise Failed("the test server's ready line is %r" % line)
        return ready["port"]

    def start_worker(self, url, record_file):
        log = open(os.path.join(self.directory, "worker.log"), "ab")
        environment = dict(os.environ, SELFTEST_URL=url, SELFTEST_RECORD=record_file, SELFTEST_SLOW_SECONDS="3")
        self.worker = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "worker"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True, preexec_fn=self._die_with_parent,
        )
        log.close()

    def stop_server(self):
        if self.server is not None:
            _end(self.server, group=False)
            self.server.stdout.close()
            self.server = None

    def stop_worker(self):
        """SIGTERM, which the worker answers by closing; True if its whole group was gone
        without a SIGKILL."""
        if self.worker is None:
            return True
        clean = _end(self.worker, group=True)
        self.worker = None
        return clean

    def log(self, name):
        path = os.path.join(self.directory, name)
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()[-6000:]


def _read_line(stream, timeout):
    import select
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline().decode().strip() if ready else ""


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _end(process, group, grace=20):
    """Ends a child by pid (and its process group when asked, the group being its own session's,
    id = its pid). Returns True if SIGTERM was enough."""
    pid = process.pid
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process.poll() is not None and not (group and _group_alive(pid)):
            return True
        time.sleep(0.05)
    if group and _group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()
    process.wait()
    while group and _group_alive(pid):
        time.sleep(0.05)
    return False


class Selftest:
    def __init__(self, processes, record_file):
        self.processes = processes
        self.record_file = record_file
        self.failures = []
        self.passed = 0
        self.port = None
        self.http = None

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok

    def require(self, ok, what):
        if not self.check(ok, what):
            raise Failed(what)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    async def get(self, path):
        async with self.http.get(self.base + path) as response:
            return response.status, await response.json()

    async def post(self, path, body=None):
        async with self.http.post(self.base + path, json=body if body is not None else {}) as response:
            return response.status, await response.json()

    async def wait_for(self, what, probe, timeout=60):
        """Polls the coroutine function ``probe`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.1)
        raise Failed("timed out after %g s waiting for %s" % (timeout, what))

    def records(self, kind, **match):
        if not os.path.exists(self.record_file):
            return []
        with open(self.record_file) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        return [r for r in lines if r["kind"] == kind and all(r.get(k) == v for k, v in match.items())]

    async def connected_worker(self, other_than=None):
        _, body = await self.get("/control/workers")
        for worker in body["workers"]:
            if worker["connected"] and worker["agent_name"] == AGENT and worker["id"] != other_than:
                return worker
        return None

    async def job(self, job_id):
        _, body = await self.get("/control/jobs/" + job_id)
        return body

    async def dispatch(self, room, agent_name=AGENT, **fields):
        status, body = await self.post("/control/dispatch", dict(room=room, agent_name=agent_name, **fields))
        self.require(status == 200, "dispatch of %s answered %d: %s" % (room, status, body))
        return body

    async def run_job_to_success(self, job_id, worker_id):
        """The job's entrypoint runs, it reports JS_RUNNING, and a JobTermination ends it with
        JS_SUCCESS after its shutdown callbacks."""
        entry = (await self.wait_for("the entrypoint of %s" % job_id, lambda: _now(self.records("entrypoint", job_id=job_id)), timeout=90))[0]
        await self.wait_for("JS_RUNNING of %s" % job_id, lambda: self._has_status(job_id, "JS_RUNNING"))
        status, body = await self.post("/control/jobs/%s/terminate" % job_id)
        self.require(status == 200 and body.get("worker_id") == worker_id, "terminate %s answered %d: %s" % (job_id, status, body))
        await self.wait_for("JS_SUCCESS of %s" % job_id, lambda: self._has_status(job_id, "JS_SUCCESS"))
        job = await self.job(job_id)
        statuses = [s["status"] for s in job["statuses"]]
        self.check(statuses[-1] == "JS_SUCCESS" and "JS_RUNNING" in statuses[:-1], "%s reported %s" % (job_id, statuses))
        self.check(all(s["error"] == "" for s in job["statuses"]), "%s reported errors: %s" % (job_id, job["statuses"]))
        await self.wait_for("the shutdown callback of %s" % job_id, lambda: _now(self.records("shutdown", job_id=job_id)))
        return entry

    async def _has_status(self, job_id, status):
        job = await self.job(job_id)
        return any(s["status"] == status for s in job.get("statuses", []))

    async def run(self):
        import aiohttp
        from livekit import api

        self.port = self.processes.start_server()
        url = "ws://127.0.0.1:%d" % self.port
        async with aiohttp.ClientSession() as http:
            self.http = http
            await self.check_refusals(api)
            await self.check_selection(api)
            self.processes.start_worker(url, self.record_file)
            # LiveKit's worker connects only once its idle process is warm (or, past
            # initialize_process_timeout, it gives up waiting): its own import, the forkserver's
            # and the idle process's, and our prewarm, all before it registers.
            worker = await self.wait_for("the LiveKit worker to register", self.connected_worker, timeout=180)
            self.check(worker["job_type"] == "JT_ROOM" and worker["auth_via"] == "header", "worker registered as %s" % worker)
            await self.wait_for("an UpdateWorkerStatus", lambda: self._worker_updated(worker["id"]))

            # A job, from the dispatch to its end.
            dispatched = await self.dispatch("selftest-room", metadata="selftest-metadata")
            job_id = dispatched["job_id"]
            self.require(dispatched["outcome"] == "assigned" and dispatched["worker_id"] == worker["id"], "dispatch: %s" % dispatched)
            claims = api.TokenVerifier(KEY, SECRET).verify(dispatched["token"])
            self.check(
                claims.identity == "selftest-" + job_id and claims.video.room == "selftest-room"
                and claims.video.room_join and claims.video.agent and claims.kind == "agent"
                and claims.attributes.get("lk.agent.name") == AGENT and claims.attributes.get("checked") == "yes",
                "the room token's claims: %s" % claims,
            )
            entry = await self.run_job_to_success(job_id, worker["id"])
            self.check(
                (entry["room"], entry["agent_name"], entry["metadata"], entry["worker_id"], entry["identity"], entry["prewarmed"])
                == ("selftest-room", AGENT, "selftest-metadata", worker["id"], "selftest-" + job_id, True),
                "the entrypoint saw %s" % entry,
            )

            # The other answers a worker can give, and no worker at all.
            rejected = await self.dispatch("reject-1")
            self.check(rejected["outcome"] == "no_worker" and [o["answer"] for o in rejected["offers"]] == ["unavailable"], "rejected: %s" % rejected)
            terminated = await self.dispatch("terminate-1")
            self.check(terminated["outcome"] == "terminated" and terminated["worker_id"] is None, "terminate: %s" % terminated)
            nobody = await self.dispatch("room-9", agent_name="nobody")
            self.check(nobody["outcome"] == "no_worker" and nobody["offers"] == [], "unknown agent: %s" % nobody)
            await self.post("/control/config", {"availability_timeout": 1})
            slow = await self.dispatch("slow-1")
            self.check(slow["outcome"] == "no_worker" and [o["answer"] for o in slow["offers"]] == ["timeout"], "slow answer: %s" % slow)
            await self.post("/control/config", {"availability_timeout": 5})

            # Connections dropped: the worker comes back, says which jobs it still runs, and
            # they stay under control.
            running = await self.dispatch("migrate-room")
            await self.wait_for("JS_RUNNING of %s" % running["job_id"], lambda: self._has_status(running["job_id"], "JS_RUNNING"))
            status, body = await self.post("/control/disconnect")
            self.check(status == 200 and body["disconnected"] == 1, "disconnect: %d %s" % (status, body))
            again = await self.wait_for("the worker to register again", lambda: self.connected_worker(other_than=worker["id"]))
            _, migrations = await self.wait_for("a migrate_job", lambda: self._migrated(running["job_id"]))
            self.check(migrations["migrations"][-1]["worker_id"] == again["id"], "migrations: %s" % migrations)
            await self.run_job_to_success(running["job_id"], again["id"])

            # The whole server restarted on the same port.
            self.processes.stop_server()
            port = self.processes.start_server(self.port)
            self.require(port == self.port, "the restarted server listens on %d, not %d" % (port, self.port))
            after = await self.wait_for("the worker to register with the restarted server", self.connected_worker, timeout=120)
            later = await self.dispatch("after-restart")
            self.require(later["outcome"] == "assigned", "dispatch after the restart: %s" % later)
            await self.run_job_to_success(later["job_id"], after["id"])

        self.check(self.processes.stop_worker(), "the LiveKit worker's processes did not all end on SIGTERM (SIGKILL needed)")

    async def _worker_updated(self, worker_id):
        _, body = await self.get("/control/workers")
        return any(w["id"] == worker_id and w["status_updates"] > 0 and w["status"] == "WS_AVAILABLE" for w in body["workers"])

    async def _migrated(self, job_id):
        status, body = await self.get("/control/migrations")
        return (status, body) if job_id in body["job_ids"] else None

    async def check_refusals(self, api):
        """What LiveKit server refuses, the test server refuses: checked with a plain client."""
        import aiohttp
        agent_url = "ws://127.0.0.1:%d/agent" % self.port

        async def handshake_status(headers):
            try:
                ws = await self.http.ws_connect(agent_url, headers=headers)
            except aiohttp.WSServerHandshakeError as error:
                return error.status
            await ws.close()
            return 101

        def bearer(token):
            return {"Authorization": "Bearer " + token}

        no_agent = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_create=True)).to_jwt()
        other_secret = api.AccessToken(KEY, "another-secret-0123456789-0123456789").with_grants(api.VideoGrants(agent=True)).to_jwt()
        other_key = api.AccessToken("APIother", SECRET).with_grants(api.VideoGrants(agent=True)).to_jwt()
        self.check(await handshake_status({}) == 401, "no token: not 401")
        self.check(await handshake_status(bearer(no_agent)) == 401, "no agent grant: not 401")
        self.check(await handshake_status(bearer(other_secret)) == 401, "another secret: not 401")
        self.check(await handshake_status(bearer(other_key)) == 401, "another key: not 401")
        async with self.http.get("http://127.0.0.1:%d/agent" % self.port) as response:
            self.check(response.status == 404, "a plain GET of /agent: %d, not 404" % response.status)

        good = bearer(api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(agent=True)).to_jwt())
        from livekit.protocol import agent
        ws = await self.http.ws_connect(agent_url, headers=good)
        await ws.send_bytes(agent.WorkerMessage(ping=agent.WorkerPing(timestamp=1)).SerializeToString())
        closed = await ws.receive(timeout=10)
        self.check(closed.type == aiohttp.WSMsgType.CLOSE, "a first message other than register: %s, not closed" % closed.type)
        await ws.close()
        ws = await self.http.ws_connect(agent_url, headers=good)
        await ws.send_bytes(agent.WorkerMessage(register=agent.RegisterWorkerRequest(agent_name="raw")).SerializeToString())
        first = await ws.receive(timeout=10)
        registered = agent.ServerMessage()
        registered.ParseFromString(first.data)
        self.check(registered.register.worker_id.startswith("AW_") and registered.register.server_info.version, "register answered %s" % registered)
        await ws.send_bytes(agent.WorkerMessage(ping=agent.WorkerPing(timestamp=42)).SerializeToString())
        pong = agent.ServerMessage()
        pong.ParseFromString((await ws.receive(timeout=10)).data)
        self.check(pong.WhichOneof("message") == "pong" and pong.pong.last_timestamp == 42, "ping answered %s" % pong)
        await ws.send_str("{}")
        closed = await ws.receive(timeout=10)
        self.check(closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 1003, "a text frame: %s %s, not closed 1003" % (closed.type, closed.data))
        await ws.close()
        _, state = await self.get("/control/state")
        self.check(len(state["refused"]) == 4, "refused connections recorded: %s" % state["refused"])
        self.check(len(state["protocol_errors"]) == 2, "protocol errors recorded: %s" % state["protocol_errors"])


    async def check_selection(self, api):
        """Which worker is offered a job first: only WS_AVAILABLE ones, weighted by 1 - load (a
        worker at load 1 has no weight while another has some). Three plain clients register for
        one agent name, report their status, and decline every offer."""
        from livekit.protocol import agent
        agent_url = "ws://127.0.0.1:%d/agent" % self.port
        token = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(agent=True)).to_jwt()
        statuses = {"loaded": (agent.WS_AVAILABLE, 1.0), "idle": (agent.WS_AVAILABLE, 0.0), "full": (agent.WS_FULL, 0.0)}
        sockets, ids, declining = {}, {}, []

        async def decline(ws):
            async for frame in ws:
                message = agent.ServerMessage()
                message.ParseFromString(frame.data)
                if message.WhichOneof("message") == "availability":
                    answer = agent.AvailabilityResponse(job_id=message.availability.job.id, available=False)
                    await ws.send_bytes(agent.WorkerMessage(availability=answer).SerializeToString())

        try:
            for name, (status, load) in statuses.items():
                ws = await self.http.ws_connect(agent_url, headers={"Authorization": "Bearer " + token})
                sockets[name] = ws
                await ws.send_bytes(agent.WorkerMessage(register=agent.RegisterWorkerRequest(agent_name="weights")).SerializeToString())
                registered = agent.ServerMessage()
                registered.ParseFromString((await ws.receive(timeout=10)).data)
                ids[name] = registered.register.worker_id
                update = agent.UpdateWorkerStatus(status=status, load=load, job_count=0)
                await ws.send_bytes(agent.WorkerMessage(update_worker=update).SerializeToString())
                declining.append(asyncio.create_task(decline(ws)))

            async def reported():
                _, body = await self.get("/control/workers")
                seen = {w["id"]: (w["status"], w["load"]) for w in body["workers"]}
                return all(seen.get(ids[n]) == (agent.WorkerStatus.Name(st), ld) for n, (st, ld) in statuses.items())

            await self.wait_for("the plain workers' UpdateWorkerStatus", reported)
            for attempt in range(5):
                declined = await self.dispatch("weights-%d" % attempt, agent_name="weights")
                offered = [o["worker_id"] for o in declined["offers"]]
                self.check(offered == [ids["idle"], ids["loaded"]] and declined["outcome"] == "no_worker",
                           "offers by load, never to a full worker: %s (workers %s)" % (declined, ids))
        finally:
            for task in declining:
                task.cancel()
            for ws in sockets.values():
                await ws.close()


async def _now(value):
    return value


def run_checks():
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix="livekit-selftest-")
    processes = Processes(directory)
    selftest = Selftest(processes, os.path.join(directory, "record.jsonl"))

    def out_of_time(signum, frame):
        raise Failed("the selftest did not finish within %d s" % DEADLINE)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(DEADLINE)
    try:
        asyncio.run(selftest.run())
    except Failed as failed:
        if str(failed) not in selftest.failures:
            selftest.failures.append(str(failed))
    finally:
        signal.alarm(0)
        processes.stop_worker()
        processes.stop_server()
    elapsed = time.monotonic() - started
    if selftest.failures:
        print("livekit selftest FAILED (%.1f s):" % elapsed)
        for failure in selftest.failures:
            print("  - " + failure)
        for name in ("server.log", "worker.log"):
            print("--- %s (end) ---\n%s" % (name, processes.log(name)))
        print("%d passed, %d failed" % (selftest.passed, len(selftest.failures)))
        return 1
    print("livekit selftest passed in %.1f s" % elapsed)
    print("%d passed, 0 failed" % selftest.passed)
    import shutil
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        run_worker()
        sys.exit(0)
    sys.exit(run_checks())
