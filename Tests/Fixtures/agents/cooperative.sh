#!/bin/sh
# Exits on SIGTERM after stopping its one child, like a well-behaved agent.
sleep 1000 &
child=$!
trap 'kill $child; wait $child; exit 0' TERM
echo "cooperative agent $$ with child $child"
wait $child
