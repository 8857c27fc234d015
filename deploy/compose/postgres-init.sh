#!/bin/sh
# Run once by the postgres image at its first start (an empty data volume): the SFTP
# pipeline's catalogue database beside the S3 pipeline's (POSTGRES_DB). Each pipeline
# migrates its own schema when it starts (pipeline/catalogue/database.py).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE catalogue_sftp OWNER "$POSTGRES_USER";
SQL
