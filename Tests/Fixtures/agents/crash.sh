#!/bin/sh
# Crashes at once.
echo "crashing"
exit 3
