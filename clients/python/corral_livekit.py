"""Runs an unchanged livekit-agents ``entrypoint(ctx: JobContext)`` as a job under corral.

When corral is the LiveKit agent worker, it runs each job LiveKit assigns as a session of its own:
a process in its own kernel session, process group and cgroup, ended by corral. This module is
that process's main: it does what LiveKit's own job process does (``livekit.agents.ipc``'s
``job_proc_lazy_main``), with corral in place of LiveKit's worker.

    from livekit.agents import JobContext, JobProcess
    import corral_livekit

    def prewarm(proc: JobProcess):
        proc.userdata["vad"] = silero.VAD.load()

    async def entrypoint(ctx: JobContext):
        await ctx.connect()
        ...

    if __name__ == "__main__":
        corral_livekit.run(entrypoint, prewarm=prewarm)

What happens:

1. ``prewarm(proc)`` runs first, with the ``JobProcess`` the entrypoint later sees as
   ``ctx.proc`` (``proc.userdata`` carries what it loaded), then any inference runners
   livekit-agents plugins registered are initialized (LiveKit's worker runs them in a process of
   their own; here they run in this process, on a thread pool).
   livekit-agents' own warm-up (``ipc._preload``) runs before ``prewarm``; in a process of its
   own, as here, it also loads the local VAD and end-of-turn models: about 250 MB more resident
   memory per agent (measured with 1.8.9: 380 MB against 130 MB at READY=1). LiveKit's worker
   loads them once in its forkserver and shares them; corral's agents share nothing, so set
   ``LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0`` in the profile's ``env`` if the agent does not
   use them (a model used later loads on first use).
2. ``READY=1`` goes to corral (``$NOTIFY_SOCKET``). A prewarmed agent then waits for corral to hand
   it a job (``clients/python/corral_agent.py``: the assignment's ``env`` is put into
   ``os.environ`` and acknowledged); started cold, the job is already in the environment.
3. The job's ``JobContext`` is built from that environment as LiveKit's worker builds its
   ``RunningJobInfo``: ``LIVEKIT_JOB`` (the ``livekit.agent.Job`` message, protobuf's JSON
   mapping), ``LIVEKIT_URL`` (the URL ``ctx.connect()`` joins), ``LIVEKIT_TOKEN`` (the room token
   from the server's JobAssignment; the participant's identity, name, metadata and attributes,
   the worker's accept arguments, are read back from its claims), ``LIVEKIT_WORKER_ID`` if corral
   gives one, else the worker named in the job's state. Without ``LIVEKIT_JOB`` (a corral
   session started for a room by ``POST /api/sessions``) a job is made from ``LIVEKIT_JOB_ID`` or
   ``CORRAL_SESSION_ID``, ``LIVEKIT_ROOM`` and ``LIVEKIT_AGENT_NAME``.
4. The entrypoint runs; the job lasts until it calls ``ctx.shutdown()``, the room disconnects,
   or corral sends SIGTERM (or SIGINT), which starts LiveKit's own shutdown sequence: the
   entrypoint gets 15 s to return, then the AgentSession closes, ``on_session_end`` runs, the
   room is left and the shutdown callbacks run. ``STOPPING=1`` tells corral it has begun. Give the
   profile a ``grace_seconds`` that covers this; corral SIGKILLs the whole group after it.
5. The process exits 0, or 1 if the entrypoint raised (corral then reports the job failed;
   LiveKit's job process would exit 0 either way).

Not given to a job by corral, deliberately: the API key and secret. ``ctx.api`` (and
``ctx.delete_room()``, SIP transfers, ...) needs ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``
in the profile's ``env`` if the agent uses them.

Tested with livekit-agents 1.8.9 (livekit 1.1.21, livekit-api 1.2.2, livekit-protocol 1.1.29; see
``Tests/Fixtures/livekit-requirements.txt``). It relies on these livekit-agents internals, which
are not public API and may change in another version (check them when changing the pin):

* ``livekit.agents.ipc.job_proc_lazy_main._JobProc``: the job process's runner. Its constructor
  ``(initialize_process_fnc, job_entrypoint_fnc, session_end_fnc, *, session_end_timeout,
  executor_type)``; ``initialize(InitializeRequest, client)``, which makes the ``JobProcess``,
  imports ``ipc._preload`` (the framework's warm-up) and calls the prewarm function;
  ``entrypoint(channel)``, which reads ``StartJobRequest``/``ShutdownRequest``/
  ``InferenceResponse`` from an ``utils.aio.Chan`` and returns when the job is over; and
  ``client.send(message)``, through which it reports ``ShutdownRequestAck``, ``ShuttingDown``,
  ``Exiting`` and asks for ``InferenceRequest``.
* ``livekit.agents.ipc.proto``: those message classes and their fields.
* ``livekit.agents.job``: ``RunningJobInfo``, ``JobAcceptArguments``, ``JobExecutorType``.
* ``livekit.agents.inference_runner._InferenceRunner.registered_runners`` (name -> class with
  ``initialize()`` and ``run(bytes)``).
* ``livekit.agents.utils.http_context._set_default_cert_env`` (certifi when the system has no CA
  store, as LiveKit's worker sets before starting job processes) and, if present,
  ``livekit.agents.telemetry.loop_monitor`` (warnings about a blocked event loop).
"""

