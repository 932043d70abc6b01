#!/bin/sh
# The hardest escape: a grandchild that calls setsid(), is orphaned at once (its parent, the
# subshell, exits right after starting it) and drops its environment, so that no process group,
# kernel session, parent or CORRAL_SESSION_ID leads back to the session. It loops on short sleeps
# and carries only its name, orphan-$CORRAL_SESSION_ID, for the test to find it by. With "exit"
# as $1 the agent then exits by itself instead of waiting.
( env -i setsid sh -c 'while :; do sleep 1; done' "orphan-$CORRAL_SESSION_ID" & )
echo "orphan-setsid agent $$"
[ "$1" = exit ] && exit 0
while :; do sleep 1; done
