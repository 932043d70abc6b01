#!/usr/bin/env python3
# A notify agent that "loads" until the file named by the session metadata's "ready_file"
# exists (or for READY_DELAY seconds without one), then sends READY=1; starts a child first.
# With "client" in the metadata it says READY=1 through clients/python/corral_agent.py.
import json, os, socket, subprocess, sys, time

child = subprocess.Popen(["sleep", "1000"])
metadata = json.loads(os.environ.get("CORRAL_METADATA", "{}"))
ready_file = metadata.get("ready_file")
if ready_file:
    while not os.path.exists(ready_file):
        time.sleep(0.01)
else:
    time.sleep(float(os.environ.get("READY_DELAY", "0.5")))
if "client" in metadata:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
    import corral_agent
    print("ready heard: %s" % corral_agent.ready("loaded"), flush=True)
else:
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"STATUS=loaded\nREADY=1", address)
print("ready", flush=True)
while True:
    time.sleep(1)
