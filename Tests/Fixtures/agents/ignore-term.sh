#!/bin/sh
# Ignores SIGTERM, and so does its child (ignored signals are inherited): only SIGKILL ends them.
trap '' TERM
sh -c 'while :; do sleep 1; done' &
echo "stubborn agent $$"
while :; do sleep 1; done
