#!/bin/sh
# Entry point of the services' and the trainers' images (deploy/images/*/Dockerfile).
#
# The course volume is shared by the grading and records services and the trainers' pods,
# each running as its own uid with the volume's group (fsGroup 10100): what one writes there
# must stay writable for the group and closed to everyone else, hence the umask. Then the
# Deployment's (or KubeSpawner's) command line runs as PID 1's only child (tini is PID 1).
set -eu
umask "${OMSORGSLYFT_UMASK:-0007}"
exec "$@"
