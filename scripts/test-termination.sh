#!/usr/bin/env bash
# Checks, against a running corral, that ending a session ends all of it: one [PASS], [FAIL] or
# [SKIP] line per check, exit status 1 if any failed. Run it on corral's host (it looks at the
# session's processes in /proc), as corral's user or root. `test-termination.sh --help` for the
# options. Uses clients/python/corral_client.py through scripts/corral_checks.py, found next to
# this script.
set -euo pipefail

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
if ! command -v python3 >/dev/null; then
    echo "test-termination.sh: python3 (3.11 or later) is needed" >&2
    exit 2
fi
if [ ! -f "$here/corral_checks.py" ] || [ ! -f "$here/../clients/python/corral_client.py" ]; then
    echo "test-termination.sh: run it from corral's source tree: $here/corral_checks.py and clients/python/corral_client.py are needed" >&2
    exit 2
fi

CORRAL_CHECKS_DIR="$here" exec python3 - "$@" <<'PYTHON'
import argparse
import os
import sqlite3
import sys
import uuid

sys.path.insert(0, os.environ.pop("CORRAL_CHECKS_DIR"))
sys.dont_write_bytecode = True
from corral_checks import RedisError, Report, StoreLookup, corral_client, describe, is_sessions_process, leftovers, read_process

DESCRIPTION = """\
Starts a session on a running corral and checks that it runs as corral promises and that ending
it leaves nothing behind:
  - the session starts;
  - its process is alive (and carries the session's CORRAL_SESSION_ID);
  - it leads its own process group (pid == pgid);
  - that group is alive;
  - corral accepts the end (DELETE);
  - GET of the session then answers 404;
  - its stored record is gone (with --store or CORRAL_STORE; [SKIP] without);
  - no process of the session is left (none whose environment names it, not the leader, nothing
    in its group).
The token comes from CORRAL_TOKEN. Exit status: 0 all passed, 1 a check failed, 2 usage."""

EPILOG = """\
examples:
  CORRAL_URL=http://127.0.0.1:8080 scripts/test-termination.sh --agent demo --store sqlite:corral.db
  sudo env CORRAL_TOKEN="$(sudo cat /etc/corral/api-token)" scripts/test-termination.sh --store redis://:secret@10.0.0.5:6379/0"""


