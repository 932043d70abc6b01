#!/usr/bin/env python3
"""The agent side of a LiveKit server, for tests: what a worker (corral, or LiveKit's own Python
worker) meets at ``<url>/agent``, built on LiveKit's generated protobufs (``livekit-protocol``) and
server SDK (``livekit-api``), with an HTTP control API for the test that drives it.

    python livekit_test_server.py (--port 0 | --listen-fd N) --api-key K --api-secret S [--host 127.0.0.1]
        [--availability-timeout 10] [--assignment-url ws://...] [--register-timeout 10]
        [--tls-port 0 --tls-cert CERT.pem --tls-key KEY.pem]

prints one line of JSON once it listens, ``{"event": "ready", "port": P, "url": "ws://HOST:P"}``
(``--port 0`` picks a free port), and runs until SIGTERM or SIGINT, on which it closes every
worker connection (1012 "service restart") and exits. With ``--tls-port`` the same
server also listens there with TLS (for ``wss://``), and the ready line adds ``"tls_port"`` and
``"tls_url"``; the control API stays on the plain port too. The same port can be taken
again at once by a new process (a server restart, as a test plays it). ``--listen-fd N`` serves
on a bound socket inherited as descriptor N instead of ``--port``: a test that holds it keeps
the port across a restart, where another process could take a port given up.

What it does, as LiveKit server does (pkg/service/agentservice.go, pkg/agent/worker.go):

* ``GET /agent`` must be a WebSocket upgrade (else 404) with a JWT in ``Authorization: Bearer``
  (or the ``access_token`` query parameter, which LiveKit's auth middleware also reads), HS256
  with the API secret, ``iss`` = API key, an ``exp``, and the grant ``video.agent = true``;
  anything else is refused with 401 before the upgrade.
* The worker's first frame must be ``WorkerMessage.register`` within ``--register-timeout``
  seconds; the answer is ``RegisterWorkerResponse{worker_id "AW_…", server_info}``. Frames are
  binary protobuf. Stricter than LiveKit, which would switch the connection to JSON: a text
  frame is a protocol error (recorded) and closes the connection (1003), so a worker that is
  meant to speak binary is held to it.
* A dispatched job goes to a worker registered for its agent name, namespace and job type whose
  status is ``WS_AVAILABLE``, picked at random weighted by ``max(0, 1 - load)`` (uniformly when
  every such weight is 0). It gets an ``AvailabilityRequest`` (the job's ``state`` says
  ``JS_RUNNING`` and names that worker, as LiveKit's does) and ``--availability-timeout`` seconds
  to answer. ``available=false`` or no answer: the next such worker is tried.
  ``terminate=true``: the job ends as a success, unassigned. ``available=true``: the server mints
  the room token (room join for the job's room, ``agent`` grant, kind ``agent``, 1 h, the
  identity/name/metadata/attributes of the answer, permissions from the registration; the
  attributes gain ``lk.agent.name`` and ``lk.agent_name`` (LiveKit server's own key) = the
  agent name; an empty identity becomes ``agent-<job id>``) and sends
  ``JobAssignment{job, token, url}`` (``url`` only with ``--assignment-url``).
* Every ``UpdateJobStatus`` is recorded (jobs the server never dispatched too: ``known: false``),
  ``UpdateWorkerStatus`` sets the worker's status (when present), load and job count,
  ``MigrateJobRequest`` ids are recorded (and the jobs move to that worker), ``WorkerPing`` is
  answered with ``WorkerPong``. ``simulate_job`` is only recorded.

Control API, JSON over HTTP on the same port (errors are ``{"error": "..."}`` with 400/404/409):

  GET  /control/state        everything below in one object:
                             {"workers", "jobs", "migrations", "refused", "protocol_errors",
                             "abandoned" (connections the worker closed before its register),
                             "config"}
  GET  /control/workers      {"workers": [{"id", "agent_name", "namespace", "job_type", "version",
                             "deployment", "status" ("WS_AVAILABLE"|"WS_FULL"), "load", "job_count",
                             "connected", "auth_via" ("header"|"query"), "registered_at",
                             "disconnected_at", "status_updates", "pings", "permissions"}]}
                             (times are Unix seconds; status_updates counts UpdateWorkerStatus)
  POST /control/dispatch     body {"room": str (required), "agent_name"?: str, "job_type"?:
                             "room"|"publisher"|"participant" (default "room"), "metadata"?: str,
                             "namespace"?: str, "attributes"?: {str: str}, "participant"?:
                             {"identity" (required), "name"?, "sid"?, "metadata"?} (required
                             for publisher and participant jobs)}; answers when the job is
                             settled: {"job_id", "worker_id" (null when no worker took it),
                             "outcome": "assigned"|"no_worker"|"terminated", "offers": [...],
                             "token" (the room token sent, or null)}
  POST /control/dispatch_batch   body {"jobs": [dispatch body, ...]}: every job dispatched at
                             once (all validated first; none waits for another's answer);
                             answers when all are settled: {"jobs": [{"job_id", "worker_id",
                             "outcome", "offers"}, ...]} in the order given
  GET  /control/jobs         {"jobs": [job, ...]} in dispatch order; ``?ids=A,B`` only those
  GET  /control/jobs/ID      one job: {"id", "known", "agent_name", "room", "room_sid",
                             "job_type", "metadata", "participant_identity", "dispatch_id",
                             "worker_id", "dispatched_at" (Unix seconds the server took the
                             dispatch; null when unknown), "outcome" ("pending"|"assigned"|"no_worker"|
                             "terminated"|"unknown"), "offers": [{"worker_id", "answer":
                             "available"|"unavailable"|"terminate"|"timeout"|"disconnected"}],
                             "participant": {"identity", "name", "metadata", "attributes"} (what
                             the worker accepted with), "statuses": [{"status": "JS_RUNNING"|...,
                             "error", "worker_id", "at"}] (the worker's UpdateJobStatus, in
                             order), "status" (the last one, or null), "terminations_sent"}
  POST /control/jobs/ID/terminate   sends JobTermination{job_id} to the job's worker (before
                             its assignment, to the worker that accepted it; the assignment then
                             never goes and the job's outcome is "terminated"):
                             {"job_id", "worker_id"}; 404 unknown job, 409 no connected worker
  GET  /control/migrations   {"migrations": [{"worker_id", "job_ids", "at"}], "job_ids": [...]}
  POST /control/disconnect   body {"abrupt"?: bool}: closes every worker connection (a close
                             frame 1012 "service restart", or with abrupt the TCP connection is
                             dropped without one); {"disconnected": n}
  POST /control/config       body {"availability_timeout"?: seconds, "assignment_url"?: str|null,
                             "assignment_delay"?: seconds, "offer_to_full_workers"?: bool,
                             "terminate_on_assignment"?: bool, "repeat_offers"?: bool}:
                             changes those for later dispatches; answers the config.
                             ``assignment_delay`` holds each JobAssignment back that long after
                             the worker accepted (a slow server: the accepted job waits for its
                             assignment); ``offer_to_full_workers`` offers jobs to any worker
                             of the agent name, at random, whatever status and load it
                             reported (as if its updates were still on their way), so that the
                             worker's own answer is what decides;
                             ``terminate_on_assignment`` sends a JobTermination right behind
                             each JobAssignment (a room that closes as its agent arrives);
                             ``repeat_offers`` asks a worker that accepted a job once more, as
                             a server that lost the first answer (a dropped connection) would,
                             and goes by the second answer
  GET  /                     "OK" (LiveKit's health check)
"""

