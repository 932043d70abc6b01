"""Tests of corral_agent against real sockets (run: python3 -m unittest discover -s clients/python)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from unittest import mock

import corral_agent


class NotifyTests(unittest.TestCase):
    def receive_with(self, address, bind_to, send):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
            server.bind(bind_to)
            server.settimeout(5)
            with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": address}):
                self.assertTrue(send())
            return server.recv(4096).decode()

    def test_ready_with_status_goes_to_a_path_socket(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "notify.sock")
            message = self.receive_with(path, path, lambda: corral_agent.ready("loaded"))
        self.assertEqual(message, "READY=1\nSTATUS=loaded")

    def test_abstract_socket_and_watchdog(self):
        name = "corral-agent-test-%d" % os.getpid()
        message = self.receive_with("@" + name, "\0" + name, corral_agent.watchdog)
        self.assertEqual(message, "WATCHDOG=1")

    def test_without_a_socket_nothing_is_sent(self):
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertFalse(corral_agent.ready())

    def test_while_corral_is_away_a_notification_is_not_an_error(self):
        # corral crashed and has not restarted yet: its socket file is there, nobody reads it
        # (ECONNREFUSED), or it is gone (ENOENT). The agent's keep-alive must not kill it.
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "notify.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
                server.bind(path)
            for address in (path, os.path.join(directory, "gone.sock"), "@corral-agent-test-nobody-%d" % os.getpid()):
                with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": address}):
                    self.assertFalse(corral_agent.watchdog(), address)
                    self.assertFalse(corral_agent.ready(), address)


    def test_ready_unheard_is_said_again_once_corral_listens(self):
        # corral crashed while the agent was loading: its READY=1 reaches the restarted corral.
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "notify.sock")
            with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": path}):
                self.assertFalse(corral_agent.ready("loaded"))
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
                server.bind(path)
                server.settimeout(10)
                self.assertEqual(server.recv(4096).decode(), "READY=1\nSTATUS=loaded")

    def test_a_later_ready_heard_at_once_stops_the_resending(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "notify.sock")
            with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": path}):
                self.assertFalse(corral_agent.ready("first"))
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
                    server.bind(path)
                    server.settimeout(10)
                    # The resending thread may have got there first, with the first status.
                    self.assertTrue(corral_agent.ready("second"))
                    messages = [server.recv(4096).decode()]
                    server.settimeout(0.5)
                    with contextlib.suppress(socket.timeout):
                        while True:
                            messages.append(server.recv(4096).decode())
                    self.assertEqual(messages[-1], "READY=1\nSTATUS=second", messages)


class AssignmentTests(unittest.TestCase):
    def test_cold_start_reads_the_environment(self):
        env = {"CORRAL_SESSION_ID": "abc", "CORRAL_AGENT": "voice", "CORRAL_METADATA": '{"room":"r1"}', "LIVEKIT_ROOM": "r1"}
        with mock.patch.dict(os.environ, env, clear=True):
            job = corral_agent.wait_for_assignment()
        self.assertFalse(job.warm)
        self.assertEqual((job.session_id, job.agent, job.metadata), ("abc", "voice", {"room": "r1"}))
        self.assertEqual(job.livekit, {"room": "r1"})

    def test_prewarmed_agent_is_handed_a_session_and_acknowledges_it(self):
        corral_end, agent_end = socket.socketpair()
        assignment = {
            "type": "assign", "session_id": "call-7", "agent": "voice", "metadata": {"caller": "x"},
            "expires_at": "2026-01-01T00:00:00Z", "env": {"CORRAL_SESSION_ID": "call-7", "LIVEKIT_TOKEN": "t"},
        }
        line = (json.dumps(assignment) + "\n").encode()
        # Sent in two pieces, as a stream may deliver it.
        sender = threading.Thread(target=lambda: (corral_end.sendall(line[:10]), corral_end.sendall(line[10:])))
        with mock.patch.dict(os.environ, {"CORRAL_ASSIGN_FD": str(agent_end.detach())}, clear=True):
            sender.start()
            job = corral_agent.wait_for_assignment()
            self.assertEqual(os.environ["CORRAL_SESSION_ID"], "call-7")
            self.assertEqual(os.environ["LIVEKIT_TOKEN"], "t")
            self.assertNotIn("CORRAL_ASSIGN_FD", os.environ)
        sender.join()
        self.assertTrue(job.warm)
        self.assertEqual((job.session_id, job.metadata), ("call-7", {"caller": "x"}))
        corral_end.settimeout(5)
        self.assertEqual(json.loads(corral_end.recv(4096).decode()), {"type": "ack", "session_id": "call-7"})
        corral_end.close()

    def test_a_closed_channel_is_an_error(self):
        corral_end, agent_end = socket.socketpair()
        corral_end.close()
        with mock.patch.dict(os.environ, {"CORRAL_ASSIGN_FD": str(agent_end.detach())}, clear=True):
            with self.assertRaises(ConnectionError):
                corral_agent.wait_for_assignment()


# A template program for the tests: what it does is chosen by TEST_MODE.
_TEMPLATE_PROGRAM = textwrap.dedent("""
    import os, sys, threading, time
    sys.path.insert(0, %r)
    import corral_agent

    mode = os.environ.get("TEST_MODE", "normal")
    state = {}

    def warm_up():
        state["warm"] = os.getpid()
        if mode == "thread":
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()

    def setup():
        state["setup"] = os.getpid()

    def session(job):
        print("session %%s pid=%%d warm_up_pid=%%d setup_pid=%%s sid=%%d metadata=%%s env=%%s forked=%%s" %% (
            job.session_id, os.getpid(), state["warm"], state.get("setup"), os.getsid(0), job.metadata,
            os.environ.get("EXTRA"), job.forked), flush=True)
        if job.metadata.get("signal"):
            os.kill(os.getpid(), int(job.metadata["signal"]))
        time.sleep(float(job.metadata.get("sleep", "0")))
        return int(job.metadata.get("code", "0"))

    result = corral_agent.serve_template(warm_up, session, setup)
    print("cold session returned", result, flush=True)
