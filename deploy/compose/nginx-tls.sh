#!/bin/sh
# The certificate of web-proxy (docker-compose.yml; docs/deploy.md, "The web application").
# The nginx image runs this from /docker-entrypoint.d/ before nginx starts. It keeps the
# pair in TLS_DIR (deploy/tls/ on the host, mounted at /etc/nginx/tls) when both files are
# there: fullchain.pem (the certificate, then its intermediates) and privkey.pem. With
# neither, it makes a self-signed pair for the host of PIPELINE_WEB_PUBLIC_URL (else
# localhost), so the stack starts; browsers warn about it until a real certificate
# replaces it. One file without the other stops the container: a half-copied pair.
set -eu

dir="${TLS_DIR:-/etc/nginx/tls}"
cert="$dir/fullchain.pem"
key="$dir/privkey.pem"

if [ -s "$cert" ] && [ -s "$key" ]; then
    echo "$0: serving the certificate in $cert"
    exit 0
fi
if [ -e "$cert" ] || [ -e "$key" ]; then
    echo "$0: $dir must hold both fullchain.pem and privkey.pem (or neither: a self-signed pair is made)" >&2
    exit 1
fi

# the host of https://host[:port][/path]
host="${PIPELINE_WEB_PUBLIC_URL:-}"
host="${host#*://}"
host="${host%%/*}"
host="${host%%:*}"
[ -n "$host" ] || host=localhost
case "$host" in
    *[!0-9.]*) san="DNS:$host" ;;
    *) san="IP:$host" ;;
esac

mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 -subj "/CN=$host" \
    -addext "subjectAltName=$san" -keyout "$key.new" -out "$cert.new" 2>/dev/null
chmod 0644 "$cert.new"
mv "$key.new" "$key"
mv "$cert.new" "$cert"
echo "$0: made a self-signed certificate for $host in $cert: replace it with a real one (docs/deploy.md)"