import argparse
import asyncio
import datetime
import random
import secrets
import ssl
import string
import sys
import time

from aiohttp import WSMsgType, web
from google.protobuf import json_format
from livekit import api
from livekit.protocol import agent, models

import fixture_server

JOB_TYPES = {"room": agent.JT_ROOM, "publisher": agent.JT_PUBLISHER, "participant": agent.JT_PARTICIPANT}
SERVER_VERSION = "corral-test-1.0.0"
AGENT_PROTOCOL = 1
# LiveKit's Python SDK sets lk.agent.name itself; LiveKit server adds lk.agent_name.
AGENT_NAME_ATTRIBUTES = ("lk.agent.name", "lk.agent_name")


def new_id(prefix):
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(12))


class Refused(Exception):
    """A control request the server cannot carry out: answered with ``status`` and the message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Worker:
    """One registered worker connection."""

    def __init__(self, ws, request, register, auth_via):
        self.id = new_id("AW_")
        self.ws = ws
        self.request = request
        self.agent_name = register.agent_name
        self.namespace = register.namespace if register.HasField("namespace") else ""
        self.job_type = register.type
        self.version = register.version
        self.deployment = register.deployment
        if register.HasField("allowed_permissions"):
            self.permissions = register.allowed_permissions
        else:
            # LiveKit's default when a worker names none.
            self.permissions = models.ParticipantPermission(
                can_subscribe=True, can_publish=True, can_publish_data=True, can_update_metadata=True
            )
        self.auth_via = auth_via
        self.status = agent.WS_AVAILABLE
        self.load = 0.0
        self.job_count = 0
        self.connected = True
        self.registered_at = time.time()
        self.disconnected_at = None
        self.status_updates = 0
        self.pings = 0
        self.pending = {}  # job id -> future of its AvailabilityResponse (None: connection closed)
        self.send_lock = asyncio.Lock()

    async def send(self, message):
        async with self.send_lock:
            await self.ws.send_bytes(message.SerializeToString())

    def serves(self, job):
        return (
            self.connected
            and self.agent_name == job.agent_name
            and self.namespace == job.namespace
            and self.job_type == job.type
        )

    def describe(self):
        return {
            "id": self.id,
            "agent_name": self.agent_name,
            "namespace": self.namespace,
            "job_type": agent.JobType.Name(self.job_type),
            "version": self.version,
            "deployment": self.deployment,
            "status": agent.WorkerStatus.Name(self.status),
            "load": self.load,
            "job_count": self.job_count,
            "connected": self.connected,
            "auth_via": self.auth_via,
            "registered_at": self.registered_at,
            "disconnected_at": self.disconnected_at,
            "status_updates": self.status_updates,
            "pings": self.pings,
            "permissions": json_format.MessageToDict(self.permissions, preserving_proto_field_name=True),
        }


class Job:
    """A job the server dispatched, or one a worker reported that it never saw (``known`` False)."""

    def __init__(self, message, known=True):
        self.message = message
        self.known = known
        self.worker_id = None
        self.outcome = "pending" if known else "unknown"
        self.offers = []
        # When the server took the dispatch (Unix seconds; None for a job it never dispatched).
        self.dispatched_at = time.time() if known else None
        self.participant = None
        self.token = None
        self.statuses = []
        self.terminations_sent = 0
        # Terminated after a worker accepted it and before its assignment went out: the
        # assignment never goes.
        self.cancelled = False

    def describe(self):
        job = self.message
        return {
            "id": job.id,
            "known": self.known,
            "agent_name": job.agent_name,
            "room": job.room.name,
            "room_sid": job.room.sid,
            "job_type": agent.JobType.Name(job.type),
            "metadata": job.metadata,
            "participant_identity": job.participant.identity if job.HasField("participant") else None,
            "dispatch_id": job.dispatch_id,
            "worker_id": self.worker_id,
            "dispatched_at": self.dispatched_at,
            "outcome": self.outcome,
            "offers": list(self.offers),
            "participant": self.participant,
            "statuses": list(self.statuses),
            "status": self.statuses[-1]["status"] if self.statuses else None,
            "terminations_sent": self.terminations_sent,
        }


class TestLiveKitServer:
    def __init__(self, api_key, api_secret, availability_timeout=10.0, register_timeout=10.0, assignment_url=None):
        self.api_key = api_key
        self.api_secret = api_secret
        self.availability_timeout = availability_timeout
        self.register_timeout = register_timeout
        self.assignment_url = assignment_url
        self.assignment_delay = 0.0
        self.offer_to_full_workers = False
        self.terminate_on_assignment = False
        self.repeat_offers = False
        self.workers = {}
        self.jobs = {}
        self.migrations = []
        self.refused = []
        self.protocol_errors = []
        # Connections closed by the worker before its register.
        self.abandoned = []

    # The worker side: /agent

    def authenticate(self, request):
        """The claims of the request's token, or raises HTTPUnauthorized, as LiveKit does."""
        header = request.headers.get("Authorization", "")
        token, via = None, None
        if header.startswith("Bearer "):
            token, via = header[len("Bearer "):].strip(), "header"
        elif request.query.get("access_token"):
            token, via = request.query["access_token"], "query"
        if not token:
            self.refuse("no token")
        try:
            claims = api.TokenVerifier(self.api_key, self.api_secret).verify(token)
        except Exception as error:  # noqa: BLE001 - every way a token can be wrong is a 401
            self.refuse("token not accepted: %s" % error)
        if not claims.video or claims.video.agent is not True:
            self.refuse("the token has no video.agent grant")
        return via

    def refuse(self, reason):
        self.refused.append({"reason": reason, "at": time.time()})
        raise web.HTTPUnauthorized(text=reason)

    def protocol_error(self, worker_id, error):
        self.protocol_errors.append({"worker_id": worker_id, "error": error, "at": time.time()})

    async def handle_agent(self, request):
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade:
            raise web.HTTPNotFound()
        auth_via = self.authenticate(request)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        register = await self.read_register(ws)
        if register is None:
            await ws.close(code=1002, message=b"expected register")
            return ws
        worker = Worker(ws, request, register, auth_via)
        self.workers[worker.id] = worker
        server_info = models.ServerInfo(
            edition=models.ServerInfo.Standard,
            version=SERVER_VERSION,
            protocol=16,
            agent_protocol=AGENT_PROTOCOL,
            region="local",
            node_id="ND_corraltest",
        )
        await worker.send(agent.ServerMessage(register=agent.RegisterWorkerResponse(worker_id=worker.id, server_info=server_info)))
        try:
            await self.serve_worker(worker)
        finally:
            worker.connected = False
            worker.disconnected_at = time.time()
            for future in worker.pending.values():
                if not future.done():
                    future.set_result(None)
        return ws

    async def read_register(self, ws):
        try:
            frame = await ws.receive(timeout=self.register_timeout)
        except asyncio.TimeoutError:
            self.protocol_error(None, "no register within %g s" % self.register_timeout)
            return None
        if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            # The worker gave up on this attempt (its own deadline) before registering: not a
            # protocol error, but worth seeing.
            self.abandoned.append({"at": time.time()})
            return None
        if frame.type != WSMsgType.BINARY:
            self.protocol_error(None, "first frame is %s, not a binary register" % frame.type.name)
            return None
        message = agent.WorkerMessage()
        try:
            message.ParseFromString(frame.data)
        except Exception as error:  # noqa: BLE001
            self.protocol_error(None, "first frame does not parse: %s" % error)
            return None
        if message.WhichOneof("message") != "register":
            self.protocol_error(None, "first message is %s, not register" % message.WhichOneof("message"))
            return None
        if message.register.type not in JOB_TYPES.values():
            self.protocol_error(None, "register names an unknown job type %d" % message.register.type)
            return None
        return message.register

    async def serve_worker(self, worker):
        async for frame in worker.ws:
            if frame.type == WSMsgType.TEXT:
                self.protocol_error(worker.id, "text frame: %r" % frame.data[:200])
                await worker.ws.close(code=1003, message=b"binary protobuf frames only")
                return
            if frame.type != WSMsgType.BINARY:
                continue
            message = agent.WorkerMessage()
            try:
                message.ParseFromString(frame.data)
            except Exception as error:  # noqa: BLE001
                self.protocol_error(worker.id, "frame does not parse: %s" % error)
                continue
            await self.handle_worker_message(worker, message)

    async def handle_worker_message(self, worker, message):
        kind = message.WhichOneof("message")
        if kind == "availability":
            answer = message.availability
            future = worker.pending.get(answer.job_id)
            if future is None or future.done():
                self.protocol_error(worker.id, "availability answer for a job not offered to it: %s" % answer.job_id)
            else:
                future.set_result(answer)
        elif kind == "update_job":
            update = message.update_job
            job = self.jobs.get(update.job_id)
            if job is None:
                job = Job(agent.Job(id=update.job_id), known=False)
                self.jobs[update.job_id] = job
            job.statuses.append({
                "status": agent.JobStatus.Name(update.status),
                "error": update.error,
                "worker_id": worker.id,
                "at": time.time(),
            })
        elif kind == "update_worker":
            update = message.update_worker
            if update.HasField("status"):
                worker.status = update.status
            worker.load = update.load
            worker.job_count = update.job_count
            worker.status_updates += 1
        elif kind == "ping":
            worker.pings += 1
            now = int(time.time() * 1000)
            await worker.send(agent.ServerMessage(pong=agent.WorkerPong(last_timestamp=message.ping.timestamp, timestamp=now)))
        elif kind == "migrate_job":
            job_ids = list(message.migrate_job.job_ids)
            self.migrations.append({"worker_id": worker.id, "job_ids": job_ids, "at": time.time()})
            for job_id in job_ids:
                if job_id in self.jobs:
                    self.jobs[job_id].worker_id = worker.id
        elif kind == "simulate_job":
            self.protocol_error(worker.id, "simulate_job is recorded only")
        elif kind == "register":
            self.protocol_error(worker.id, "register again on a registered connection")
        else:
            self.protocol_error(worker.id, "empty or unknown message")

    # Dispatch

    def choose(self, job, tried):
        candidates = [
            w for w in self.workers.values()
            if w.serves(job) and (w.status == agent.WS_AVAILABLE or self.offer_to_full_workers) and w.id not in tried
        ]
        if not candidates:
            return None
        if self.offer_to_full_workers:
            return random.choice(candidates)
        weights = [max(0.0, 1.0 - w.load) for w in candidates]
        if sum(weights) <= 0:
            return random.choice(candidates)
        return random.choices(candidates, weights=weights)[0]

    async def dispatch_batch(self, job_messages):
        """Dispatches every job at once (each offered as soon as it is taken, none waiting for
        another's answer); the jobs, in the order given."""
        return await asyncio.gather(*(self.dispatch(message) for message in job_messages))

    async def dispatch(self, job_message):
        job = Job(job_message)
        self.jobs[job_message.id] = job
        tried = set()
        while True:
            worker = self.choose(job_message, tried)
            if worker is None:
                job.outcome = "no_worker"
                return job
            tried.add(worker.id)
            answer = await self.offer(job, worker)
            if answer == "terminate":
                job.outcome = "terminated"
                return job
            if answer == "assigned":
                return job

    async def offer(self, job, worker):
        offered = agent.Job()
        offered.CopyFrom(job.message)
        now = time.time_ns()
        offered.state.status = agent.JS_RUNNING
        offered.state.worker_id = worker.id
        offered.state.started_at = now
        offered.state.updated_at = now
        for ask in range(2 if self.repeat_offers else 1):
            record = {"worker_id": worker.id, "answer": None}
            job.offers.append(record)
            answer = await self.ask(worker, offered)
            if isinstance(answer, str):
                record["answer"] = answer
                return answer
            if answer.terminate or not answer.available:
                break
            record["answer"] = "available"  # with repeat_offers, asked again as if this was lost
        if answer.terminate:
            record["answer"] = "terminate"
            return "terminate"
        if not answer.available:
            record["answer"] = "unavailable"
            return "unavailable"
        record["answer"] = "available"
        if self.assignment_delay > 0:
            await asyncio.sleep(self.assignment_delay)
        if job.cancelled:
            return "terminate"
        identity = answer.participant_identity or "agent-" + offered.id
        attributes = dict(answer.participant_attributes)
        for key in AGENT_NAME_ATTRIBUTES:
            attributes[key] = worker.agent_name
        token = self.room_token(offered.room.name, identity, answer, attributes, worker.permissions)
        offered.state.participant_identity = identity
        assignment = agent.JobAssignment(job=offered, token=token)
        if self.assignment_url:
            assignment.url = self.assignment_url
        try:
            await worker.send(agent.ServerMessage(assignment=assignment))
        except ConnectionError:
            record["answer"] = "disconnected"
            return "disconnected"
        job.message = offered
        job.worker_id = worker.id
        job.outcome = "assigned"
        job.token = token
        job.participant = {
            "identity": identity,
            "name": answer.participant_name,
            "metadata": answer.participant_metadata,
            "attributes": attributes,
        }
        if self.terminate_on_assignment:
            try:
                await worker.send(agent.ServerMessage(termination=agent.JobTermination(job_id=offered.id)))
                job.terminations_sent += 1
            except ConnectionError:
                pass
        return "assigned"

    async def ask(self, worker, offered):
        """Sends the AvailabilityRequest; the worker's answer, or "timeout" or "disconnected"."""
        future = asyncio.get_running_loop().create_future()
        worker.pending[offered.id] = future
        try:
            await worker.send(agent.ServerMessage(availability=agent.AvailabilityRequest(job=offered)))
            answer = await asyncio.wait_for(future, self.availability_timeout)
        except asyncio.TimeoutError:
            return "timeout"
        except ConnectionError:
            answer = None
        finally:
            worker.pending.pop(offered.id, None)
        return "disconnected" if answer is None else answer

    def room_token(self, room, identity, answer, attributes, permissions):
        grants = api.VideoGrants(
            room_join=True,
            agent=True,
            room=room,
            can_subscribe=permissions.can_subscribe,
            can_publish=permissions.can_publish,
            can_publish_data=permissions.can_publish_data,
            hidden=permissions.hidden,
            can_update_own_metadata=permissions.can_update_metadata,
        )
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_name(answer.participant_name)
            .with_metadata(answer.participant_metadata)
            .with_attributes(attributes)
            .with_kind("agent")
            .with_grants(grants)
            .with_ttl(datetime.timedelta(hours=1))
            .to_jwt()
        )

    async def terminate(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise Refused(404, "no job %s" % job_id)
        worker_id = job.worker_id
        if worker_id is None and job.outcome == "pending":
            # Accepted, its assignment held back: the worker that accepted it is told.
            worker_id = next((o["worker_id"] for o in reversed(job.offers) if o["answer"] == "available"), None)
            job.cancelled = worker_id is not None
        worker = self.workers.get(worker_id) if worker_id else None
        if worker is None or not worker.connected:
            raise Refused(409, "job %s has no connected worker" % job_id)
        try:
            await worker.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job_id)))
        except ConnectionError as error:
            raise Refused(409, "job %s: its worker's connection failed: %s" % (job_id, error))
        job.terminations_sent += 1
        return {"job_id": job_id, "worker_id": worker.id}

    async def disconnect_all(self, abrupt):
        connected = [w for w in self.workers.values() if w.connected]
        for worker in connected:
            if abrupt:
                transport = worker.request.transport
                if transport is not None:
                    transport.abort()
            else:
                await worker.ws.close(code=1012, message=b"service restart")
        return len(connected)

    def config(self):
        return {
            "availability_timeout": self.availability_timeout,
            "register_timeout": self.register_timeout,
            "assignment_url": self.assignment_url,
            "assignment_delay": self.assignment_delay,
            "offer_to_full_workers": self.offer_to_full_workers,
            "terminate_on_assignment": self.terminate_on_assignment,
            "repeat_offers": self.repeat_offers,
        }


