#!/usr/bin/env bash
# sshd-entrypoint: the institutions' SFTP intake as a container (service `sshd` of
# deploy/docker-compose.yml, image target `sshd` of deploy/Dockerfile).
#
# The same setup as on a host (deploy/sftp/README.md): one chroot per institution account,
# its /upload a bind mount of the account's folder of the pipeline's inbox, which lies on
# the data volume shared with the `sftp-watcher` and `sftp-worker` services. The container
# needs CAP_SYS_ADMIN (the bind mounts) and no AppArmor confinement (Docker's default
# profile forbids mount even then); docker-compose.yml grants exactly that.
#
# What lives where:
#   $SFTP_STATE (a volume)      the host key, keys/<account> (the authorized keys) and
#                               `accounts` ("<name> <uid>" per account ever added)
#   the container               users, chroots, bind mounts, the rendered sshd_config:
#                               made again from $SFTP_STATE at every start
#
# Accounts are managed with `docker compose exec sshd institution-account add|disable|status`
# (deploy/compose/institution-account.sh records the user id for the next start).
set -euo pipefail

: "${SFTP_STATE:=/var/lib/pipeline-sftp}"
: "${PIPELINE_INBOX:=/srv/pipeline/var/inbox}"
: "${KEYS_DIR:=$SFTP_STATE/keys}"
: "${HOST_KEY:=$SFTP_STATE/ssh_host_ed25519_key}"
: "${INSTITUTION_GROUP:=sftp-institutions}"
: "${PIPELINE_GROUP:=pipeline}"
: "${SSHD_CONFIG:=/etc/ssh/pipeline-sftp/sshd_config}"
: "${SSHD:=/usr/sbin/sshd}"
export SFTP_STATE PIPELINE_INBOX KEYS_DIR HOST_KEY INSTITUTION_GROUP PIPELINE_GROUP SSHD_CONFIG
REAL=${INSTITUTION_ACCOUNT:-/opt/sftp/institution-account}
ACCOUNTS=$SFTP_STATE/accounts

say() { echo "sshd-entrypoint: $*" >&2; }

# The inbox on the shared data volume (the pipeline makes it as well; whoever starts first).
if [[ ! -d $PIPELINE_INBOX ]]; then
    install -d -o "$PIPELINE_GROUP" -g "$PIPELINE_GROUP" -m 0750 "$PIPELINE_INBOX"
fi
install -d -o root -g root -m 0755 "$SFTP_STATE"
touch "$ACCOUNTS"

# Groups, chroot root, keys folder, host key (first start only) and sshd_config (checked
# with sshd -t).
"$REAL" setup

# Users of a container die with it: make each recorded account again, with its old user id
# (the owner of its inbox folder and of any upload it may resume).
restored=0
while read -r name uid <&3; do
    [[ -n ${name:-} && $name != \#* ]] || continue
    if ! getent passwd "$name" >/dev/null; then
        useradd --uid "$uid" --gid "$INSTITUTION_GROUP" --no-user-group --home-dir /upload \
            --no-create-home --shell /usr/sbin/nologin --password '*' \
            --comment "institution SFTP account" "$name"
    fi
    if [[ -s $KEYS_DIR/$name ]]; then
        # An active account: chroot, bind mount and keys again. `add` takes plain public
        # keys (it adds `restrict` itself) and reads them all before replacing the file.
        sed 's/^restrict //' "$KEYS_DIR/$name" | "$REAL" add "$name" - >/dev/null
    else
        # Disabled (`institution-account disable` removed its keys): it stays disabled.
        usermod --lock --expiredate 1 "$name"
    fi
    restored=$((restored + 1))
done 3<"$ACCOUNTS"
say "$restored account(s) restored; sshd on port ${SSHD_PORT:-2222}"

# In the foreground, logging to stderr (docker compose logs sshd).
exec "$SSHD" -D -e -f "$SSHD_CONFIG"
