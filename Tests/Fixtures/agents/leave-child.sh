#!/bin/sh
# Exits by itself at once, leaving a child behind in its process group.
sleep 1000 &
echo "leaving child $!"
exit 0
