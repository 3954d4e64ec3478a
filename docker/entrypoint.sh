#!/bin/sh
# Entrypoint of Dockerfile.gpu.
#   no arguments, or options only   -> pairbench nightly --results-dir "$PAIRBENCH_RESULTS"
#                                      --machine "$PAIRBENCH_MACHINE" [options]
#   a pairbench command and options -> pairbench COMMAND [options]   (e.g. doctor, report)
# PAIRBENCH_MACHINE names the machine in asv's results: container hostnames change on every
# run, so a nightly refuses to start without it.
set -eu

results="${PAIRBENCH_RESULTS:-/results}"

case "${1:-}" in
    "" | -*) ;;
    *) exec pairbench "$@" ;;
esac

if [ -z "${PAIRBENCH_MACHINE:-}" ]; then
    echo "pairbench-entrypoint: set PAIRBENCH_MACHINE to a fixed name for this machine" \
        "(docker run -e PAIRBENCH_MACHINE=h100-rack2 ...): container hostnames change" >&2
    exit 2
fi
if ! mkdir -p "$results" 2>/dev/null || [ ! -w "$results" ]; then
    echo "pairbench-entrypoint: $results is not writable by uid $(id -u): mount a volume there" \
        "(-v DIR:$results) that this user can write (chown $(id -u) DIR, or docker run --user)" >&2
    exit 1
fi
# asv keeps ~/.asv-machine.json; Keras and matplotlib keep caches: HOME must be writable.
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME="$results/.home"
    export HOME
    mkdir -p "$HOME"
fi

exec pairbench nightly --results-dir "$results" --machine "$PAIRBENCH_MACHINE" "$@"
