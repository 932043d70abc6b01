"""Tests of corral_client against a live corral (real processes; nothing is mocked).

    CORRAL_URL=http://127.0.0.1:8080 CORRAL_TOKEN=... python3 clients/python/test_corral_client.py

The tests of a live corral are skipped without CORRAL_URL (``unittest discover`` over this
directory runs them only when a corral is named); ``WireTests`` always run, against canned
answers from a local socket, for the framings and requests corral's answers do not vary. The corral needs two agents: one that runs until ended
(``CORRAL_TEST_AGENT``, default ``sleeper``) and one that prints a line every fraction of a second,
``line 0``, ``line 1``, ... (``CORRAL_TEST_CHATTY_AGENT``, default ``chatty``). The 401 test needs a
token. Every session started is ended, whatever the outcome. The Swift test
``PythonClientTests`` runs this file against a corral of its own.
"""

import asyncio
import os
import re
import socket
import threading
import time
import unittest
import uuid

from corral_client import (
    AsyncCorralClient, BadRequest, Conflict, CorralClient, CorralConnectionError, CorralError, EndResult,
    Event, Inspection, NotFound, Session, Unauthorized,
)

URL = os.environ.get("CORRAL_URL")
TOKEN = os.environ.get("CORRAL_TOKEN")
AGENT = os.environ.get("CORRAL_TEST_AGENT", "sleeper")
CHATTY = os.environ.get("CORRAL_TEST_CHATTY_AGENT", "chatty")
# Generous: the machine running the tests may be busy.
DEADLINE = 60.0
HOSTILE_IDS = ["a/b", "../sessions", "x?follow=true", "..", "a b"]

needs_corral = unittest.skipUnless(URL, "CORRAL_URL is not set: no corral to test against")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a port the kernel just gave out, closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def line_number(line: str) -> int:
    match = re.fullmatch(r"line (\d+)", line)
    if not match:
        raise AssertionError(f"not a line of the chatty agent: {line!r}")
    return int(match.group(1))


SESSION_JSON = b'{"session_id": "s1", "agent": "a", "status": "running", "pid": 7, "pgid": 7, "is_group_leader": true, "new_field": 1}'


class WireTests(unittest.IsolatedAsyncioTestCase):
    """Both clients against a local server that answers each request with canned bytes, written
    a few at a time so that every line and chunk arrives in pieces."""

    async def serve(self, answer: bytes) -> str:
        """A server that records each request's head and sends `answer`; returns its URL."""
        self.requests: list[str] = []

        async def handle(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head.decode("latin-1"))
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            for start in range(0, len(answer), 5):
                writer.write(answer[start:start + 5])
                await writer.drain()
                await asyncio.sleep(0)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        return "http://127.0.0.1:%d" % server.sockets[0].getsockname()[1]

    async def test_chunked_with_extensions_and_trailers(self):
        body = b"%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (10, SESSION_JSON[:10], len(SESSION_JSON) - 10, SESSION_JSON[10:])
        url = await self.serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        session = await AsyncCorralClient(url, "t", timeout=10).get("s1")
        self.assertEqual((session.session_id, session.pid, session.raw["new_field"]), ("s1", 7, 1))
        session = await asyncio.to_thread(CorralClient(url, "t", timeout=10).get, "s1")
        self.assertEqual(session.pid, 7)

    async def test_content_length_interim_answers_and_the_end_of_the_connection(self):
        for answer in (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(SESSION_JSON), SESSION_JSON),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + SESSION_JSON,
        ):
            with self.subTest(answer=answer[:40]):
                url = await self.serve(answer)
                self.assertEqual((await AsyncCorralClient(url, "t", timeout=10).get("s1")).pid, 7)

    async def test_requests_are_what_corral_expects_from_a_program(self):
        url = await self.serve(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(SESSION_JSON), SESSION_JSON))
        await AsyncCorralClient(url, "secret", timeout=10).start("a", session_id="s1", metadata={"k": "v"})
        await asyncio.to_thread(CorralClient(url, "secret", timeout=10).start, "a")
        for head in self.requests:
            lowered = head.lower()
            self.assertTrue(head.startswith("POST /api/sessions HTTP/1.1\r\n"), head)
            self.assertIn("\r\nauthorization: bearer secret\r\n", lowered)
            self.assertIn("\r\ncontent-type: application/json\r\n", lowered)
            self.assertIn("\r\nhost: 127.0.0.1:", lowered)
            self.assertNotIn("\r\norigin:", lowered)
            self.assertNotIn("\r\nsec-fetch-", lowered)

    async def test_refusals_become_exceptions_with_the_servers_message(self):
        error = b'{"error": "no session \'s1\'"}'
        url = await self.serve(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(error), error))
        with self.assertRaises(NotFound) as raised:
            await AsyncCorralClient(url, "t", timeout=10).get("s1")
        self.assertEqual((raised.exception.status, raised.exception.message), (404, "no session 's1'"))
        url = await self.serve(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n")
        with self.assertRaises(CorralError) as limited:
            await asyncio.to_thread(CorralClient(url, "t", timeout=10).list)
        self.assertEqual((limited.exception.status, limited.exception.retry_after), (429, 3.0))

    async def test_malformed_answers_are_connection_errors(self):
        for answer in (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
            b"SSH-2.0-OpenSSH\r\n",
        ):
            with self.subTest(answer=answer[:40]):
                url = await self.serve(answer)
                with self.assertRaises(CorralConnectionError) as raised:
                    await AsyncCorralClient(url, "t", timeout=10).list()
                self.assertIn(url, str(raised.exception))

    async def test_server_sent_events_in_any_line_ending(self):
        stream = (
            b"\xef\xbb\xbf: subscribed\r\n\r\n"
            b"event: session.started\r\nid: 1\r\ndata: {\"session_id\": \"s1\",\r\ndata: \"sequence\": 1}\r\n\r\n"
            b": keep-alive\n\nevent: session.ended\rid: 2\rdata: {\"session_id\": \"s1\"}\r\r"
            b"data: no event line\n\n"
            b"event: cut short\ndata: {}\n"
        )
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(stream[i:i + 7]), stream[i:i + 7]) for i in range(0, len(stream), 7))
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        async with AsyncCorralClient(await self.serve(answer), "t", timeout=10).events(timeout=10) as events:
            received = [event async for event in events]
        sync_events = await asyncio.to_thread(CorralClient(await self.serve(answer), "t", timeout=10).events, 10)
        with sync_events:
            self.assertEqual(await asyncio.to_thread(list, sync_events), received)
        self.assertEqual([(event.type, event.id) for event in received], [("session.started", "1"), ("session.ended", "2"), ("message", "2")])
        self.assertEqual((received[0].session_id, received[0].sequence), ("s1", 1))
        self.assertEqual((received[2].data, received[2].raw_data), ({}, "no event line"))


