"""Runs an unchanged livekit-agents agent as corral's LiveKit jobs, and as LiveKit's own from a shell.

When corral is the LiveKit agent worker, it runs each job LiveKit assigns as a session of its own:
a process in its own kernel session, process group and cgroup, ended by corral. This module is
that process's main: it does what LiveKit's own job process does (``livekit.agents.ipc``'s
``job_proc_lazy_main``), with corral in place of LiveKit's worker.

    from livekit.agents import AgentServer, JobContext, JobProcess
    import corral_livekit

    def prewarm(proc: JobProcess):
        proc.userdata["vad"] = silero.VAD.load()

    server = AgentServer(setup_fnc=prewarm)

    @server.rtc_session(agent_name="receptionist")
    async def entrypoint(ctx: JobContext):
        await ctx.connect()
        ...

    if __name__ == "__main__":
        corral_livekit.run(server)       # or corral_livekit.run(entrypoint, prewarm=prewarm)

``run`` takes the ``AgentServer`` (or ``WorkerOptions``), or the entrypoint and ``prewarm``.
Started by corral (``CORRAL_SESSION_ID`` or ``CORRAL_TEMPLATE`` in its environment) it serves
corral; started from a shell it hands over to LiveKit's own CLI (``cli.run_app``), so
``python agent.py console|dev|start`` work from the same file. Of the AgentServer's settings,
corral uses the entrypoint, ``setup_fnc``, ``on_session_end`` and ``session_end_timeout``; the
others are corral's profile keys (docs/livekit.md has the table) and are logged once if set.

Under corral (docs/livekit.md says more):

* **As a template** (a profile with ``template``, docs/templates.md), the work split as LiveKit's
  worker splits it: livekit-agents' warm-up (``ipc._preload``, with the local models) once in the
  template, which starts no thread; the inference runners plugins registered in one inference
  process forked from it (``corral_livekit_inference.py``); and in each fork ``prewarm(proc)``
  (which may start threads) and then the job. The forks share the template's pages.
* **Prewarmed or cold** (``execve``): ``prewarm(proc)``, the runners on a thread pool of this
  process, and livekit-agents' warm-up with the local models for this process alone (about
  250 MB; ``LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=0`` in the profile's ``env`` skips them).

Then ``READY=1`` (an idle agent then waits for its job); the ``JobContext`` is built from the
environment as LiveKit's worker builds its ``RunningJobInfo`` (``LIVEKIT_JOB``, ``LIVEKIT_URL``,
``LIVEKIT_TOKEN``, whose claims give the participant's identity, name, metadata and attributes,
``LIVEKIT_WORKER_ID``; without ``LIVEKIT_JOB``, ``LIVEKIT_JOB_ID`` or ``CORRAL_SESSION_ID``,
``LIVEKIT_ROOM`` and ``LIVEKIT_AGENT_NAME``). The entrypoint runs until ``ctx.shutdown()``, the
room disconnects, or corral's SIGTERM (or SIGINT) starts LiveKit's shutdown sequence (15 s for
the entrypoint, then the session closes, ``on_session_end`` runs, the room is left;
``STOPPING=1`` tells corral; give the profile a ``grace_seconds`` that covers it). The process
exits 0, or 1 if the entrypoint raised.

Not given to a job by corral, deliberately: the API key and secret. ``ctx.api`` needs
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` in the profile's ``env`` if the agent uses it.

Tested with livekit-agents 1.8.9 (livekit 1.1.21, livekit-api 1.2.2, livekit-protocol 1.1.29; see
``Tests/Fixtures/livekit-requirements.txt``). It relies on these livekit-agents internals, which
are not public API and may change in another version (check them when changing the pin):

* ``livekit.agents.ipc.job_proc_lazy_main._JobProc``: its constructor ``(initialize_process_fnc,
  job_entrypoint_fnc, session_end_fnc, *, session_end_timeout, executor_type)``;
  ``initialize(InitializeRequest, client)``, which makes the ``JobProcess``, imports
  ``ipc._preload`` and calls the prewarm function; ``entrypoint(channel)``, which reads
  ``StartJobRequest``/``ShutdownRequest``/``InferenceResponse`` from an ``utils.aio.Chan``; and
  ``client.send(message)`` (``ShutdownRequestAck``, ``ShuttingDown``, ``Exiting``,
  ``InferenceRequest``).
* ``livekit.agents.ipc._preload`` and ``_preload_freeze`` (the forkserver's warm-up), and
  ``livekit.agents.ipc.proto``'s message classes.
* ``livekit.agents.job``: ``RunningJobInfo``, ``JobAcceptArguments``, ``JobExecutorType``.
* ``livekit.agents.inference_runner._InferenceRunner.registered_runners`` (name -> class with
  ``initialize()`` and ``run(bytes)``).
* ``AgentServer``'s attributes ``_entrypoint_fnc``, ``_session_end_fnc``,
  ``_session_end_timeout``, ``_agent_name``, ``_request_fnc``, ``_permissions``,
  ``_num_idle_processes``, ``_job_memory_limit_mb``, ``_job_executor_type``, and
  ``livekit.agents.worker``'s defaults they are compared with.
* ``livekit.agents.utils.http_context._set_default_cert_env`` and, if present,
  ``livekit.agents.telemetry.loop_monitor``.
"""

