#!/bin/sh
# Ignores SIGTERM, and so do its children, one of which also left the process group: only
# SIGKILL ends them. With "exit" as $1 the agent then exits by itself instead of waiting.
trap '' TERM
setsid sh -c 'while :; do sleep 1; done' &
sh -c 'while :; do sleep 1; done' &
echo "ignore-term-everywhere agent $$"
[ "$1" = exit ] && exit 0
while :; do sleep 1; done
