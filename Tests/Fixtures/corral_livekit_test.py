#!/usr/bin/env python3
"""Tests of clients/python/corral_livekit.py with LiveKit's own agent framework (run with the
python of .build/livekit-venv: ``python corral_livekit_test.py``).

The test plays corral: it starts livekit_job_agent.py (an unchanged livekit-agents entrypoint and
prewarm function, run by corral_livekit) in a kernel session of its own, with what corral gives a
LiveKit worker job, cold (everything in the environment) or prewarmed (fd 3 is one end of a
socketpair, the assignment channel), and listens on a notify socket. LIVEKIT_URL points at a small
local endpoint that records the room connection LiveKit's client attempts (``/rtc...`` with the
token) and completes none. Every process started is ended by its process group's id.

The template tests play corral's side of a template (docs/templates.md): the agent is started with
``CORRAL_TEMPLATE=1`` and one end of a SOCK_SEQPACKET socketpair as fd 3, and each job is a fork
request with the job's log and a plain file standing in for its cgroup.procs.
"""

import json
import os
import shutil
import subprocess
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

from google.protobuf import json_format
from livekit import api
from livekit.protocol import agent, models

import fixture_server

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_SCRIPT = os.path.join(HERE, "livekit_job_agent.py")
KEY = "APIcorrallivekit"
SECRET = "corral-livekit-secret-0123456789-0123456789"
# Seconds for any one wait: loading livekit-agents takes 2 s on a quiet machine and ten times that
# while the whole suite runs beside it on two cores (a template's READY=1 once took over 60 s).
DEADLINE = 150
TEST_DEADLINE = 300  # seconds for one test, so that its tearDown still ends what it started


