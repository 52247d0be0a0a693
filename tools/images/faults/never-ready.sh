#!/bin/sh
# Test image fault: this readiness check never succeeds, although the server runs fine.
# Installed as pg_isready (postgres-never-ready) and as healthcheck.sh (mariadb-never-ready).
echo "durable-test never-ready image: $(basename "$0") fails on purpose" >&2
exit 1