import asyncio
import concurrent.futures
import logging
import os
import signal
import sys

import corral_agent

TESTED_LIVEKIT_AGENTS = "1.8.9"

__all__ = ["run", "serve", "running_job_info", "TESTED_LIVEKIT_AGENTS"]

logger = logging.getLogger("corral_livekit")


def run(entrypoint, prewarm=None, *, on_session_end=None, session_end_timeout=300.0):
    """Runs one job (see the module's docstring) and exits with its status."""
    sys.exit(serve(entrypoint, prewarm, on_session_end=on_session_end, session_end_timeout=session_end_timeout))


def serve(entrypoint, prewarm=None, *, on_session_end=None, session_end_timeout=300.0):
    """Runs one job and returns the process's exit status (0, or 1 if the entrypoint raised)."""
    from livekit.agents.ipc import proto
    from livekit.agents.ipc.job_proc_lazy_main import _JobProc
    from livekit.agents.job import JobExecutorType
    from livekit.agents.utils import http_context

    _configure_logging()
    http_context._set_default_cert_env()
    outcome = _Outcome()
    job_proc = _JobProc(
        prewarm or _no_prewarm,
        outcome.watch(entrypoint),
        on_session_end,
        session_end_timeout=session_end_timeout,
        executor_type=JobExecutorType.PROCESS,
    )
    client = _CorralClient()
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("HTTP_PROXY") or ""
    job_proc.initialize(proto.InitializeRequest(http_proxy=proxy), client)
    runners = _InferenceRunners()

    corral_agent.ready("prewarmed" if corral_agent.prewarmed() else "loaded")
    try:
        assignment = corral_agent.wait_for_assignment()
    except ConnectionError as error:
        logger.info("no job: %s", error)
        return 0
    info = running_job_info(os.environ)
    logger.info("job %s in room %s (corral session %s)", info.job.id, info.job.room.name, assignment.session_id)
    corral_agent.status("job %s in room %s" % (info.job.id, info.job.room.name))
    asyncio.run(_run_job(job_proc, client, runners, info))
    return 1 if outcome.crashed else 0


def running_job_info(environ):
    """The ``RunningJobInfo`` LiveKit's worker would hand its job process, from corral's
    variables (see the module's docstring). Raises ValueError naming a missing variable."""
    from google.protobuf import json_format
    from livekit import api
    from livekit.agents.job import JobAcceptArguments, RunningJobInfo
    from livekit.protocol import agent

    for name in ("LIVEKIT_URL", "LIVEKIT_TOKEN"):
        if not environ.get(name):
            raise ValueError("%s is not set: corral gives it to a LiveKit job (is the profile a LiveKit one?)" % name)
    job = agent.Job()
    if environ.get("LIVEKIT_JOB"):
        json_format.Parse(environ["LIVEKIT_JOB"], job, ignore_unknown_fields=True)
    else:
        if not environ.get("LIVEKIT_ROOM"):
            raise ValueError("neither LIVEKIT_JOB nor LIVEKIT_ROOM is set: there is no job to run")
        job.id = environ.get("LIVEKIT_JOB_ID") or environ.get("CORRAL_SESSION_ID", "")
        job.room.name = environ["LIVEKIT_ROOM"]
        job.agent_name = environ.get("LIVEKIT_AGENT_NAME", "")
    token = environ["LIVEKIT_TOKEN"]
    # As JobContext.token_claims() reads it: the server signed it, the job only looks.
    claims = api.TokenVerifier().verify(token, verify_signature=False)
    accepted = JobAcceptArguments(
        name=claims.name or "",
        identity=claims.identity or "",
        metadata=claims.metadata or "",
        attributes=dict(claims.attributes or {}),
    )
    return RunningJobInfo(
        accept_arguments=accepted,
        job=job,
        url=environ["LIVEKIT_URL"],
        token=token,
        worker_id=environ.get("LIVEKIT_WORKER_ID") or job.state.worker_id,
        fake_job=False,
    )