class RoomEndpoint:
    """Where ``ctx.connect()`` goes: records each request to ``/rtc...`` and the access token it
    carried (``Authorization: Bearer`` or the ``access_token`` query parameter), accepts a
    WebSocket and closes it at once."""

    def __init__(self):
        import asyncio

        from aiohttp import web

        self.requests = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def remember(seen):
            with self._lock:
                self.requests.append(seen)

        async def record(request):
            return await fixture_server.answer_as_room(request, remember)

        async def start():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", record)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            self.port = await fixture_server.listen(self._runner, "127.0.0.1", 0)
            started.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        started.wait(10)

    @property
    def url(self):
        return "ws://127.0.0.1:%d" % self.port

    def seen(self):
        with self._lock:
            return list(self.requests)

    def stop(self):
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class NotifySocket:
    """corral's end of systemd's notify protocol."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def lines(self):
        return [line for message in self.drain() for line in message.split("\n")]

    def close(self):
        self.sock.close()


def wait_until(what, probe, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %g s waiting for %s" % (timeout, what))


class Agent:
    """livekit_job_agent.py started as corral starts an agent: its own session (its pid is its
    process group's id), stdin from /dev/null, output to a log, and optionally fd 3."""

    def __init__(self, directory, environment, assign_fd=None, arguments=()):
        self.log = os.path.join(directory, "agent.log")
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        if assign_fd is not None:
            actions.append((os.POSIX_SPAWN_DUP2, assign_fd, 3))
        self.pid = os.posix_spawn(sys.executable, [sys.executable, AGENT_SCRIPT, *arguments], environment, file_actions=actions, setsid=True)
        self.status = None

    def exited(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait(self, timeout=DEADLINE):
        wait_until("the agent to exit", self.exited, timeout)
        return self.status

    def end(self):
        """SIGKILL to whatever is left of its process group, then reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.status is None:
            _, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-4000:]


class Harness(unittest.TestCase):
    """Plays corral for livekit_job_agent.py; the tests are in its subclasses."""

    def setUp(self):
        signal.signal(signal.SIGALRM, self.out_of_time)
        signal.alarm(TEST_DEADLINE)
        self.directory = tempfile.mkdtemp(prefix="corral-livekit-")
        self.record_file = os.path.join(self.directory, "record.jsonl")
        self.endpoint = RoomEndpoint()
        self.notify = NotifySocket(self.directory)
        self.agent = None
        self.job = agent.Job(
            id="AJ_corral1", dispatch_id="AD_1", type=agent.JT_ROOM, agent_name="voice", metadata="caller=42",
            room=models.Room(sid="RM_corral1", name="consult-7"),
        )
        self.job.state.worker_id = "AW_corral"
        self.token = (
            api.AccessToken(KEY, SECRET).with_identity("agent-AJ_corral1").with_name("Voice").with_kind("agent")
            .with_attributes({"lk.agent.name": "voice"})
            .with_grants(api.VideoGrants(room_join=True, room="consult-7", agent=True)).to_jwt()
        )

    @staticmethod
    def out_of_time(signum, frame):
        raise AssertionError("the test did not finish within %d s" % TEST_DEADLINE)

    def tearDown(self):
        signal.alarm(0)
        if self.agent is not None:
            if not self.agent.exited():
                print(self.agent.output(), file=sys.stderr)
            self.agent.end()
        self.endpoint.stop()
        self.notify.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def job_environment(self, session_id):
        """What corral gives a LiveKit worker job (the same keys a prewarmed agent's assignment
        carries in ``env``)."""
        return {
            "LIVEKIT_URL": self.endpoint.url,
            "LIVEKIT_TOKEN": self.token,
            "LIVEKIT_ROOM": "consult-7",
            "LIVEKIT_JOB_ID": "AJ_corral1",
            "LIVEKIT_AGENT_NAME": "voice",
            "LIVEKIT_JOB": json_format.MessageToJson(self.job),
            "CORRAL_SESSION_ID": session_id,
            "CORRAL_AGENT": "voice",
            "CORRAL_METADATA": json.dumps({"livekit_job_metadata": "caller=42"}),
        }

    def base_environment(self):
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "LIVEKIT_", "NOTIFY_SOCKET", "JOB_AGENT_"))}
        inherited.update({"NOTIFY_SOCKET": self.notify.path, "JOB_AGENT_RECORD": self.record_file, "PYTHONDONTWRITEBYTECODE": "1"})
        return inherited

    def start_prewarmed(self, idle_id):
        """Starts the agent as a prewarmed one, the agent's end of a socketpair as its fd 3;
        returns corral's end."""
        corral_end, agent_end = socket.socketpair()
        # dup2 onto the same number would leave it close-on-exec.
        fd = os.dup(agent_end.fileno()) if agent_end.fileno() == 3 else agent_end.fileno()
        environment = self.base_environment()
        environment.update({"CORRAL_ASSIGN_FD": "3", "CORRAL_SESSION_ID": idle_id, "CORRAL_AGENT": "voice"})
        self.agent = Agent(self.directory, environment, assign_fd=fd)
        if fd != agent_end.fileno():
            os.close(fd)
        agent_end.close()
        self.addCleanup(corral_end.close)
        return corral_end

    def records(self, kind):
        if not os.path.exists(self.record_file):
            return []
        with open(self.record_file) as f:
            return [r for r in (json.loads(line) for line in f if line.strip()) if r["kind"] == kind]

    def check_job_ran(self, session_id):
        entry = wait_until("the entrypoint", lambda: self.records("entrypoint"))[0]
        self.assertEqual(entry["pid"], self.agent.pid, "the job runs in the process corral started")
        self.assertEqual(
            (entry["job_id"], entry["room"], entry["agent_name"], entry["metadata"], entry["worker_id"]),
            ("AJ_corral1", "consult-7", "voice", "caller=42", "AW_corral"),
        )
        self.assertEqual(entry["identity"], "agent-AJ_corral1")
        self.assertEqual(entry["session"], session_id)
        self.assertEqual(entry["userdata"], "models", "prewarm's JobProcess is the job's ctx.proc")
        self.assertEqual(entry["inference"], "cba", "the registered inference runner answers")
        prewarm = self.records("prewarm")
        self.assertEqual([r["pid"] for r in prewarm], [self.agent.pid])
        self.assertLess(prewarm[0]["at"], entry["at"])
        # ctx.connect() went to LIVEKIT_URL with the token from the assignment.
        attempts = wait_until("a room connection attempt", self.endpoint.seen)
        self.assertTrue(all(a["path"].startswith("/rtc") for a in attempts), attempts)
        self.assertEqual({a["token"] for a in attempts}, {self.token})
        wait_until("ctx.connect() to return", lambda: self.records("connect"))
        return entry

    def check_sigterm_ends_the_job(self):
        self.assertFalse(self.agent.exited(), "the job lasts until it is told to end")
        os.kill(self.agent.pid, signal.SIGTERM)
        self.assertEqual(self.agent.wait(), 0, self.agent.output())
        self.assertEqual([r["reason"] for r in self.records("shutdown")], ["SIGTERM from corral"])
        self.assertIn("STOPPING=1", self.notify.lines())

class CorralLiveKitTests(Harness):
    def test_cold_start_runs_the_entrypoint_with_the_job_and_corrals_token(self):
        environment = self.base_environment()
        environment.update(self.job_environment("lk-AJ_corral1"))
        self.agent = Agent(self.directory, environment)
        self.check_job_ran("lk-AJ_corral1")
        lines = self.notify.lines()
        self.assertIn("READY=1", lines)
        self.assertTrue(any(line.startswith("STATUS=job AJ_corral1 in room consult-7") for line in lines), lines)
        self.check_sigterm_ends_the_job()

    def test_prewarmed_agent_loads_first_and_runs_the_job_it_is_handed(self):
        corral_end = self.start_prewarmed("idle-1")
        wait_until("READY=1", lambda: "READY=1" in self.notify.lines())
        self.assertEqual(len(self.records("prewarm")), 1, "prewarm ran before READY=1")
        self.assertEqual(len(self.records("runner_initialized")), 1, "inference runners are loaded before READY=1")
        self.assertEqual(self.records("entrypoint"), [], "no entrypoint before a job is handed over")

        assigned_at = time.time()
        assignment = {
            "type": "assign", "session_id": "lk-AJ_corral1", "agent": "voice",
            "metadata": {"livekit_job_metadata": "caller=42"}, "expires_at": "2030-01-01T00:00:00Z",
            "env": self.job_environment("lk-AJ_corral1"), "livekit": {"room": "consult-7", "identity": "agent-AJ_corral1"},
        }
        corral_end.sendall((json.dumps(assignment) + "\n").encode())
        corral_end.settimeout(DEADLINE)
        with corral_end.makefile() as answers:
            self.assertEqual(json.loads(answers.readline()), {"type": "ack", "session_id": "lk-AJ_corral1"})
        entry = self.check_job_ran("lk-AJ_corral1")
        self.assertLess(self.records("prewarm")[0]["at"], assigned_at, "the prewarm was done before the job came")
        self.assertGreater(entry["at"], assigned_at)
        self.check_sigterm_ends_the_job()

    def test_an_idle_agent_whose_channel_closes_exits_without_a_job(self):
        corral_end = self.start_prewarmed("idle-2")
        wait_until("READY=1", lambda: "READY=1" in self.notify.lines())
        corral_end.close()
        self.assertEqual(self.agent.wait(), 0, self.agent.output())
        self.assertEqual(self.records("entrypoint"), [])

    def test_an_entrypoint_that_raises_ends_the_job_with_a_failure(self):
        environment = self.base_environment()
        environment.update(self.job_environment("lk-AJ_corral1"))
        environment["JOB_AGENT_MODE"] = "crash"
        self.agent = Agent(self.directory, environment)
        self.assertEqual(self.agent.wait(), 1, self.agent.output())
        self.assertEqual(len(self.records("entrypoint")), 1)
        self.assertEqual([r["reason"] for r in self.records("shutdown")], ["job crashed"])


class CorralLiveKitTemplateTests(Harness):
    """corral_livekit started as a template: livekit-agents' warm-up once in the template, one
    inference process for the runners, each job a fork that runs prewarm and then the job."""

    def setUp(self):
        super().setUp()
        self.forks = []
        self.addCleanup(self.end_forks)

    def end_forks(self):
        for pid in self.forks:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def start_template(self, extra=None):
        corral_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = os.dup(template_end.fileno()) if template_end.fileno() == 3 else template_end.fileno()
        environment = self.base_environment()
        environment.update({"CORRAL_TEMPLATE": "1", "CORRAL_TEMPLATE_FD": "3", "CORRAL_SESSION_ID": "template-1", "CORRAL_AGENT": "voice"})
        environment.update(extra or {})
        self.agent = Agent(self.directory, environment, assign_fd=fd)
        if fd != template_end.fileno():
            os.close(fd)
        template_end.close()
        self.addCleanup(corral_end.close)
        corral_end.settimeout(DEADLINE)
        wait_until("the template's READY=1", lambda: "READY=1" in self.notify.lines())
        return corral_end

    def fork(self, channel, number):
        """Asks the template to fork job ``number``; returns the fork's pid and its log's path."""
        log_path = os.path.join(self.directory, "job-%d.log" % number)
        procs_path = os.path.join(self.directory, "procs-%d" % number)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT, 0o600)
        procs = os.open(procs_path, os.O_WRONLY | os.O_CREAT, 0o600)
        environment = self.base_environment()
        environment.update(self.job_environment("lk-AJ_corral%d" % number))
        request = {"type": "fork", "id": number, "session_id": "lk-AJ_corral%d" % number, "idle": False,
                   "env": environment, "cwd": self.directory, "fds": ["log", "cgroup"]}
        socket.send_fds(channel, [json.dumps(request).encode()], [log, procs])
        os.close(log)
        os.close(procs)
        message, fds, _, _ = socket.recv_fds(channel, 65536, 4)
        for fd in fds:
            os.close(fd)
        answer = json.loads(message)
        self.assertEqual((answer["type"], answer["id"]), ("forked", number), answer)
        self.forks.append(answer["pid"])
        return answer["pid"], log_path

    def test_jobs_are_forks_of_the_warm_template_sharing_one_inference_process(self):
        channel = self.start_template()
        self.assertEqual(self.records("prewarm"), [], "prewarm (setup_fnc) runs in each job, not in the template")
        initialized = wait_until("the inference runner", lambda: self.records("runner_initialized"))
        inference_pid = initialized[0]["pid"]
        self.assertNotEqual(inference_pid, self.agent.pid, "the runners run in a process of their own")
        with open("/proc/%d/stat" % inference_pid) as stat:
            self.assertEqual(int(stat.read().rsplit(")", 1)[1].split()[1]), self.agent.pid, "forked from the template")

        jobs = []
        for number in (1, 2):
            pid, log_path = self.fork(channel, number)
            entry = wait_until("job %d's entrypoint" % number, lambda: [r for r in self.records("entrypoint") if r["pid"] == pid])[0]
            self.assertEqual(entry["parent"], self.agent.pid, "the job is a fork of the template")
            self.assertEqual((entry["job_id"], entry["room"], entry["session"]), ("AJ_corral1", "consult-7", "lk-AJ_corral%d" % number))
            self.assertEqual(entry["userdata"], "models", "prewarm's JobProcess is the job's ctx.proc")
            self.assertEqual(entry["inference"], "cba")
            jobs.append((pid, log_path))
        self.assertEqual([r["pid"] for r in self.records("prewarm")], [pid for pid, _ in jobs], "prewarm ran once in each fork")
        self.assertEqual(len(self.records("runner_initialized")), 1, "one inference process for every job")
        self.assertEqual({r["pid"] for r in self.records("inference_run")}, {inference_pid})

        # SIGTERM ends a job through LiveKit's shutdown sequence; the template reports its exit.
        for pid, log_path in jobs:
            os.kill(pid, signal.SIGTERM)
            message = json.loads(socket.recv_fds(channel, 65536, 4)[0])
            with open(log_path) as log:
                self.assertEqual(message, {"type": "exited", "pid": pid, "code": 0}, log.read()[-3000:])
        self.assertEqual(sorted(r["reason"] for r in self.records("shutdown")), ["SIGTERM from corral"] * 2)
        # corral closes the channel: the template exits, and its inference process with it.
        channel.close()
        self.assertEqual(self.agent.wait(), 0, self.agent.output())
        wait_until("the inference process to end", lambda: not _running(inference_pid))

    def test_an_agent_server_runs_the_same_way(self):
        channel = self.start_template({"JOB_AGENT_SERVER": "1"})
        pid, _ = self.fork(channel, 1)
        entry = wait_until("the entrypoint", lambda: self.records("entrypoint"))[0]
        self.assertEqual((entry["pid"], entry["parent"], entry["userdata"]), (pid, self.agent.pid, "models"))
        os.kill(pid, signal.SIGTERM)
        self.assertEqual(json.loads(socket.recv_fds(channel, 65536, 4)[0]), {"type": "exited", "pid": pid, "code": 0})
        channel.close()
        self.assertEqual(self.agent.wait(), 0, self.agent.output())


class ShellTests(unittest.TestCase):
    """Started from a shell (no corral in the environment), the same file is LiveKit's own CLI."""

    def test_livekits_cli_takes_over(self):
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "LIVEKIT_", "NOTIFY_SOCKET"))}
        for server in ("0", "1"):
            environment["JOB_AGENT_SERVER"] = server
            result = subprocess.run([sys.executable, AGENT_SCRIPT, "--help"], env=environment, capture_output=True, text=True, timeout=DEADLINE)
            self.assertEqual(result.returncode, 0, result.stderr)
            for command in ("console", "dev", "start"):
                self.assertIn(command, result.stdout)


    def test_start_registers_with_livekit_as_its_own_worker(self):
        """``python agent.py start``: LiveKit's own worker registers with a LiveKit server (the
        test one) under the AgentServer's agent name."""
        import re
        import urllib.request

        directory = tempfile.mkdtemp(prefix="corral-livekit-start-")
        self.addCleanup(shutil.rmtree, directory, True)
        server_log = os.path.join(directory, "server.log")
        with open(server_log, "w") as output:
            server = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "livekit_test_server.py"), "--port", "0", "--api-key", KEY, "--api-secret", SECRET],
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.addCleanup(lambda: (server.kill(), server.wait()))

        def port():
            with open(server_log) as log:
                found = re.search(r'"port": (\d+)', log.read())
            return found and int(found.group(1))

        port = wait_until("the test LiveKit server", port)
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "LIVEKIT_", "NOTIFY_SOCKET"))}
        environment.update({
            "JOB_AGENT_SERVER": "1", "JOB_AGENT_RECORD": os.path.join(directory, "record.jsonl"), "PYTHONDONTWRITEBYTECODE": "1",
            "LIVEKIT_URL": "ws://127.0.0.1:%d" % port, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET,
        })
        agent = Agent(directory, environment, arguments=["start"])
        self.addCleanup(agent.end)

        def registered():
            with urllib.request.urlopen("http://127.0.0.1:%d/control/workers" % port, timeout=10) as reply:
                workers = json.loads(reply.read())["workers"]
            return [w for w in workers if w["connected"] and w["agent_name"] == "voice"]

        try:
            wait_until("LiveKit's worker to register", registered)
        except AssertionError:
            print(agent.output(), file=sys.stderr)
            raise
        os.killpg(agent.pid, signal.SIGTERM)
        agent.wait()


def _running(pid):
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
