#!/bin/sh
# bundle, yarn, bin/rails and systemctl on every test host: one line per
# call in the fleet's shared log, "HOST PROGRAM ARGS", with
# SKIP_POST_DEPLOYMENT_MIGRATIONS=VALUE at the end when it is set. The call
# TG_FAIL names ("web2 rails assets:precompile") fails with status 7.
# systemctl answers `show` as systemd does for a loaded, running unit (the
# systemd module asks it first, unlogged); a reload or restart takes a
# moment and logs "HOST systemctl done" at its end, so that two that overlap
# show in the log.
name=$(basename "$0")
if [ "$name $1" = "systemctl show" ]; then
  printf 'Id=%s\nLoadState=loaded\nActiveState=active\nSubState=running\n' "$2"
  exit 0
fi
call="$TG_HOST $name $*"
printf '%s%s\n' "$call" \
  "${SKIP_POST_DEPLOYMENT_MIGRATIONS+ SKIP_POST_DEPLOYMENT_MIGRATIONS=$SKIP_POST_DEPLOYMENT_MIGRATIONS}" \
  >> "$TG_LOG"
if [ "$call" = "$TG_FAIL" ]; then
  echo "$name: failing as told" >&2
  exit 7
fi
if [ "$name" = systemctl ]; then
  sleep 0.2
  echo "$TG_HOST systemctl done" >> "$TG_LOG"
fi
echo "$name says hello"