import asyncio
import logging
import os
import signal
import sys

import corral_agent
import corral_livekit_inference

TESTED_LIVEKIT_AGENTS = "1.8.9"

__all__ = ["run", "serve", "started_by_corral", "running_job_info", "TESTED_LIVEKIT_AGENTS"]

logger = logging.getLogger("corral_livekit")


def run(agent, prewarm=None, *, on_session_end=None, session_end_timeout=300.0):
    """Started by corral: serves it (see the module's docstring) and exits with the job's status.
    From a shell: LiveKit's own CLI (``cli.run_app``) with the same agent."""
    app = _App.of(agent, prewarm, on_session_end, session_end_timeout)
    if not started_by_corral():
        app.run_livekit_cli()
        return
    sys.exit(serve(app))


def serve(agent, prewarm=None, *, on_session_end=None, session_end_timeout=300.0):
    """Serves corral: as a template, never returns; else runs one job and returns the process's
    exit status (0, or 1 if the entrypoint raised)."""
    from livekit.agents.utils import http_context

    app = agent if isinstance(agent, _App) else _App.of(agent, prewarm, on_session_end, session_end_timeout)
    _configure_logging()
    app.log_settings()
    http_context._set_default_cert_env()
    if corral_agent.is_template():
        template = _Template(app)
        corral_agent.serve_template(template.warm_up, template.session, template.setup)
        return 0
    job = _Job(app, corral_livekit_inference.LocalRunners().initialize())
    job.setup()
    corral_agent.ready("prewarmed" if corral_agent.prewarmed() else "loaded")
    try:
        assignment = corral_agent.wait_for_assignment()
    except ConnectionError as error:
        logger.info("no job: %s", error)
        return 0
    return job.run(assignment)


def started_by_corral():
    """Whether corral started this process (not a shell: NOTIFY_SOCKET alone is systemd's too)."""
    return "CORRAL_SESSION_ID" in os.environ or corral_agent.is_template() or corral_agent.prewarmed()


