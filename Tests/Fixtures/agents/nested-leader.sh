#!/bin/sh
# Moves itself, the session's leader, into a cgroup it makes inside its session's (an agent
# running as root can), then sleeps there: the session is still its own, before and after a
# restart of corral.
mount=$(awk '/ - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
inner="$mount$own/inner"
mkdir "$inner" || exit 3
echo $$ > "$inner/cgroup.procs" || exit 4
echo "nested-leader agent $$ in $inner"
exec sleep 1000
