#!/usr/bin/env python3
"""Checks, against a running corral, that sessions started at once are kept apart and that ending
one leaves the others running. One [PASS], [FAIL] or [SKIP] line per check, exit status 1 if any
failed. Run it on corral's host (it looks at the sessions' processes in /proc), as corral's user
or root. `test_concurrent_sessions.py --help` for the options."""

import argparse
import asyncio
import os
import random
import sys
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from corral_checks import Report, corral_client, describe, leftovers, read_process  # noqa: E402

DESCRIPTION = """\
Starts several sessions on a running corral at the same moment and checks:
  - they all start;
  - their pids are all different, and so are their process groups;
  - each leads its own process group (pid == pgid);
  - each writes to a log file of its own (from the inspection's session_data.log_path);
  - ending them one by one, in random order, is accepted each time, and after each end the
    others' processes are still alive and corral still answers for them;
  - at the end, no process of any of them is left.
The token comes from CORRAL_TOKEN. Exit status: 0 all passed, 1 a check failed, 2 usage."""


def options():
    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", help="the agent profile to start (default: corral's default_agent)")
    parser.add_argument("--url", help="corral's URL (default: $CORRAL_URL, else http://127.0.0.1:8080)")
    parser.add_argument("--count", type=int, default=5, help="sessions to start at once, at least 2 (default: 5)")
    parser.add_argument("--seed", type=int, help="seed of the random order of the ends (default: a random one, printed)")
    parser.add_argument(
        "--timeout", type=float, default=60.0,
        help="seconds to wait for each of corral's answers; an end takes up to grace_seconds (default: 60)",
    )
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2")
    return args


async def start_all(report, client, args, ids):
    """Starts every session at once; returns those that started."""
    results = await asyncio.gather(*(client.start(args.agent, session_id=session_id) for session_id in ids), return_exceptions=True)
    sessions = [result for result in results if isinstance(result, corral_client.Session)]
    errors = [f"{session_id}: {result}" for session_id, result in zip(ids, results) if isinstance(result, BaseException)]
    detail = ", ".join(f"{session.session_id} (pid {session.pid})" for session in sessions)
    report.check(not errors, f"{len(ids)} sessions start at once", "; ".join(errors) if errors else detail)
    return sessions


def check_apart(report, sessions):
    """Distinct pids and groups, each its group's leader; returns each leader as /proc shows it."""
    pids = [session.pid for session in sessions]
    pgids = [session.pgid for session in sessions]
    report.check(None not in pids and len(set(pids)) == len(pids), "their pids are unique", ", ".join(map(str, pids)))
    report.check(None not in pgids and len(set(pgids)) == len(pgids), "their process groups are unique", ", ".join(map(str, pgids)))
    leaders = {session.session_id: read_process(session.pid) if session.pid else None for session in sessions}
    not_leading = []
    for session in sessions:
        leader = leaders[session.session_id]
        if leader is None or not leader.alive:
            not_leading.append(f"{session.session_id}: no live process {session.pid} on this host")
        elif not (leader.pgid == leader.pid == session.pgid and session.is_group_leader):
            not_leading.append(f"{session.session_id}: pid {leader.pid}, pgid {leader.pgid}")
    report.check(not not_leading, "each leads its own process group", "; ".join(not_leading) if not_leading else "pid == pgid for all")
    return leaders


async def check_logs(report, client, sessions):
    what = "each has a log file of its own"
    try:
        inspections = await asyncio.gather(*(client.processes(session.session_id) for session in sessions))
    except corral_client.CorralError as error:
        report.failed(what, f"the inspection failed: {error}")
        return
    hidden = [inspection for inspection in inspections if not inspection.log_path]
    if hidden:
        reasons = "; ".join(f"{inspection.session_id}: {', '.join(inspection.errors) or 'no log_path'}" for inspection in hidden)
        report.skipped(what, f"session_data does not show log_path (hidden from this token's role, or the record unreadable): {reasons}")
        return
    paths = [inspection.log_path for inspection in inspections]
    report.check(len(set(paths)) == len(paths), what, ", ".join(paths))


async def still_running(client, session, leader):
    """Why the session is not running as before, or None if it is."""
    now = read_process(leader.pid) if leader else None
    if leader is None or now is None or not now.alive or now.start_time != leader.start_time:
        return f"{session.session_id}: its process {session.pid} is gone"
    try:
        answer = await client.get(session.session_id)
    except corral_client.CorralError as error:
        return f"{session.session_id}: GET answers {error}"
    if answer.pid != session.pid:
        return f"{session.session_id}: corral now says pid {answer.pid}, not {session.pid}"
    return None


async def end_in_random_order(report, client, sessions, leaders, seed):
    """Ends the sessions one by one; returns the ids corral accepted an end for."""
    order = list(sessions)
    random.Random(seed).shuffle(order)
    print(f"ending in the order {', '.join(session.session_id for session in order)} (--seed {seed})", flush=True)
    ended = set()
    for index, session in enumerate(order):
        try:
            result = await client.end(session.session_id)
            ended.add(session.session_id)
            report.passed(f"end {session.session_id}", f"{result.outcome} in {result.duration_ms} ms")
        except corral_client.CorralError as error:
            report.failed(f"end {session.session_id}", str(error))
        others = order[index + 1:]
        if others:
            problems = [problem for other in others if (problem := await still_running(client, other, leaders[other.session_id]))]
            report.check(
                not problems, f"after ending {session.session_id}, the other {len(others)} still run",
                "; ".join(problems) if problems else "processes alive, corral answers for each",
            )
    return ended


async def run(args, client):
    report = Report()
    prefix = f"concurrent-check-{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{number}" for number in range(args.count)]
    print(f"corral at {client.url}; sessions {prefix}-0 to -{args.count - 1}", flush=True)
    sessions = await start_all(report, client, args, ids)
    ended = set()
    try:
        if len(sessions) == len(ids):
            leaders = check_apart(report, sessions)
            await check_logs(report, client, sessions)
            seed = args.seed if args.seed is not None else random.randrange(1 << 32)
            ended = await end_in_random_order(report, client, sessions, leaders, seed)
            left = leftovers(ids, [leader for leader in leaders.values() if leader])
            report.check(not left, "no process of any of them is left", describe(left) if left else f"none with CORRAL_SESSION_ID={prefix}-*")
    finally:
        # Whatever went wrong, the check's own sessions do not outlive it: every id, since a
        # start that got no answer may have started all the same.
        for session_id in ids:
            if session_id not in ended:
                try:
                    await client.end(session_id)
                except corral_client.CorralError:
                    pass
    return report.exit_status


def main():
    args = options()
    try:
        client = corral_client.AsyncCorralClient(args.url, timeout=args.timeout)
    except ValueError as error:  # a malformed URL
        print(f"test_concurrent_sessions.py: {error}", file=sys.stderr)
        return 2
    return asyncio.run(run(args, client))


if __name__ == "__main__":
    sys.exit(main())
