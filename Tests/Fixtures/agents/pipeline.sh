#!/bin/sh
# Three children in a pipeline, like an agent feeding audio through ffmpeg.
echo "pipeline agent $$"
sleep 1000 | cat | cat
