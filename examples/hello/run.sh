#!/bin/sh
# The hello op: greets $GYOZA_INPUT_NAME $GYOZA_INPUT_TIMES times, reports progress, writes outputs.
set -eu
name="${GYOZA_INPUT_NAME:-world}"
times="${GYOZA_INPUT_TIMES:-1}"
greeting="hello, $name"
[ "${GYOZA_INPUT_SHOUT:-false}" = "true" ] && greeting="$(echo "$greeting" | tr 'a-z' 'A-Z')!"
i=1
while [ "$i" -le "$times" ]; do
  echo "$greeting"
  echo "::gyoza progress $((i * 100 / times))"
  sleep 1
  i=$((i + 1))
done
printf '{"greeting": "%s", "times": %s}\n' "$greeting" "$times" > /gyoza/outputs.json
