#!/bin/sh
# Entrypoint of the recloop images: turn secret files into environment variables, then exec.
#
# For every variable NAME_FILE=/run/secrets/x (a Compose/Kubernetes secret), export NAME with
# the file's content and drop NAME_FILE. Secrets thus never sit in the image, in compose.yaml
# or on a command line. Typical: PGPASSWORD_FILE (libpq and asyncpg read PGPASSWORD, so
# database URLs carry no password), RECLOOP_NOTIFY__APPRISE_URLS_FILE (a JSON list of
# Slack/e-mail URLs), AWS_SECRET_ACCESS_KEY_FILE.
set -eu

for file_var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1_FILE/p'); do
  name="${file_var%_FILE}"
  eval "path=\${$file_var}"
  if [ ! -r "$path" ]; then
    echo "recloop-entrypoint: $file_var points to $path, which cannot be read" >&2
    exit 64
  fi
  value="$(cat "$path")"
  export "$name=$value"
  unset "$file_var"
done

exec "$@"
