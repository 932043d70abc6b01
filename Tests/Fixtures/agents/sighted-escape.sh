#!/bin/sh
# A child leaves the process group (setsid) with an empty environment; its parent, a shell that
# then sleeps in the agent's group, keeps it attached to the agent by ancestry. Once the test
# kills that parent while corral is down, nothing leads from the child back to the session
# (group, kernel session, parent, environment) but what corral saw of it before. The pids are
# printed for the test.
sh -c 'env -i setsid sleep 1000 & echo "escapee $!"; echo "parent $$"; exec sleep 1000' &
echo "sighted-escape agent $$"
while :; do sleep 1; done
