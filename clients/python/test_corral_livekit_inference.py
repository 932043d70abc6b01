"""Tests of corral_livekit_inference: a real inference process forked by the test (standing for
the template), reached over its Unix socket (run: python3 -m unittest discover -s clients/python).
No livekit-agents is needed: the runners are plain classes with ``initialize()`` and ``run()``."""

import asyncio
import os
import shutil
import signal
import socket
import tempfile
import time
import unittest
from unittest import mock

import corral_livekit_inference as inference

# The runners' record, in a folder made for the run and removed after it.
_FOLDER = None
RECORD = None


def setUpModule():
    global _FOLDER, RECORD
    _FOLDER = tempfile.mkdtemp(prefix="corral-inference-test-")
    RECORD = os.path.join(_FOLDER, "record")


def tearDownModule():
    shutil.rmtree(_FOLDER, ignore_errors=True)


class Reverse:
    def initialize(self):
        with open(RECORD, "a") as record:
            record.write("initialized %d\n" % os.getpid())

    def run(self, data):
        return data[::-1] + b":%d" % os.getpid()


class Failing:
    def initialize(self):
        pass

    def run(self, data):
        raise ValueError("no good: %r" % data)


class Nothing:
    def initialize(self):
        pass

    def run(self, data):
        return None


class Broken:
    def initialize(self):
        raise RuntimeError("cannot load")

    def run(self, data):
        return b""


def running(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class InferenceProcessTests(unittest.TestCase):
    def setUp(self):
        if os.path.exists(RECORD):
            os.remove(RECORD)
        self.path = inference.start({"reverse": Reverse, "failing": Failing, "nothing": Nothing, "broken": Broken})
        with open(RECORD) as record:
            self.pid = int(record.read().split()[1])
        self.addCleanup(self.end)

    def end(self):
        for fd in inference._held:
            os.close(fd)
        inference._held.clear()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def test_runners_are_initialized_once_in_their_own_process_and_answer_every_job(self):
        self.assertNotEqual(self.pid, os.getpid())

        async def job():
            runners = inference.RemoteRunners(self.path)
            try:
                answers = await asyncio.gather(*(runners.run("reverse", b"abc%d" % n) for n in range(20)))
                return answers, await runners.run("nothing", b"x")
            finally:
                runners.close()

        # Two jobs, one after the other, each with its own connection.
        for _ in range(2):
            answers, nothing = asyncio.run(job())
            self.assertEqual(answers, [(b"abc%d" % n)[::-1] + b":%d" % self.pid for n in range(20)])
            self.assertIsNone(nothing)
        with open(RECORD) as record:
            self.assertEqual(record.read().count("initialized"), 1)

    def test_errors_reach_the_job(self):
        async def job():
            runners = inference.RemoteRunners(self.path)
            try:
                with self.assertRaisesRegex(RuntimeError, "inference of failing failed: no good: b'x'"):
                    await runners.run("failing", b"x")
                with self.assertRaisesRegex(RuntimeError, "no inference runner 'unknown'"):
                    await runners.run("unknown", b"x")
                with self.assertRaisesRegex(RuntimeError, "no inference runner 'broken'.*failed to initialize"):
                    await runners.run("broken", b"x")
                # The connection still serves after errors.
                return await runners.run("reverse", b"ok")
            finally:
                runners.close()

        self.assertEqual(asyncio.run(job()), b"ko:%d" % self.pid)

    def test_it_outlives_the_template_while_a_job_is_connected(self):
        async def job():
            runners = inference.RemoteRunners(self.path)
            try:
                await runners.run("reverse", b"a")
                # The template exits (its end of the pipe closes): the connected job is still served.
                for fd in inference._held:
                    os.close(fd)
                inference._held.clear()
                await asyncio.sleep(0.2)
                self.assertTrue(running(self.pid))
                return await runners.run("reverse", b"b")
            finally:
                runners.close()

        self.assertEqual(asyncio.run(job()), b"b:%d" % self.pid)
        # No job connected and no template: it exits.
        _, status = os.waitpid(self.pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        with self.assertRaises(ConnectionRefusedError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
            gone.connect(self.path)

    @unittest.skipUnless(os.geteuid() == 0, "connecting as another user needs root")
    def test_another_user_is_not_served(self):
        # The socket is abstract (no file permissions): the process checks the peer's uid. A
        # process of user nobody connects and asks; it gets the connection closed, no answer.
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.close(read_end)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(30)
                    sock.connect(self.path)
                    # Closed before the request was written (EPIPE) or with it unread (ECONNRESET).
                    try:
                        sock.sendall(inference.frame({"id": 1, "method": "reverse"}, b"abc"))
                        answer = sock.recv(4096)
                    except (BrokenPipeError, ConnectionResetError):
                        answer = b""
                os.write(write_end, b"closed" if answer == b"" else b"answered " + answer[:100])
            except BaseException as error:
                os.write(write_end, ("failed %r" % error).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as result:
            outcome = result.read().decode(errors="replace")
        os.waitpid(child, 0)
        self.assertEqual(outcome, "closed")

        # Its own user is still served after the refusal.
        async def job():
            runners = inference.RemoteRunners(self.path)
            try:
                return await runners.run("reverse", b"ok")
            finally:
                runners.close()

        self.assertEqual(asyncio.run(job()), b"ko:%d" % self.pid)

    def test_a_job_whose_inference_process_is_gone_runs_the_runners_itself(self):
        class Local:
            async def run(self, method, data):
                return b"local " + data

            def close(self):
                pass

        async def job():
            runners = inference.RemoteRunners(self.path)
            try:
                first = await runners.run("reverse", b"a")
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                deadline = time.monotonic() + 10
                while not runners._lost and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                return first, await runners.run("reverse", b"b"), await runners.run("reverse", b"c")
            finally:
                runners.close()

        with mock.patch.object(inference, "LocalRunners", Local), self.assertLogs("corral_livekit", "WARNING") as logs:
            first, second, third = asyncio.run(job())
        self.assertEqual((first, second, third), (b"a:%d" % self.pid, b"local b", b"local c"))
        self.assertEqual(len(logs.records), 1, "said once")


if __name__ == "__main__":
    unittest.main()
