#!/bin/sh
# minio-init: the one-shot job of deploy/docker-compose.yml (service `minio-init`, image
# minio/mc) that prepares MinIO for the pipeline, idempotently (it runs at every `up`):
#
#   - the three buckets S3_INBOX_BUCKET, S3_ARCHIVE_BUCKET, S3_QUARANTINE_BUCKET;
#   - versioning on the inbox bucket (docs/s3.md, "MinIO notes": claims then name the exact
#     object version, and an upload replacing a package being decided is never deleted);
#   - the pipeline's own account S3_ACCESS_KEY / S3_SECRET_KEY with the policy `pipeline`
#     (just the permissions docs/s3.md lists), so the pipeline never uses the root account;
#   - the policy `institution-upload` (s3:PutObject on inbox/<user name>/* of the inbox
#     bucket only) to attach to each institution's account (docs/deploy.md).
#
# The server is the alias `local`, given with its root credentials in MC_HOST_local
# (http://USER:PASSWORD@minio:9000).
set -eu

: "${MC_HOST_local:?MC_HOST_local (http://ROOT_USER:ROOT_PASSWORD@minio:9000) is not set}"
: "${S3_ACCESS_KEY:?S3_ACCESS_KEY (the pipeline account) is not set}"
: "${S3_SECRET_KEY:?S3_SECRET_KEY (the pipeline account) is not set}"
INBOX=${S3_INBOX_BUCKET:-inbox}
ARCHIVE=${S3_ARCHIVE_BUCKET:-archive}
QUARANTINE=${S3_QUARANTINE_BUCKET:-quarantine}
TMP=${TMPDIR:-/tmp}

say() { echo "minio-init: $*"; }

# MinIO may still be starting.
tries=0
until mc admin info local >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
        say "MinIO did not answer within 2 minutes" >&2
        mc admin info local >&2 || true
        exit 1
    fi
    sleep 1
done

for bucket in "$INBOX" "$ARCHIVE" "$QUARANTINE"; do
    mc mb --ignore-existing "local/$bucket"
done
mc version enable "local/$INBOX"

cat >"$TMP/pipeline-policy.json" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "InboxBucket",
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation",
                 "s3:GetBucketVersioning", "s3:ListenBucketNotification", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$INBOX"]
    },
    {
      "Sid": "InboxObjects",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$INBOX/*"]
    },
    {
      "Sid": "DecisionBuckets",
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$ARCHIVE", "arn:aws:s3:::$QUARANTINE"]
    },
    {
      "Sid": "DecisionObjects",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$ARCHIVE/*", "arn:aws:s3:::$QUARANTINE/*"]
    },
    {
      "Sid": "JournalRecords",
      "Effect": "Allow",
      "Action": ["s3:DeleteObject"],
      "Resource": ["arn:aws:s3:::$ARCHIVE/journal/*"]
    },
    {
      "Sid": "QuarantineRetention",
      "Effect": "Allow",
      "Action": ["s3:DeleteObject"],
      "Resource": ["arn:aws:s3:::$QUARANTINE/*"]
    }
  ]
}
JSON

# An institution's MinIO user is named after its account: it may put objects under
# inbox/<its name>/ of the inbox bucket and do nothing else.
cat >"$TMP/institution-policy.json" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "UploadOwnFolder",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$INBOX/inbox/\${aws:username}/*"]
    }
  ]
}
JSON

mc admin policy create local pipeline "$TMP/pipeline-policy.json"
mc admin policy create local institution-upload "$TMP/institution-policy.json"
mc admin user add local "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
# Attaching a policy that is already attached is an error on newer servers: accept it
# when the user does hold the policy.
if ! mc admin policy attach local pipeline --user "$S3_ACCESS_KEY" >/dev/null 2>&1; then
    mc admin user info local "$S3_ACCESS_KEY" | grep -q 'pipeline' \
        || { say "could not attach the policy 'pipeline' to $S3_ACCESS_KEY" >&2; exit 1; }
fi
say "buckets $INBOX (versioned), $ARCHIVE, $QUARANTINE and the account $S3_ACCESS_KEY are ready"
