#!/bin/sh
# A notify agent that never sends READY=1 (and has a child).
sleep 1000 &
echo "never ready"
wait