def job_from_request(body):
    """The Job message a dispatch request describes, or raises Refused(400)."""
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    unknown = set(body) - {"room", "agent_name", "job_type", "metadata", "namespace", "attributes", "participant"}
    if unknown:
        raise Refused(400, "unknown fields: %s" % ", ".join(sorted(unknown)))
    room = body.get("room")
    if not isinstance(room, str) or not room:
        raise Refused(400, "room (a non-empty string) is required")
    job_type = body.get("job_type", "room")
    if job_type not in JOB_TYPES:
        raise Refused(400, "job_type must be one of %s" % ", ".join(JOB_TYPES))
    for field in ("agent_name", "metadata", "namespace"):
        if not isinstance(body.get(field, ""), str):
            raise Refused(400, "%s must be a string" % field)
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
        raise Refused(400, "attributes must map strings to strings")
    job = agent.Job(
        id=new_id("AJ_"),
        dispatch_id=new_id("AD_"),
        type=JOB_TYPES[job_type],
        room=models.Room(sid=new_id("RM_"), name=room, creation_time=int(time.time())),
        namespace=body.get("namespace", ""),
        metadata=body.get("metadata", ""),
        agent_name=body.get("agent_name", ""),
        attributes=attributes,
    )
    job.state.status = agent.JS_PENDING
    job.state.updated_at = time.time_ns()
    participant = body.get("participant")
    if participant is not None:
        if not isinstance(participant, dict) or not isinstance(participant.get("identity"), str) or not participant["identity"]:
            raise Refused(400, "participant must be an object with a non-empty identity")
        job.participant.CopyFrom(models.ParticipantInfo(
            sid=str(participant.get("sid") or new_id("PA_")),
            identity=participant["identity"],
            name=str(participant.get("name", "")),
            metadata=str(participant.get("metadata", "")),
            state=models.ParticipantInfo.ACTIVE,
        ))
    elif job_type != "room":
        raise Refused(400, "a %s job needs a participant" % job_type)
    return job


