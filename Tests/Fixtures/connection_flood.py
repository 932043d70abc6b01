#!/usr/bin/env python3
"""Floods a server with connections that send nothing, as one client trying to keep everyone
else out would:

    connection_flood.py PORT BURST RATE HOLD

opens BURST connections to 127.0.0.1:PORT at once, then RATE a second, and holds at most HOLD of
them (closing its oldest beyond that), until SIGTERM. Connects do not wait for the server to
accept them: what the kernel's listen queue does not take is retried by the kernel, as any
client's would be."""

import collections
import signal
import socket
import sys
import time


def main(port, burst, rate, hold):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    held = collections.deque()

    def open_one():
        connection = socket.socket()
        connection.setblocking(False)
        try:
            connection.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            connection.close()
            return
        held.append(connection)
        while len(held) > hold:
            held.popleft().close()

    for _ in range(burst):
        open_one()
    began, opened = time.monotonic(), 0
    while True:
        due = int((time.monotonic() - began) * rate)
        while opened < due:
            open_one()
            opened += 1
        time.sleep(0.01)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:5]))
