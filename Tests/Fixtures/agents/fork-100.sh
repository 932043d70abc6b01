#!/bin/sh
# Forks 100 children. With "exit" as $1 the agent then exits by itself instead of waiting.
i=0
while [ $i -lt 100 ]; do
    sleep 1000 &
    i=$((i + 1))
done
echo "fork-100 agent $$"
[ "$1" = exit ] && exit 0
wait
