#!/usr/bin/env python3
# Allocates (and touches) memory in 8 MiB steps, up to 1 GiB, then waits.
import time

chunks = []
print("memory hog", flush=True)
for _ in range(128):
    chunks.append(b"\x01" * (8 << 20))
    time.sleep(0.02)
while True:
    time.sleep(1)
