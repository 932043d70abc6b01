"""Tests of corral_agent against real sockets (run: python3 -m unittest discover -s clients/python)."""

import json
import os
import socket
import tempfile
import threading
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


if __name__ == "__main__":
    unittest.main()
