#!/bin/sh
# Test image fault (mariadb-never-ready): `mariadb-admin ping` (and `mysqladmin ping`) never
# succeeds; every other command goes to the real client, kept as mariadb-admin.real.
for arg; do
  case $arg in
    ping)
      echo "durable-test never-ready image: mariadb-admin ping fails on purpose" >&2
      exit 1
      ;;
  esac
done
exec /usr/lib/durable-test/mariadb-admin.real "$@"