def build_app(server):
    def answer(value, status=200):
        return web.json_response(value, status=status)

    def guarded(handler):
        async def run(request):
            try:
                return await handler(request)
            except Refused as refused:
                return answer({"error": str(refused)}, refused.status)
        return run

    async def body_of(request):
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError as error:
            raise Refused(400, "the body is not JSON: %s" % error)
        if not isinstance(body, dict):
            raise Refused(400, "the body must be a JSON object")
        return body

    async def state(_):
        return answer({
            "workers": [w.describe() for w in server.workers.values()],
            "jobs": [j.describe() for j in server.jobs.values()],
            "migrations": server.migrations,
            "refused": server.refused,
            "protocol_errors": server.protocol_errors,
            "abandoned": server.abandoned,
            "config": server.config(),
        })

    async def workers(_):
        return answer({"workers": [w.describe() for w in server.workers.values()]})

    async def dispatch(request):
        job = await server.dispatch(job_from_request(await body_of(request)))
        return answer({
            "job_id": job.message.id,
            "worker_id": job.worker_id,
            "outcome": job.outcome,
            "offers": job.offers,
            "token": job.token,
        })

    async def dispatch_batch(request):
        body = await body_of(request)
        unknown = set(body) - {"jobs"}
        if unknown:
            raise Refused(400, "unknown fields: %s" % ", ".join(sorted(unknown)))
        bodies = body.get("jobs")
        if not isinstance(bodies, list) or not bodies:
            raise Refused(400, "jobs (a non-empty list of dispatch bodies) is required")
        messages = []
        for index, each in enumerate(bodies):
            try:
                messages.append(job_from_request(each))
            except Refused as refused:
                raise Refused(400, "jobs[%d]: %s" % (index, refused))
        dispatched = await server.dispatch_batch(messages)
        return answer({"jobs": [
            {"job_id": job.message.id, "worker_id": job.worker_id, "outcome": job.outcome, "offers": job.offers}
            for job in dispatched
        ]})

    async def jobs(request):
        described = [j.describe() for j in server.jobs.values()]
        wanted = request.query.get("ids")
        if wanted is not None:
            ids = set(wanted.split(","))
            described = [j for j in described if j["id"] in ids]
        return answer({"jobs": described})

    async def job(request):
        found = server.jobs.get(request.match_info["id"])
        if found is None:
            raise Refused(404, "no job %s" % request.match_info["id"])
        return answer(found.describe())

    async def terminate(request):
        return answer(await server.terminate(request.match_info["id"]))

    async def migrations(_):
        return answer({
            "migrations": server.migrations,
            "job_ids": [job_id for m in server.migrations for job_id in m["job_ids"]],
        })

    async def disconnect(request):
        body = await body_of(request)
        return answer({"disconnected": await server.disconnect_all(bool(body.get("abrupt", False)))})

    async def configure(request):
        body = await body_of(request)
        if "availability_timeout" in body:
            timeout = body["availability_timeout"]
            if not isinstance(timeout, (int, float)) or timeout <= 0:
                raise Refused(400, "availability_timeout must be a positive number of seconds")
            server.availability_timeout = float(timeout)
        if "assignment_url" in body:
            if body["assignment_url"] is not None and not isinstance(body["assignment_url"], str):
                raise Refused(400, "assignment_url must be a string or null")
            server.assignment_url = body["assignment_url"] or None
        if "assignment_delay" in body:
            delay = body["assignment_delay"]
            if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
                raise Refused(400, "assignment_delay must be a number of seconds, 0 or more")
            server.assignment_delay = float(delay)
        if "offer_to_full_workers" in body:
            if not isinstance(body["offer_to_full_workers"], bool):
                raise Refused(400, "offer_to_full_workers must be true or false")
            server.offer_to_full_workers = body["offer_to_full_workers"]
        if "terminate_on_assignment" in body:
            if not isinstance(body["terminate_on_assignment"], bool):
                raise Refused(400, "terminate_on_assignment must be true or false")
            server.terminate_on_assignment = body["terminate_on_assignment"]
        if "repeat_offers" in body:
            if not isinstance(body["repeat_offers"], bool):
                raise Refused(400, "repeat_offers must be true or false")
            server.repeat_offers = body["repeat_offers"]
        return answer(server.config())

    async def health(_):
        return web.Response(text="OK")

    app = web.Application()
    app.add_routes([
        web.get("/agent", server.handle_agent),
        web.get("/", health),
        web.get("/control/state", guarded(state)),
        web.get("/control/workers", guarded(workers)),
        web.post("/control/dispatch", guarded(dispatch)),
        web.post("/control/dispatch_batch", guarded(dispatch_batch)),
        web.get("/control/jobs", guarded(jobs)),
        web.get("/control/jobs/{id}", guarded(job)),
        web.post("/control/jobs/{id}/terminate", guarded(terminate)),
        web.get("/control/migrations", guarded(migrations)),
        web.post("/control/disconnect", guarded(disconnect)),
        web.post("/control/config", guarded(configure)),
    ])
    return app


