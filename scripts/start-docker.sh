#!/usr/bin/env bash
# Makes a Docker engine answer on this machine and provides the `gyoza-busybox` test image.
# No registry is reachable, so the image is imported from Debian's busybox-static.
set -euo pipefail
if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup dockerd --iptables=false --bridge=none >/var/log/gyoza-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/gyoza-dockerd.log" >&2; exit 1; }
fi
if ! docker image inspect gyoza-busybox:latest >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/gyoza"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -c . | docker import - gyoza-busybox:latest >/dev/null
  rm -rf "$root"
fi