@needs_corral
class SyncClientTests(unittest.TestCase):
    def setUp(self):
        self.client = CorralClient(URL, TOKEN, timeout=DEADLINE)
        self.started: list[str] = []

    def tearDown(self):
        for session_id in self.started:
            try:
                self.client.end(session_id)
            except NotFound:
                pass

    def start(self, agent=AGENT, **options) -> Session:
        session_id = options.pop("session_id", None) or new_id("sync")
        self.started.append(session_id)
        return self.client.start(agent, session_id=session_id, **options)

    def test_start_get_list_end(self):
        session = self.start(metadata={"room": "lobby"}, timeout_seconds=600)
        self.assertEqual((session.agent, session.metadata), (AGENT, {"room": "lobby"}))
        self.assertIn(session.status, ("starting", "running"))
        self.assertTrue(session.pid and session.pid == session.pgid and session.is_group_leader)
        self.assertIsNotNone(session.started_at)
        self.assertAlmostEqual((session.expires_at - session.started_at).total_seconds(), 600, delta=5)
        self.assertEqual(session.raw["session_id"], session.session_id)

        self.assertEqual(self.client.get(session.session_id).pid, session.pid)
        self.assertIn(session.session_id, [listed.session_id for listed in self.client.list()])
        with_usage = {listed.session_id: listed for listed in self.client.list(usage=True)}
        self.assertGreaterEqual(with_usage[session.session_id].processes, 1)

        result = self.client.end(session.session_id)
        self.assertIsInstance(result, EndResult)
        self.assertEqual((result.session_id, result.reason), (session.session_id, "deleted"))
        self.assertIn(result.outcome, ("exited", "terminated", "killed"))
        self.assertIsInstance(result.duration_ms, int)
        with self.assertRaises(NotFound) as raised:
            self.client.get(session.session_id)
        self.assertEqual(raised.exception.status, 404)
        self.assertIn(session.session_id, raised.exception.message)
        with self.assertRaises(NotFound):
            self.client.end(session.session_id)

    def test_refusals_carry_status_and_message(self):
        session = self.start()
        with self.assertRaises(Conflict) as duplicate:
            self.client.start(AGENT, session_id=session.session_id)
        self.assertEqual(duplicate.exception.status, 409)
        self.assertEqual(duplicate.exception.code, "conflict")
        self.assertIn("already in use", duplicate.exception.message)
        with self.assertRaises(NotFound) as unknown_agent:
            self.client.start("no-such-agent-" + uuid.uuid4().hex[:6])
        self.assertIn("unknown agent", unknown_agent.exception.message)
        self.assertEqual(unknown_agent.exception.code, "not_found")
        with self.assertRaises(BadRequest) as bad_id:
            self.client.start(AGENT, session_id="not a valid id")
        self.assertEqual(bad_id.exception.status, 400)
        self.assertIn("session_id", bad_id.exception.message)

    def test_ids_are_quoted_into_one_path_segment(self):
        # Each reaches the session routes as one (invalid) id: none lists sessions, follows a
        # log or lands on another route.
        for hostile in HOSTILE_IDS:
            with self.subTest(session_id=hostile), self.assertRaises(BadRequest):
                self.client.get(hostile)
            with self.subTest(session_id=hostile), self.assertRaises(BadRequest):
                self.client.logs(hostile)

    @unittest.skipUnless(TOKEN, "corral has no token here: any token is accepted")
    def test_a_wrong_token_is_401(self):
        with self.assertRaises(Unauthorized) as raised:
            CorralClient(URL, "wrong-" + TOKEN, timeout=DEADLINE).list()
        self.assertEqual(raised.exception.status, 401)
        self.assertIn("token", raised.exception.message)

    def test_an_unreachable_corral_names_its_url(self):
        url = closed_port_url()
        with self.assertRaises(CorralConnectionError) as raised:
            CorralClient(url, TOKEN, timeout=5).list()
        self.assertIsNone(raised.exception.status)
        self.assertIn(url, str(raised.exception))

    def test_processes(self):
        session = self.start()
        inspection = self.client.processes(session.session_id)
        self.assertIsInstance(inspection, Inspection)
        self.assertEqual((inspection.session_id, inspection.pid, inspection.pgid), (session.session_id, session.pid, session.pgid))
        self.assertTrue(inspection.is_group_leader and inspection.is_process_alive and inspection.is_group_alive)
        self.assertEqual(inspection.child_processes[0].pid, session.pid, "the leader comes first")
        self.assertTrue(all(process.cmd for process in inspection.child_processes))
        self.assertEqual(inspection.session_data.get("session_id"), session.session_id)
        self.assertTrue(inspection.log_path and inspection.log_path.endswith(".log"))
        with self.assertRaises(NotFound):
            self.client.processes(new_id("missing"))

    def wait_for_lines(self, session_id: str, count: int) -> list[str]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            lines = self.client.logs(session_id, tail=count).splitlines()
            if len(lines) >= count:
                return lines
            time.sleep(0.1)
        self.fail(f"the agent did not print {count} lines in {DEADLINE} s")

    def test_logs_tail_and_follow_until_the_session_ends(self):
        session = self.start(CHATTY)
        tail = self.wait_for_lines(session.session_id, 3)
        self.assertEqual(len(tail), 3)
        numbers = [line_number(line) for line in tail]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + 3)))

        followed: list[str] = []
        ending = threading.Thread(target=self.client.end, args=(session.session_id,))
        with self.client.follow_logs(session.session_id, tail=1, timeout=DEADLINE) as lines:
            for line in lines:
                followed.append(line)
                if len(followed) == 4:
                    # Ended from another thread: the stream must then end by itself.
                    ending.start()
        ending.join(DEADLINE)
        numbers = [line_number(line) for line in followed]
        self.assertGreaterEqual(len(numbers), 4)
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))), "in order, none missing")
        self.assertGreaterEqual(numbers[0], line_number(tail[-1]))

    def test_events_see_the_start_and_the_end(self):
        with self.client.events(timeout=DEADLINE) as events:
            session = self.start()
            self.client.end(session.session_id)
            seen: list[Event] = []
            for event in events:
                if event.session_id == session.session_id:
                    seen.append(event)
                    if event.type == "session.ended":
                        break
        types = [event.type for event in seen]
        self.assertEqual(types[0], "session.started")
        self.assertEqual(types[-1], "session.ended")
        started, ended = seen[0], seen[-1]
        self.assertEqual((started.data["pid"], started.agent), (session.pid, AGENT))
        self.assertEqual(ended.data["reason"], "deleted")
        self.assertEqual(ended.id, str(ended.sequence))
        self.assertIsNotNone(ended.time)
        sequences = [event.sequence for event in seen]
        self.assertEqual(sequences, sorted(sequences))