def options():
    parser = argparse.ArgumentParser(
        prog="test-termination.sh", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--agent", help="the agent profile to start (default: corral's default_agent)")
    parser.add_argument("--url", help="corral's URL (default: $CORRAL_URL, else http://127.0.0.1:8080)")
    parser.add_argument(
        "--store", default=os.environ.get("CORRAL_STORE") or None,
        help="corral's store, as its `store` key says it: sqlite:PATH, memory or redis://[:PASSWORD@]HOST:PORT[/DB] "
             "(default: $CORRAL_STORE; without one the record check is skipped)",
    )
    parser.add_argument(
        "--data-dir", default=os.environ.get("CORRAL_DATA_DIR") or "corral-data",
        help="corral's data_dir, where a relative sqlite:PATH is (default: $CORRAL_DATA_DIR, else corral-data)",
    )
    parser.add_argument("--session-id", help="the id to start the session with (default: termination-check-<random>)")
    parser.add_argument(
        "--timeout", type=float, default=60.0,
        help="seconds to wait for each of corral's answers; an end takes up to grace_seconds (default: 60)",
    )
    return parser.parse_args()


def group_exists(pgid):
    try:
        os.kill(-pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's


def check_running(report, session):
    """The process, its group leadership and its group; returns the leader as /proc shows it."""
    leader = read_process(session.pid) if session.pid else None
    if leader is None or not leader.alive:
        report.failed("the session's process is alive", f"no live process {session.pid} on this host (run this script on corral's host)")
        return None
    if leader.environment_readable and not is_sessions_process(leader, session):
        report.failed(
            "the session's process is alive",
            f"process {leader.pid} is not the session's: its CORRAL_SESSION_ID is {leader.session_id!r} (another host or PID namespace?)",
        )
        return None
    note = "" if leader.environment_readable else "; its environment is not readable by this user, so the last check only looks at its pid and group"
    report.passed("the session's process is alive", f"pid {leader.pid} ({leader.command}){note}")
    report.check(
        leader.pgid == leader.pid and session.pgid == leader.pid and session.is_group_leader,
        "it leads its process group", f"pid {leader.pid}, pgid {leader.pgid} (corral says pgid {session.pgid}, leader {session.is_group_leader})",
    )
    report.check(group_exists(leader.pgid), "its process group is alive", f"pgid {leader.pgid}")
    return leader


def check_end(report, client, session_id):
    """The end and the 404 after it; returns whether corral accepted the end."""
    try:
        result = client.end(session_id)
    except corral_client.CorralError as error:
        report.failed("the end is accepted", str(error))
        return False
    report.passed("the end is accepted", f"{result.outcome} in {result.duration_ms} ms")
    try:
        client.get(session_id)
        report.failed("GET answers 404 after the end", "corral still answers with the session")
    except corral_client.NotFound as error:
        report.passed("GET answers 404 after the end", error.message)
    except corral_client.CorralError as error:
        report.failed("GET answers 404 after the end", str(error))
    return True


def check_record_gone(report, args, session_id):
    what = "the stored record is gone"
    if not args.store:
        report.skipped(what, "no store given (--store or CORRAL_STORE)")
        return
    lookup = StoreLookup(args.store, args.data_dir, timeout=args.timeout)
    if not lookup.inspectable:
        report.skipped(what, "store 'memory' lives inside corral: nothing to look at")
        return
    try:
        left = lookup.left(session_id)
    except (OSError, sqlite3.Error, ValueError, RedisError) as error:
        report.failed(what, f"cannot read {lookup.description}: {error}")
        return
    report.check(not left, what, f"nothing of it in {lookup.description}" if not left else f"still in {lookup.description}: {', '.join(left)}")


def check_nothing_left(report, session_id, leader):
    left = leftovers([session_id], [leader] if leader else [])
    looked_at = f"CORRAL_SESSION_ID={session_id}" + (f", pid {leader.pid}, group {leader.pgid}" if leader else "")
    report.check(not left, "no process of the session is left", f"none with {looked_at}" if not left else describe(left))


def main():
    args = options()
    report = Report()
    try:
        client = corral_client.CorralClient(args.url, timeout=args.timeout)
    except ValueError as error:
        print(f"test-termination.sh: {error}", file=sys.stderr)
        return 2
    session_id = args.session_id or f"termination-check-{uuid.uuid4().hex[:8]}"
    print(f"corral at {client.url}; session {session_id}", flush=True)
    try:
        session = client.start(args.agent, session_id=session_id)
    except corral_client.CorralError as error:
        report.failed("the session starts", str(error))
        if isinstance(error, corral_client.CorralConnectionError):
            # No answer is not a refusal: the session may have started after all.
            try:
                client.end(session_id)
            except corral_client.CorralError:
                pass
        return report.exit_status
    report.passed("the session starts", f"agent {session.agent}, {session.start or 'cold'} start, pid {session.pid}, pgid {session.pgid}")
    ended = False
    try:
        leader = check_running(report, session)
        # Whatever the check found, the recorded pid is looked at at the end (same start time).
        watched = leader or (read_process(session.pid) if session.pid else None)
        ended = check_end(report, client, session_id)
        check_record_gone(report, args, session_id)
        check_nothing_left(report, session_id, watched)
    finally:
        # Whatever went wrong, the check's own session does not outlive it.
        if not ended:
            try:
                client.end(session_id)
            except corral_client.CorralError:
                pass
    return report.exit_status


sys.exit(main())
PYTHON