class _App:
    """What corral runs of the user's agent: the entrypoint, ``prewarm`` (``setup_fnc``),
    ``on_session_end`` and its timeout, and the ``AgentServer`` they came from, if any."""

    def __init__(self, entrypoint, prewarm, on_session_end, session_end_timeout, server=None):
        self.entrypoint = entrypoint
        self.prewarm = prewarm
        self.on_session_end = on_session_end
        self.session_end_timeout = session_end_timeout
        self.server = server

    @classmethod
    def of(cls, agent, prewarm, on_session_end, session_end_timeout):
        from livekit.agents import AgentServer, WorkerOptions

        if isinstance(agent, WorkerOptions):
            agent = AgentServer.from_server_options(agent)
        if isinstance(agent, AgentServer):
            if prewarm is not None or on_session_end is not None:
                raise TypeError("with an AgentServer, give prewarm as its setup_fnc and on_session_end to its rtc_session()")
            if agent._entrypoint_fnc is None:
                raise ValueError("the AgentServer has no entrypoint: register one with @server.rtc_session()")
            return cls(agent._entrypoint_fnc, agent.setup_fnc, agent._session_end_fnc, agent._session_end_timeout, server=agent)
        if not callable(agent):
            raise TypeError("corral_livekit.run takes an AgentServer, WorkerOptions or an async entrypoint(ctx), not %r" % (agent,))
        return cls(agent, prewarm, on_session_end, session_end_timeout)

    def run_livekit_cli(self):
        from livekit.agents import AgentServer, cli

        server = self.server
        if server is None:
            server = AgentServer(setup_fnc=self.prewarm, session_end_timeout=self.session_end_timeout)
            server.rtc_session(self.entrypoint, on_session_end=self.on_session_end)
        cli.run_app(server)

    def log_settings(self):
        """Logs each AgentServer setting that corral's profile decides instead (docs/livekit.md)."""
        from livekit.agents import worker
        from livekit.agents.job import JobExecutorType

        server = self.server
        if server is None:
            return
        notes = []
        if server._request_fnc not in (None, worker._default_request_fnc):
            notes.append("request_fnc is not called: corral accepts every job offered while below livekit_worker.max_jobs")
        if server.load_fnc not in (None, worker._DefaultLoadCalc.get_load):
            notes.append("load_fnc is not called: corral reports its own load (livekit_worker.load)")
        if server._permissions != worker._default_permissions:
            notes.append("permissions are not sent: corral registers with LiveKit's default permissions")
        if not isinstance(server._num_idle_processes, worker.ServerEnvOption):
            notes.append("num_idle_processes=%s: corral keeps the profile's prewarm idle agents instead" % server._num_idle_processes)
        if server._job_memory_limit_mb:
            notes.append("job_memory_limit_mb=%s: corral limits each job by the profile's memory_limit_mb instead" % server._job_memory_limit_mb)
        if server._job_executor_type != JobExecutorType.PROCESS:
            notes.append("job_executor_type=%s: corral runs every job as a process of its own" % server._job_executor_type.value)
        for note in notes:
            logger.warning("AgentServer setting not used under corral: %s", note)

    def check_agent_name(self, job_agent_name):
        name = self.server._agent_name if self.server is not None else ""
        if name and name != job_agent_name:
            logger.warning(
                "the AgentServer's agent_name %r is not the job's %r: corral dispatches by the profile's livekit_worker.agent_name",
                name, job_agent_name,
            )


class _Job:
    """One job's process: LiveKit's job process (``_JobProc``), corral in place of its worker."""

    def __init__(self, app, runners):
        self.app = app
        self.runners = runners

    def setup(self):
        """The ``JobProcess`` and ``prewarm(proc)``, as LiveKit's job process initializes."""
        from livekit.agents.ipc import proto
        from livekit.agents.ipc.job_proc_lazy_main import _JobProc
        from livekit.agents.job import JobExecutorType

        self.outcome = _Outcome()
        self.job_proc = _JobProc(
            self.app.prewarm or _no_prewarm,
            self.outcome.watch(self.app.entrypoint),
            self.app.on_session_end,
            session_end_timeout=self.app.session_end_timeout,
            executor_type=JobExecutorType.PROCESS,
        )
        self.client = _CorralClient()
        proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("HTTP_PROXY") or ""
        self.job_proc.initialize(proto.InitializeRequest(http_proxy=proxy), self.client)

    def run(self, assignment):
        info = running_job_info(os.environ)
        self.app.check_agent_name(info.job.agent_name)
        logger.info("job %s in room %s (corral session %s)", info.job.id, info.job.room.name, assignment.session_id)
        corral_agent.status("job %s in room %s" % (info.job.id, info.job.room.name))
        asyncio.run(_run_job(self.job_proc, self.client, self.runners, info))
        return 1 if self.outcome.crashed else 0


class _Template:
    """The template's side (``corral_agent.serve_template``): LiveKit's forkserver warm-up once,
    the inference process, and each fork a job."""

    def __init__(self, app):
        self.app = app
        self.inference = None
        self.job = None

    def warm_up(self):
        from livekit.agents.inference_runner import _InferenceRunner
        from livekit.agents.ipc import _preload  # noqa: F401 - the warm-up is the import

        # What the forks inherit stays shared when their garbage collector runs (LiveKit's
        # forkserver does the same): the inference process's too.
        from livekit.agents.ipc import _preload_freeze  # noqa: F401

        if _InferenceRunner.registered_runners:
            self.inference = corral_livekit_inference.start(dict(_InferenceRunner.registered_runners))

    def setup(self):
        if self.inference is not None:
            runners = corral_livekit_inference.RemoteRunners(self.inference)
        else:
            runners = corral_livekit_inference.LocalRunners()
        self.job = _Job(self.app, runners)
        self.job.setup()

    def session(self, assignment):
        if not assignment.warm:
            corral_agent.ready("loaded")
        return self.job.run(assignment)


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
