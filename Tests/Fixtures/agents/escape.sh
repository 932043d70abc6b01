#!/bin/sh
# Starts a child that leaves the process group with setsid, then waits.
setsid sleep 1000 &
sleep 1000 &
echo "escape agent $$"
wait