async def _run_job(job_proc, client, runners, info):
    from livekit.agents.ipc import proto
    from livekit.agents.utils import aio

    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = 0.1  # as LiveKit's job process sets it
    monitor = _loop_monitor()
    if monitor is not None:
        monitor.start_monitoring(loop, name="job")
    channel = aio.Chan()
    client.attach(channel, runners)
    stopping = []

    def stop(signum):
        if stopping:
            logger.info("%s again: the job is already shutting down", signal.Signals(signum).name)
            return
        stopping.append(signum)
        channel.send_nowait(proto.ShutdownRequest(reason="%s from corral" % signal.Signals(signum).name))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    start = proto.StartJobRequest()
    start.running_job = info
    channel.send_nowait(start)
    try:
        await job_proc.entrypoint(channel)
    finally:
        channel.close()
        runners.close()
        if monitor is not None:
            monitor.stop_monitoring(loop)


class _CorralClient:
    """Stands where LiveKit's job process has its pipe to the worker (``_ProcClient``): what the
    job reports goes to corral's notify socket or the log, inference requests to the runners."""

    def __init__(self):
        self._channel = None
        self._runners = None
        self._tasks = set()

    def attach(self, channel, runners):
        self._channel = channel
        self._runners = runners

    async def send(self, message):
        from livekit.agents.ipc import proto

        if isinstance(message, proto.ShuttingDown):
            corral_agent.stopping()
        elif isinstance(message, proto.Exiting):
            logger.info("job exiting: %s", message.reason)
        elif isinstance(message, proto.InferenceRequest):
            task = asyncio.create_task(self._infer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _infer(self, request):
        from livekit.agents.ipc import proto

        try:
            data = await self._runners.run(request.method, request.data)
            response = proto.InferenceResponse(request_id=request.request_id, data=data)
        except Exception as error:  # noqa: BLE001 - the job gets the error, as from LiveKit's executor
            logger.exception("inference %s failed", request.method)
            response = proto.InferenceResponse(request_id=request.request_id, error=str(error))
        if not self._channel.closed:
            self._channel.send_nowait(response)


class _InferenceRunners:
    """The inference runners plugins registered (LiveKit's turn detector is one), initialized
    before READY=1 and run in this process on a thread pool."""

    def __init__(self):
        from livekit.agents.inference_runner import _InferenceRunner

        self._runners = {}
        for name, runner_class in _InferenceRunner.registered_runners.items():
            runner = runner_class()
            runner.initialize()
            self._runners[name] = runner
        self._pool = None

    async def run(self, method, data):
        runner = self._runners.get(method)
        if runner is None:
            raise RuntimeError("no inference runner %r is registered in this process" % method)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="inference")
        return await asyncio.get_running_loop().run_in_executor(self._pool, runner.run, data)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class _Outcome:
    """Whether the user's entrypoint raised (its cancellation at the end of a shutdown is not a
    crash)."""

    def __init__(self):
        self.crashed = False

    def watch(self, entrypoint):
        async def watched(ctx):
            try:
                await entrypoint(ctx)
            except asyncio.CancelledError:
                raise
            except BaseException:
                self.crashed = True
                raise

        watched.__name__ = getattr(entrypoint, "__name__", "entrypoint")
        watched.__qualname__ = getattr(entrypoint, "__qualname__", watched.__name__)
        return watched


def _no_prewarm(proc):
    pass


def _loop_monitor():
    try:
        from livekit.agents.telemetry import loop_monitor
    except ImportError:
        return None
    return loop_monitor if hasattr(loop_monitor, "start_monitoring") else None


def _configure_logging():
    """Logs go to stderr, which corral keeps in the session's log, unless the agent set logging
    up itself. ``LIVEKIT_LOG_LEVEL`` sets the level (default INFO), as for LiveKit's worker."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    try:
        root.setLevel(os.environ.get("LIVEKIT_LOG_LEVEL", "INFO").upper())
    except ValueError:
        root.setLevel(logging.INFO)
