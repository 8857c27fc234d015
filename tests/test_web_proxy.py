"""The web behind its TLS reverse proxy (issue 18), for real: deploy/compose/nginx-web.conf —
the very file the compose stack's `web-proxy` mounts — run by Debian's nginx (unpacked by
`make nginx-deps`) in front of a real `pipeline web` with PIPELINE_WEB_HTTPS=1, over TLS
with the self-signed certificate deploy/compose/nginx-tls.sh makes. Only the ports, the
certificate's folder and the web's address are changed for the test (listed below).

Checked: the page comes over verified HTTPS with the session cookie `__Host-…; Secure` and
HSTS; plain HTTP redirects to https; the client's address reaches the web through
X-Forwarded-For (trusted from the proxy's addresses only, PIPELINE_WEB_TRUSTED_PROXIES),
one the client forges is not believed; a body of 20 MiB passes and a larger one gets 413
from the proxy; a request body is streamed to the web while it is still arriving.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from pipeline.app.compose import Composition
from pipeline.app.redis_server import free_loopback_port
from pipeline.app.settings import SettingsError, load_settings
from tests.support.waiting import wait_until
from tests.support.websites import web_process

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "compose" / "nginx-web.conf"
TLS_SCRIPT = ROOT / "deploy" / "compose" / "nginx-tls.sh"
UNPACKED_NGINX = ROOT / "build" / "nginx-deps" / "root" / "usr" / "sbin" / "nginx"
MIB = 1024 * 1024
#: a client address other than the proxy's own (all of 127/8 is loopback on Linux)
CLIENT = "127.0.0.2"


def nginx_binary() -> str:
    if UNPACKED_NGINX.exists():
        return str(UNPACKED_NGINX)
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    if not found:
        raise AssertionError("no nginx: run `make nginx-deps` (unpacks Debian's nginx into build/nginx-deps)")
    return str(found)


def proxy_config(folder: Path, tls: Path, web_port: int, https_port: int, http_port: int) -> Path:
    """deploy/compose/nginx-web.conf with the test's ports, certificate folder and web
    address, inside a main configuration like the nginx image's (which includes it in
    `http { }`), its files under ``folder``."""
    text = CONF.read_text(encoding="utf-8")
    for old, new in (("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;"),
                     ("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;"),
                     ("ssl_certificate /etc/nginx/tls/", f"ssl_certificate {tls}/"),
                     ("ssl_certificate_key /etc/nginx/tls/", f"ssl_certificate_key {tls}/"),
                     ("set $pipeline_web http://web:8000;", f"set $pipeline_web http://127.0.0.1:{web_port};")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (folder / "default.conf").write_text(text, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                                "uwsgi", "scgi"))
    main = folder / "nginx.conf"
    main.write_text(f"""{"user root root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {folder / "access.log"};
{temp}
    include {folder / "default.conf"};
}}
""", encoding="utf-8")
    return main


@dataclass
class Proxied:
    https_port: int
    http_port: int
    web_port: int
    cafile: Path
    env: dict[str, str]
    folder: Path

    def tls(self) -> ssl.SSLContext:
        """A client that verifies the proxy's certificate (the self-signed one, for localhost)."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def https(self, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", self.https_port, context=self.tls(), timeout=30,
                                           source_address=(source, 0))

    def audit(self) -> list[dict]:
        return Composition(load_settings(env=self.env)).web_accounts.audit_log()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    folder = tmp_path_factory.mktemp("proxy")
    tls = folder / "tls"
    made = subprocess.run(["sh", str(TLS_SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TLS_DIR": str(tls), "PIPELINE_WEB_PUBLIC_URL": "https://localhost/"})
    assert made.returncode == 0, made.stderr
    data = folder / "data"
    data.mkdir()
    # the web trusts forwarded headers from a network holding the proxy's address (as in
    # compose), not from CLIENT
    env = {"PIPELINE_DATA_DIR": str(data), "PIPELINE_WEB_SECRET": "p" * 40, "PIPELINE_WEB_HTTPS": "1",
           "PIPELINE_WEB_TRUSTED_PROXIES": "127.0.0.0/31"}
    with web_process(env, folder / "web.log") as address:
        web_port = urllib.parse.urlsplit(address).port
        https_port, http_port = free_loopback_port(), free_loopback_port()
        conf = proxy_config(folder, tls, web_port, https_port, http_port)
        nginx = nginx_binary()
        tested = subprocess.run([nginx, "-t", "-p", str(folder), "-c", str(conf)], capture_output=True, text=True,
                                timeout=30)
        assert tested.returncode == 0 and "test is successful" in tested.stderr, tested.stderr
        assert "[warn]" not in tested.stderr and "[emerg]" not in tested.stderr, tested.stderr
        process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            def listening() -> bool:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                try:
                    socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                    return True
                except OSError:
                    return False

            wait_until(listening, 20, message="nginx")
            yield Proxied(https_port, http_port, web_port, tls / "fullchain.pem", env, folder)
        finally:
            process.terminate()
            process.wait(timeout=20)


def session_cookie(response: http.client.HTTPResponse) -> tuple[str, str]:
    """(the Set-Cookie header of the session, "name=value")."""
    (header,) = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
    return header, header.split(";", 1)[0]


def test_the_login_page_comes_over_https_with_a_secure_cookie_and_hsts(proxied: Proxied):
    connection = proxied.https()
    connection.request("GET", "/login")
    response = connection.getresponse()
    body = response.read().decode("utf-8")
    assert response.status == 200 and "登录" in body
    header, _ = session_cookie(response)
    attributes = [part.strip().lower() for part in header.split(";")]
    assert header.startswith("__Host-pipeline_session=")
    assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain=") for a in attributes), "__Host- cookies have no Domain"
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    # the certificate was verified (host name localhost) by the context: TLS 1.2 at least
    assert connection.sock.version() in ("TLSv1.2", "TLSv1.3")
    connection.close()


def test_plain_http_is_redirected_to_https(proxied: Proxied):
    connection = http.client.HTTPConnection("127.0.0.1", proxied.http_port, timeout=30)
    connection.request("GET", "/packages/R20261127-7K3F9QAB?x=1", headers={"Host": "report.example.gov.cn"})
    response = connection.getresponse()
    response.read()
    assert response.status == 301
    assert response.getheader("Location") == "https://report.example.gov.cn/packages/R20261127-7K3F9QAB?x=1"
    connection.close()


def failed_login(connection: http.client.HTTPConnection, forged: str | None = None) -> int:
    """A log-in with a wrong password (the CSRF token and cookie of the log-in page first),
    with a forged X-Forwarded-For if given: the answer's status."""
    connection.request("GET", "/login")
    page = connection.getresponse()
    html = page.read().decode("utf-8")
    _, cookie = session_cookie(page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode({"name": f"nobody-{forged}", "password": "wrong password!", "csrf_token": token})
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    if forged:
        headers["X-Forwarded-For"] = forged
    connection.request("POST", "/login", body=form, headers=headers)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def test_the_client_address_reaches_the_web_and_a_forged_one_does_not(proxied: Proxied):
    # through the proxy, from CLIENT, forging an address: the web sees CLIENT (the proxy
    # replaced the header, and the web believed the proxy)
    assert failed_login(proxied.https(CLIENT), forged="203.0.113.7") == 401
    # straight to the web from CLIENT, forging: CLIENT is no trusted proxy, not believed
    direct = http.client.HTTPConnection("127.0.0.1", proxied.web_port, timeout=30, source_address=(CLIENT, 0))
    assert failed_login(direct, forged="198.51.100.9") == 401
    clients = {row["user_name"]: row["detail"]["client"] for row in proxied.audit() if row["action"] == "login-failed"}
    assert clients["nobody-203.0.113.7"] == CLIENT, "not the proxy's own 127.0.0.1, nor the forged one"
    assert clients["nobody-198.51.100.9"] == CLIENT


#: one MiB of a posted form: 32 fields of 32 KiB (the web's form parser takes fields of
#: at most 1 MiB, and 1000 of them)
FORM_MIB = (b"x=" + b"a" * (32 * 1024 - 3) + b"&") * 32
assert len(FORM_MIB) == MIB


def raw_request(proxied: Proxied, length: int, body_mib: int = 0) -> ssl.SSLSocket:
    """A form post of Content-Length ``length`` to the log-in, over TLS, with the first
    ``body_mib`` MiB of its body sent: the socket, for more or the answer."""
    sock = proxied.tls().wrap_socket(socket.create_connection(("127.0.0.1", proxied.https_port), timeout=30),
                                     server_hostname="localhost")
    sock.sendall(("POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode("ascii"))
    for _ in range(body_mib):
        sock.sendall(FORM_MIB)
    return sock


def answer_of(sock: ssl.SSLSocket) -> tuple[int, dict[str, str]]:
    """The status and the headers (names in lower case) of the answer on ``sock``."""
    stream = sock.makefile("rb")
    status = int(stream.readline().decode("ascii").split()[1])
    headers = {}
    while (line := stream.readline().decode("latin-1").strip()):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def test_a_body_of_20_mib_passes_and_a_larger_one_is_refused_by_the_proxy(proxied: Proxied):
    # over the limit: refused from the header alone, nothing sent on to the web
    sock = raw_request(proxied, 20 * MIB + 1)
    status, headers = answer_of(sock)
    sock.close()
    assert status == 413 and "content-security-policy" not in headers  # the proxy's answer
    # exactly 20 MiB: it reaches the web, which reads it all and refuses the post for its
    # missing CSRF token (403)
    sock = raw_request(proxied, 20 * MIB, body_mib=20)
    status, headers = answer_of(sock)
    sock.close()
    assert status == 403 and "content-security-policy" in headers  # the web's answer


def connections_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:``port`` (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and remote == f"0100007F:{port:04X}":
            count += 1
    return count


def test_a_request_body_is_streamed_to_the_web_while_it_arrives(proxied: Proxied):
    """With request buffering (nginx's default) the proxy would open its connection to the
    web only once the whole body had arrived; streaming, it is open while the body is
    still coming."""
    before = connections_to(proxied.web_port)
    sock = raw_request(proxied, 8 * MIB, body_mib=1)  # one MiB of eight, then nothing for now
    try:
        wait_until(lambda: connections_to(proxied.web_port) > before, 10,
                   message="the proxy's connection to the web while the body is incomplete")
        for _ in range(7):
            sock.sendall(FORM_MIB)
        status, headers = answer_of(sock)
        assert status == 403 and "content-security-policy" in headers  # all of it read by the web
    finally:
        sock.close()


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1", "127.0.0.1"), (" 172.31.254.0/28 , 10.0.0.5 ", "172.31.254.0/28,10.0.0.5"), ("*", "*"),
    ("::1,fd00::/8", "::1,fd00::/8"),
])
def test_trusted_proxies_setting(value: str, expected: str):
    assert load_settings(env={"PIPELINE_WEB_TRUSTED_PROXIES": value}).web_trusted_proxies == expected
    assert load_settings(env={}).web_trusted_proxies == "127.0.0.1"


@pytest.mark.parametrize("value", ["", "web-proxy", "172.31.254.1/28", "127.0.0.1,*", "300.1.1.1"])
def test_trusted_proxies_that_uvicorn_would_not_match_are_refused(value: str):
    with pytest.raises(SettingsError, match="PIPELINE_WEB_TRUSTED_PROXIES"):
        load_settings(env={"PIPELINE_WEB_TRUSTED_PROXIES": value})