@needs_corral
class AsyncClientTests(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.client = AsyncCorralClient(URL, TOKEN, timeout=DEADLINE)
        self.started: list[str] = []

    async def asyncTearDown(self):
        for session_id in self.started:
            try:
                await self.client.end(session_id)
            except NotFound:
                pass

    async def start(self, agent=AGENT, **options) -> Session:
        session_id = options.pop("session_id", None) or new_id("async")
        self.started.append(session_id)
        return await self.client.start(agent, session_id=session_id, **options)

    async def test_start_get_list_end_concurrently(self):
        sessions = await asyncio.gather(*(self.start(metadata={"n": str(n)}) for n in range(3)))
        self.assertEqual(len({session.pid for session in sessions}), 3)
        fetched = await asyncio.gather(*(self.client.get(session.session_id) for session in sessions))
        self.assertEqual([session.metadata for session in fetched], [{"n": "0"}, {"n": "1"}, {"n": "2"}])
        listed = {session.session_id for session in await self.client.list()}
        self.assertLessEqual({session.session_id for session in sessions}, listed)
        results = await asyncio.gather(*(self.client.end(session.session_id) for session in sessions))
        self.assertTrue(all(result.reason == "deleted" for result in results))
        for session in sessions:
            with self.assertRaises(NotFound) as raised:
                await self.client.get(session.session_id)
            self.assertEqual(raised.exception.status, 404)
            self.assertIn(session.session_id, raised.exception.message)

    async def test_refusals_carry_status_and_message(self):
        session = await self.start()
        with self.assertRaises(Conflict) as duplicate:
            await self.client.start(AGENT, session_id=session.session_id)
        self.assertEqual(duplicate.exception.status, 409)
        with self.assertRaises(NotFound):
            await self.client.end(new_id("missing"))
        for hostile in HOSTILE_IDS:
            with self.subTest(session_id=hostile), self.assertRaises(BadRequest):
                await self.client.processes(hostile)
        if TOKEN:
            with self.assertRaises(Unauthorized) as raised:
                await AsyncCorralClient(URL, "wrong-" + TOKEN, timeout=DEADLINE).get(session.session_id)
            self.assertEqual(raised.exception.status, 401)
        url = closed_port_url()
        with self.assertRaises(CorralConnectionError) as unreachable:
            await AsyncCorralClient(url, TOKEN, timeout=5).list()
        self.assertIn(url, str(unreachable.exception))

    async def test_processes(self):
        session = await self.start()
        inspection = await self.client.processes(session.session_id)
        self.assertEqual((inspection.pid, inspection.child_processes[0].pid), (session.pid, session.pid))
        self.assertTrue(inspection.is_process_alive and inspection.is_group_alive)
        self.assertTrue(inspection.log_path)

    async def test_logs_tail_and_follow_until_the_session_ends(self):
        session = await self.start(CHATTY)
        deadline = time.monotonic() + DEADLINE
        while len((await self.client.logs(session.session_id, tail=2)).splitlines()) < 2:
            self.assertLess(time.monotonic(), deadline, "the agent printed nothing")
            await asyncio.sleep(0.1)
        followed: list[str] = []
        ending = None
        async with self.client.follow_logs(session.session_id, tail=2, timeout=DEADLINE) as lines:
            async for line in lines:
                followed.append(line)
                if len(followed) == 5:
                    # The stream must then end by itself, once the session has.
                    ending = asyncio.create_task(self.client.end(session.session_id))
        self.assertIsNotNone(ending, f"the log stream ended after {followed}")
        self.assertEqual((await ending).session_id, session.session_id)
        numbers = [line_number(line) for line in followed]
        self.assertGreaterEqual(len(numbers), 5)
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))), "in order, none missing")

    async def test_a_followed_log_can_be_left_early(self):
        session = await self.start(CHATTY)
        stream = await self.client.follow_logs(session.session_id, timeout=DEADLINE)
        first = await anext(stream)
        line_number(first)
        await stream.close()
        with self.assertRaises(StopAsyncIteration):
            await anext(stream)
        self.assertEqual((await self.client.get(session.session_id)).status, "running")

    async def test_events_see_the_start_and_the_end(self):
        async with self.client.events(timeout=DEADLINE) as events:
            session = await self.start()
            await self.client.end(session.session_id)
            seen = []
            async for event in events:
                if event.session_id == session.session_id:
                    seen.append(event)
                    if event.type == "session.ended":
                        break
        self.assertEqual(seen[0].type, "session.started")
        self.assertEqual(seen[0].data["pid"], session.pid)
        self.assertEqual((seen[-1].type, seen[-1].data["reason"]), ("session.ended", "deleted"))

    async def test_refused_streams_raise_when_opened(self):
        with self.assertRaises(NotFound):
            await self.client.follow_logs(new_id("missing"))
        if TOKEN:
            with self.assertRaises(Unauthorized):
                async with AsyncCorralClient(URL, "wrong-" + TOKEN).events():
                    pass


if __name__ == "__main__":
    unittest.main(verbosity=2)
