#!/usr/bin/env python3
# Double-forks a daemon that calls setsid(), the classic way out of a process group; the
# intermediate process exits, so the daemon's parent is gone. With "exit" as argv[1] the agent
# then exits by itself instead of waiting.
import os, sys, time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "1000"])
    os._exit(0)
os.wait()
print("double-fork agent", os.getpid(), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "exit":
    sys.exit(0)
while True:
    time.sleep(1)
