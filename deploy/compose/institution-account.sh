#!/usr/bin/env bash
# institution-account inside the sshd container: deploy/sftp/institution-account (same
# commands: add NAME KEYFILE|-, disable NAME, status NAME), which also records a new
# account's user id in the state volume, so that sshd-entrypoint.sh makes the account again,
# with the same id, in the next container.
#
#   docker compose exec -T sshd institution-account add xinghuo - < xinghuo.pub
#   docker compose exec sshd institution-account disable xinghuo
set -euo pipefail

: "${SFTP_STATE:=/var/lib/pipeline-sftp}"
REAL=${INSTITUTION_ACCOUNT:-/opt/sftp/institution-account}
ACCOUNTS=$SFTP_STATE/accounts

rc=0
"$REAL" "$@" || rc=$?
if [[ $rc -eq 0 && ${1:-} == add && $# -ge 2 ]]; then
    name=$2
    if ! grep -q "^$name " "$ACCOUNTS" 2>/dev/null; then
        echo "$name $(id -u "$name")" >>"$ACCOUNTS"
    fi
fi
exit "$rc"
