#!/bin/sh
# Makes a cgroup inside its session's cgroup (an agent running as root can) and starts a child
# there that ignores SIGTERM: only what reaches the cgroups below the session's ends it.
trap '' TERM
mount=$(awk '/ - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
inner="$mount$own/inner"
mkdir "$inner" || exit 3
sh -c 'trap "" TERM; while :; do sleep 1; done' &
echo $! > "$inner/cgroup.procs" || exit 4
echo "nested-cgroup agent $$: child $! in $inner"
while :; do sleep 1; done
