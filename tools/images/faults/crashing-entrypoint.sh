#!/bin/sh
# Test image fault (postgres-crashing): the entrypoint exits 1 at once.
echo "durable-test crashing image: the entrypoint exits 1 on purpose (args: $*)" >&2
exit 1
