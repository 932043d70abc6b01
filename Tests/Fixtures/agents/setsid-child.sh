#!/bin/sh
# A child leaves the process group with setsid() and keeps running; a second child stays.
# With "exit" as $1 the agent then exits by itself instead of waiting.
setsid sleep 1000 &
sleep 1000 &
echo "setsid-child agent $$"
[ "$1" = exit ] && exit 0
wait
