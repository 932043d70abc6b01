#!/usr/bin/env python3
# A notify agent that loads for READY_DELAY seconds, then sends READY=1; starts a child first.
import os, socket, subprocess, time

child = subprocess.Popen(["sleep", "1000"])
time.sleep(float(os.environ.get("READY_DELAY", "0.5")))
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\0" + address[1:]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"STATUS=loaded\nREADY=1", address)
print("ready", flush=True)
while True:
    time.sleep(1)