async def start(server, host, port, tls_port=None, tls_context=None, listen_fd=None):
    """Starts serving; returns the runner, the port it listens on and the TLS port (or None)."""
    runner = web.AppRunner(build_app(server), handle_signals=False, access_log=None)
    await runner.setup()
    bound = await fixture_server.listen(runner, host, port, fd=listen_fd)
    tls_bound = None
    if tls_context is not None:
        tls_bound = await fixture_server.listen(runner, host, tls_port or 0, ssl_context=tls_context)
    return runner, bound, tls_bound


async def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    fixture_server.add_port_arguments(parser)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--availability-timeout", type=float, default=10.0)
    parser.add_argument("--register-timeout", type=float, default=10.0)
    parser.add_argument("--assignment-url", default=None)
    parser.add_argument("--tls-port", type=int, default=None)
    parser.add_argument("--tls-cert", default=None)
    parser.add_argument("--tls-key", default=None)
    arguments = parser.parse_args(argv)
    server = TestLiveKitServer(
        arguments.api_key,
        arguments.api_secret,
        availability_timeout=arguments.availability_timeout,
        register_timeout=arguments.register_timeout,
        assignment_url=arguments.assignment_url,
    )
    tls_context = None
    if arguments.tls_port is not None:
        if not arguments.tls_cert or not arguments.tls_key:
            parser.error("--tls-port needs --tls-cert and --tls-key")
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    runner, port, tls_port = await start(server, arguments.host, arguments.port, arguments.tls_port, tls_context, arguments.listen_fd)
    tls = {} if tls_port is None else {"tls_port": tls_port, "tls_url": "wss://%s:%d" % (arguments.host, tls_port)}
    fixture_server.say_ready(arguments.host, port, **tls)
    await fixture_server.stopped()
    # Workers are told first (1012 "service restart"), as a restarting LiveKit server does:
    # aiohttp's cleanup would otherwise wait up to a minute for their handlers to end.
    await server.disconnect_all(abrupt=False)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