""")


class TemplateTests(unittest.TestCase):
    """The template side of serve_template, driven the way corral drives it: a SOCK_SEQPACKET
    channel, fork requests with descriptors, answers with a pidfd, exit reports. A plain file
    stands in for each cgroup.procs (the child writes "0" to it); cgroups themselves are tested
    with corral (TemplateTests in the Swift suite)."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)
        self.program = os.path.join(self.directory.name, "template.py")
        with open(self.program, "w") as file:
            file.write(_TEMPLATE_PROGRAM % os.path.dirname(os.path.abspath(__file__)))
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = os.path.join(self.directory.name, "notify.sock")
        self.notify.bind(self.notify_path)
        self.notify.settimeout(20)
        self.addCleanup(self.notify.close)
        self.pids = []
        self.addCleanup(self._kill_leftovers)

    def _kill_leftovers(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def start_template(self, mode="normal"):
        corral_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {"PATH": os.environ.get("PATH", ""), "CORRAL_TEMPLATE": "1", "CORRAL_TEMPLATE_FD": str(template_end.fileno()),
               "NOTIFY_SOCKET": self.notify_path, "TEST_MODE": mode}
        self.template_output = os.path.join(self.directory.name, "template.log")
        with open(self.template_output, "wb") as output:
            process = subprocess.Popen([sys.executable, self.program], env=env, pass_fds=[template_end.fileno()],
                                       stdout=output, stderr=subprocess.STDOUT)
        template_end.close()
        self.pids.append(process.pid)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        self.addCleanup(corral_end.close)
        corral_end.settimeout(20)
        return process, corral_end

    def fork(self, channel, request_id, metadata=None, cgroup_mode=os.O_WRONLY):
        log_path = os.path.join(self.directory.name, "session-%d.log" % request_id)
        procs_path = os.path.join(self.directory.name, "procs-%d" % request_id)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT, 0o600)
        open(procs_path, "w").close()
        procs = os.open(procs_path, cgroup_mode)
        env = {"CORRAL_SESSION_ID": "call-%d" % request_id, "CORRAL_AGENT": "voice", "EXTRA": "yes",
               "CORRAL_METADATA": json.dumps(metadata or {}), "PATH": os.environ.get("PATH", "")}
        request = {"type": "fork", "id": request_id, "session_id": "call-%d" % request_id, "idle": False, "env": env,
                   "cwd": self.directory.name, "fds": ["log", "cgroup"]}
        socket.send_fds(channel, [json.dumps(request).encode()], [log, procs])
        os.close(log)
        os.close(procs)
        message, fds, _, _ = socket.recv_fds(channel, 65536, 4)
        return json.loads(message), fds, log_path, procs_path

    def receive(self, channel):
        message, fds, _, _ = socket.recv_fds(channel, 65536, 4)
        self.assertEqual(fds, [])
        return json.loads(message)

    def wait_for_text(self, path, text):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(path) as file:
                content = file.read()
            if text in content:
                return content
            time.sleep(0.02)
        self.fail("%r never appeared in %s: %r" % (text, path, content))

    def test_forks_run_the_session_placed_and_report_their_exit(self):
        process, channel = self.start_template()
        self.assertEqual(self.notify.recv(4096).decode().split("\n")[0], "READY=1")
        answer, fds, log_path, procs_path = self.fork(channel, 1, {"code": "3", "sleep": "0.3"})
        self.assertEqual((answer["type"], answer["id"]), ("forked", 1))
        self.assertEqual(len(fds), 1, "a pidfd comes with the answer")
        pid = answer["pid"]
        self.pids.append(pid)
        with open("/proc/self/fdinfo/%d" % fds[0]) as info:
            self.assertIn("Pid:\t%d" % pid, info.read())
        os.close(fds[0])
        with open(procs_path) as procs:
            self.assertEqual(procs.read(), "0", "the child wrote 0 to the cgroup's procs before it was answered for")
        log = self.wait_for_text(log_path, "session call-1")
        self.assertIn("pid=%d" % pid, log)
        self.assertIn("warm_up_pid=%d" % process.pid, log, "the warm-up ran once, in the template")
        self.assertIn("setup_pid=%d" % pid, log, "setup ran in the child")
        self.assertIn("sid=%d" % pid, log, "the child leads its own session")
        self.assertIn("env=yes", log)
        self.assertIn("forked=True", log)
        self.assertEqual(self.receive(channel), {"type": "exited", "pid": pid, "code": 3})
        # A second fork from the same template, killed by a signal.
        answer, fds, _, _ = self.fork(channel, 2, {"signal": str(int(signal.SIGKILL))})
        for fd in fds:
            os.close(fd)
        self.assertEqual(self.receive(channel), {"type": "exited", "pid": answer["pid"], "signal": int(signal.SIGKILL)})
        # corral closes the channel: the template exits.
        channel.close()
        self.assertEqual(process.wait(timeout=20), 0)

    def test_a_child_that_cannot_enter_its_cgroup_is_refused(self):
        process, channel = self.start_template()
        self.notify.recv(4096)
        answer, fds, log_path, _ = self.fork(channel, 7, cgroup_mode=os.O_RDONLY)
        self.assertEqual(fds, [])
        self.assertEqual((answer["type"], answer["id"]), ("refused", 7))
        with open(log_path) as log:
            self.assertEqual(log.read(), "", "nothing of the session ran")
        channel.close()
        self.assertEqual(process.wait(timeout=20), 0)

    def test_forks_outlive_their_template(self):
        process, channel = self.start_template()
        self.notify.recv(4096)
        answer, fds, log_path, _ = self.fork(channel, 1, {"sleep": "30"})
        for fd in fds:
            os.close(fd)
        self.pids.append(answer["pid"])
        self.wait_for_text(log_path, "session call-1")
        channel.close()
        self.assertEqual(process.wait(timeout=20), 0)
        os.kill(answer["pid"], 0)

    def test_a_template_with_threads_after_warm_up_refuses_to_serve(self):
        process, channel = self.start_template("thread")
        self.assertNotEqual(process.wait(timeout=20), 0)
        with open(self.template_output) as output:
            self.assertIn("must not run threads when it forks", output.read())

    def test_started_cold_it_runs_everything_in_one_process(self):
        env = {"PATH": os.environ.get("PATH", ""), "CORRAL_SESSION_ID": "cold-1", "CORRAL_METADATA": '{"code": "5"}', "EXTRA": "cold"}
        result = subprocess.run([sys.executable, self.program], env=env, capture_output=True, timeout=30)
        output = result.stdout.decode()
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertIn("session cold-1 pid=", output)
        self.assertIn("forked=False", output)
        self.assertIn("cold session returned 5", output)
        pid = output.split("session cold-1 pid=")[1].split()[0]
        self.assertIn("warm_up_pid=%s setup_pid=%s" % (pid, pid), output)


if __name__ == "__main__":
    unittest.main()
