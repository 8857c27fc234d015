"""The deployment files (deploy/) agree with the code.

No Docker engine runs on the machines of this project, so the compose stack itself is not
started here. What is checked instead, against the code rather than against copies of it:

- docker-compose.yml: the services, Redis' persistence flags, the pipeline services'
  environment (only settings of pipeline/app/settings.py, and loadable by ``load_settings``),
  the Procfile's commands, the shared SFTP volume, every variable it interpolates;
- .env.example and systemd/pipeline.env.example: every name, and the defaults they show;
- Dockerfile: the files it copies make a working tree (``pipeline example`` + ``pipeline
  check`` run on exactly those files, laid out as in the image, schemas included);
- the shell scripts: syntax, and the logic of minio-init.sh / sshd-entrypoint.sh /
  institution-account.sh run against stand-in commands (nginx-tls.sh with the real openssl);
- the web and its TLS proxy: the web's settings, the proxy's mounts, ports, network and the
  directives of compose/nginx-web.conf (tests/test_web_proxy.py runs that file with a real
  nginx in front of a real `pipeline web`);
- the systemd units: their commands (Procfile), their variables, ``systemd-analyze verify``;
- the documents: every relative link resolves.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import schemas
from pipeline.check import documents, forms
from pipeline.app.settings import ENV_NAMES, Settings, load_settings
from pipeline.intake.s3_store import parse_inbox_key
from workers.queues import DECISIONS, MAIL, PACKAGES, QUEUES, SELF_CHECKS
from tests.support.compose_files import (COMPOSE_FILE, DEPLOY, ENV_EXAMPLE, ROOT, SETTINGS_VARS, compose,
                                         environment_of, example_env, interpolate, read_dotenv, references,
                                         resolved, services)

DOCKERFILE = DEPLOY / "Dockerfile"
UNITS = DEPLOY / "systemd"
SHELL_SCRIPTS = [DEPLOY / "compose" / "sshd-entrypoint.sh", DEPLOY / "compose" / "institution-account.sh",
                 DEPLOY / "sftp" / "institution-account"]
POSIX_SCRIPTS = [DEPLOY / "compose" / "minio-init.sh",  # runs under the mc image's /bin/sh
                 DEPLOY / "compose" / "postgres-init.sh",  # and the postgres image's
                 DEPLOY / "compose" / "nginx-tls.sh"]  # and the nginx image's

#: .env.example names that are not pipeline settings: they configure other containers
STACK_VARS = {
    "REDIS_PASSWORD": "Redis' requirepass; REDIS_URL is built from it",
    "CATALOGUE_DB_PASSWORD": "the catalogue PostgreSQL's password; DATABASE_URL is built from it",
    "MINIO_ROOT_USER": "MinIO's root account (minio, minio-init)",
    "MINIO_ROOT_PASSWORD": "MinIO's root account (minio, minio-init)",
    "PUBLISH_SFTP_PORT": "host port of sshd",
    "PUBLISH_MINIO_PORT": "host port of MinIO's S3 API",
    "PUBLISH_MINIO_CONSOLE_PORT": "host port of MinIO's console",
    "PUBLISH_MAILPIT_PORT": "host port of the mail catcher's web page",
    "PUBLISH_HTTPS_PORT": "host port of the web proxy's HTTPS",
    "PUBLISH_HTTP_PORT": "host port of the web proxy's plain HTTP (redirects to HTTPS)",
    "WEB_PROXY_SUBNET": "the network of web-proxy and web; the web trusts forwarded headers from it",
}
#: variables of the other programs, allowed in the environment of these services only
OTHER_SERVICE_ENV = {
    "redis": {"REDISCLI_AUTH"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio-init": {"MC_HOST_local"},
    "mailpit": {"MP_DATABASE", "MP_MAX_MESSAGES"},
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "web-proxy": set(),  # PIPELINE_WEB_PUBLIC_URL only (the self-signed certificate's host)
}
PIPELINE_SERVICES = ("watcher", "worker", "announcer", "mailer", "sftp-watcher", "sftp-worker", "sftp-announcer",
                     "sftp-mailer", "web")
NGINX_CONF = DEPLOY / "compose" / "nginx-web.conf"
TLS_SCRIPT = DEPLOY / "compose" / "nginx-tls.sh"
#: what the units may set besides settings: Dramatiq's poll interval (the Procfile's
#: prefix) and the worker instances' queue selection
UNIT_VARS = {"dramatiq_worker_timeout", "WORKER_QUEUES"}
#: settings that systemd/pipeline.env.example leaves out on purpose
UNDOCUMENTED_IN_ENV_FILE = {
    "PIPELINE_LOG_FORMAT",  # the units set json
    "PIPELINE_FAULT_POINTS",  # fault injection of the reliability tests
    "PIPELINE_METRICS_PORT", "PIPELINE_METRICS_ADDR",  # the metrics endpoint, documented with it
}


# -- readers --------------------------------------------------------------------------------
def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def procfile_queues(command: str) -> set[str]:
    """The queues a Procfile entry's Dramatiq consumes: the words after ``--queues``."""
    tokens = shlex.split(command)
    assert tokens.count("--queues") == 1, command
    queues = tokens[tokens.index("--queues") + 1:]
    assert queues and not any(q.startswith("-") for q in queues), command
    return set(queues)


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions (keyword, arguments) of each stage, continuation lines joined."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    logical = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not logical and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            logical += raw.rstrip()[:-1] + " "
            continue
        logical += raw
        keyword, _, args = logical.strip().partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            match = re.match(r"(\S+)\s+AS\s+(\S+)", args.strip(), re.IGNORECASE)
            assert match, f"every stage is named: FROM {args}"
            current = stages.setdefault(match.group(2), [])
            current.append(("FROM", match.group(1)))
        else:
            current.append((keyword.upper(), args.strip()))
    return stages


def dockerfile_env(stage: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_stages()[stage]:
        if keyword == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def unit(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a systemd unit file, in order (keys may repeat)."""
    entries, section = [], ""
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(name: str, key: str) -> list[str]:
    return [value for _, k, value in unit(name) if k == key]


def unit_environment(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in unit_values(name, "Environment"):
        for item in shlex.split(value):
            var, _, val = item.partition("=")
            env[var] = val
    return env


def setting_default(var: str) -> Any:
    return getattr(Settings(), ENV_NAMES[var])


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, **kwargs)


# -- docker-compose.yml ---------------------------------------------------------------------
def test_compose_has_the_whole_stack() -> None:
    found = services()
    for name in ("redis", "minio", "minio-init", "sshd", "web-proxy", *PIPELINE_SERVICES):
        assert name in found, f"service {name} missing"
    assert {"mailpit", "mailhog"} & set(found), "no mail catcher"
    assert found["minio-init"]["restart"] == "no", "the bucket job runs once per `up`"
    for name in ("redis", "minio", "mailpit", "sshd", "web-proxy", *PIPELINE_SERVICES):
        assert found[name].get("restart") in ("unless-stopped", "always"), name
    # the pipelines wait for what they need
    for name in ("watcher", "worker"):
        deps = found[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
    for name in ("sftp-watcher", "sftp-worker", "web"):
        assert found[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert found[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_redis_keeps_everything_it_is_given() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert isinstance(command, list) and command[0] == "redis-server"
    pairs = dict(zip(command[1::2], command[2::2]))
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "everysec"
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert "--requirepass" in pairs
    assert any(str(v).endswith(":/data") for v in redis["volumes"]), "AOF on a volume"
    assert "healthcheck" in redis


def test_pipeline_services_see_only_settings() -> None:
    for name in PIPELINE_SERVICES:
        service = services()[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["build"]["target"] == "pipeline"
        assert (COMPOSE_FILE.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        env = environment_of(service)
        unknown = set(env) - SETTINGS_VARS
        assert not unknown, f"{name}: not pipeline settings: {sorted(unknown)}"
        assert "env_file" not in service, f"{name}: env_file would hand every .env name to the pipeline"


def test_other_services_see_only_their_own_variables() -> None:
    for name, allowed in OTHER_SERVICE_ENV.items():
        env = environment_of(services()[name])
        assert set(env) <= allowed | SETTINGS_VARS, f"{name}: {sorted(set(env) - allowed - SETTINGS_VARS)}"
    # the bucket job creates exactly the buckets the pipeline uses
    init_env = environment_of(services()["minio-init"])
    for var in ("S3_INBOX_BUCKET", "S3_ARCHIVE_BUCKET", "S3_QUARANTINE_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert init_env[var] == environment_of(services()["worker"])[var], var


def test_every_pipeline_service_loads_its_settings() -> None:
    env = example_env()
    loaded = {}
    for name in PIPELINE_SERVICES:
        service_env = resolved(environment_of(services()[name]), env)
        settings = load_settings(env=service_env)
        loaded[name] = settings
        assert settings.redis_url and settings.redis_url.startswith("redis://"), name
        assert settings.smtp_url and settings.mail_from and settings.operator_email, name
    for name in ("watcher", "worker"):
        s = loaded[name]
        assert s.storage == "s3"
        assert s.s3_endpoint and s.s3_endpoint.split(":")[0] == "minio"
        assert not s.s3_secure, "MinIO inside the stack speaks plain HTTP"
    for name in ("sftp-watcher", "sftp-worker", "web"):
        assert loaded[name].storage == "fs"
    # watcher and workers of one intake share Redis and its records; the two intakes never
    # share a queue (one store per pipeline)
    def pipeline_key(s: Settings) -> tuple[str | None, str]:
        return s.redis_url, s.namespace
    assert pipeline_key(loaded["watcher"]) == pipeline_key(loaded["worker"])
    assert pipeline_key(loaded["sftp-watcher"]) == pipeline_key(loaded["sftp-worker"])
    # the web shows the SFTP pipeline: its Redis, catalogue, key and store
    assert pipeline_key(loaded["web"]) == pipeline_key(loaded["sftp-watcher"])
    for field in ("database_url", "catalogue_key", "data_dir", "institutions_path", "policy_path"):
        assert getattr(loaded["web"], field) == getattr(loaded["sftp-watcher"], field), field
    assert pipeline_key(loaded["watcher"]) != pipeline_key(loaded["sftp-watcher"])
    # the mail catcher is the default mail server
    assert loaded["worker"].smtp_url == "smtp://mailpit:1025"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    example = read_dotenv(ENV_EXAMPLE)
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = {name for name, op in references(text) if op in (":?", "?")}
    for secret in ("REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "S3_SECRET_KEY", "CATALOGUE_DB_PASSWORD",
                   "PIPELINE_CATALOGUE_KEY", "PIPELINE_WEB_SECRET"):
        assert secret in required, f"{secret} must be required (${{{secret}:?...}})"
        assert example[secret] == "", f".env.example must not ship a value for {secret}"
    with pytest.raises(LookupError):
        resolved(compose(), read_dotenv(ENV_EXAMPLE))


def test_compose_variables_are_declared() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    example = read_dotenv(ENV_EXAMPLE)
    refs = list(references(text))
    assert refs, "compose interpolates nothing?"
    for name, op in refs:
        assert name in SETTINGS_VARS or name in STACK_VARS, f"${{{name}}}: neither a setting nor a stack variable"
        if op in (None, ":?", "?"):
            assert name in example, f"${{{name}}} has no default and is not in .env.example"
    # a bare $ that is not an interpolation would be one to compose
    assert not re.search(r"(?<!\$)\$(?![${A-Za-z_])", text.replace("$$", ""))


def test_env_example_names_are_settings_or_stack_variables() -> None:
    example = read_dotenv(ENV_EXAMPLE)
    assert example, "no NAME=value line found"
    used = {name for name, _ in references(COMPOSE_FILE.read_text(encoding="utf-8"))}
    for name in example:
        assert name in SETTINGS_VARS or name in STACK_VARS, f".env.example: {name} is no setting (pipeline/app/settings.py)"
        assert name in used, f".env.example: {name} is not used by docker-compose.yml"
    for name in STACK_VARS:
        assert name in example, f"{name} is not in .env.example"


def test_compose_commands_are_the_procfile_ones() -> None:
    proc = procfile()
    assert shlex.split(proc["watcher"]) == ["pipeline", "watch"]
    for name in ("watcher", "sftp-watcher"):
        assert services()[name]["command"] == ["pipeline", "watch"], name
    assert services()["web"]["command"] == shlex.split(proc["web"]) == ["pipeline", "web"]
    for name, role in (("worker", "worker"), ("sftp-worker", "worker"), ("announcer", "announcer"),
                       ("sftp-announcer", "announcer"), ("mailer", "mailer"), ("sftp-mailer", "mailer")):
        command = services()[name]["command"]
        assert command[:2] == ["sh", "-c"], name
        script = interpolate(command[2], {})  # compose's pass: $$ -> $
        lines = [line.strip() for line in script.strip().splitlines()]
        # nothing before Dramatiq: each worker process removes stale scratch itself at
        # start (pipeline/app/worker.py; tests/test_actors.py)
        assert lines == ["exec env " + proc[role]], f"{name}: {lines!r}"
    # the layout of a `pipeline worker` process (pipeline/app/worker.py): packages and
    # self-checks, announcements, receipt mails each on processes of their own, so a package
    # never waits behind a catalogue write or a mail; and no queue goes without a consumer
    queues = {role: procfile_queues(proc[role]) for role in ("worker", "announcer", "mailer")}
    assert queues == {"worker": {PACKAGES, SELF_CHECKS}, "announcer": {DECISIONS}, "mailer": {MAIL}}
    assert set().union(*queues.values()) == {PACKAGES, DECISIONS, MAIL, SELF_CHECKS} == set(QUEUES)
    assert sum(len(q) for q in queues.values()) == len(QUEUES)  # no queue shared by two roles
    # the announcer is one process of one thread: announcements are a few ms each
    assert re.search(r" --processes 1 --threads 1 --queues ", proc["announcer"]), proc["announcer"]


def test_sftp_volume_is_the_pipelines_inbox() -> None:
    found = services()
    sshd_env = dockerfile_env("sshd")
    inbox = Path(sshd_env["PIPELINE_INBOX"])

    def volume_at(service: dict[str, Any], target: Path) -> str:
        for volume in service["volumes"]:
            source, _, rest = volume.partition(":")
            if Path(rest.split(":")[0]) == target:
                return source
        raise AssertionError(f"nothing mounted at {target}")

    shared = volume_at(found["sshd"], inbox.parent)
    assert shared in compose()["volumes"], "a named volume"
    for name in ("sftp-watcher", "sftp-worker", "web"):
        data_dir = Path(environment_of(found[name])["PIPELINE_DATA_DIR"])
        assert volume_at(found[name], data_dir) == shared, name
    # sshd's inbox is the pipeline's inbox folder of that volume
    assert load_settings(env={"PIPELINE_DATA_DIR": str(inbox.parent)}).inbox_dir == inbox
    # the published port is the one sshd listens on
    assert any(str(p).endswith(f":{sshd_env['SSHD_PORT']}") for p in found["sshd"]["ports"])
    assert "SYS_ADMIN" in found["sshd"]["cap_add"], "bind mounts of the upload folders"
    assert found["sshd"]["build"]["target"] == "sshd"


# -- the web and its TLS proxy ----------------------------------------------------------------
def nginx_directives(text: str) -> list[tuple[tuple[str, ...], str, list[str]]]:
    """(enclosing blocks, directive, arguments) of an nginx configuration, in order. Raises
    on what nginx would refuse at this level: unbalanced braces, a directive without its
    ";", an unterminated quote."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[{};]|[^\s{};"\']+|["\']',
                        re.sub(r"(?m)#.*$", "", text))
    found: list[tuple[tuple[str, ...], str, list[str]]] = []
    stack: list[str] = []
    words: list[str] = []
    for token in tokens:
        assert token not in ('"', "'"), "an unterminated quote"
        if token == ";":
            assert words, "an empty directive"
            found.append((tuple(stack), words[0], words[1:]))
            words = []
        elif token == "{":
            assert words, "a block without a name"
            found.append((tuple(stack), words[0], words[1:]))
            stack.append(" ".join(words))
            words = []
        elif token == "}":
            assert not words, f"{words[0]} lacks its ;"
            assert stack, "an unmatched }"
            stack.pop()
        else:
            words.append(token.strip("\"'"))
    assert not stack and not words, f"unclosed {stack or words}"
    return found


def test_nginx_directive_reader_refuses_broken_files() -> None:
    good = "server { listen 80; location / { return 301 https://$host$request_uri; } }"
    assert [d[1] for d in nginx_directives(good)] == ["server", "listen", "location", "return"]
    for broken in ("server { listen 80 }", "server { listen 80;", "listen 80; }", 'a "b;'):
        with pytest.raises(AssertionError):
            nginx_directives(broken)


def test_the_web_is_reached_only_through_its_tls_proxy() -> None:
    found = services()
    web, proxy = found["web"], found["web-proxy"]
    env = resolved(environment_of(web), example_env())
    settings = load_settings(env=env)
    assert settings.web_https and settings.web_addr == "0.0.0.0" and settings.web_port
    assert len(settings.web_secret) >= 32 and "PIPELINE_WEB_SECRET" in environment_of(web)
    assert "ports" not in web, "the web is not published: only the proxy is"
    # the proxy: the official nginx image, this file as its server, the certificate script
    # among its start-up scripts, the certificate folder
    assert proxy["image"].startswith("nginx:") and "build" not in proxy
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in proxy["volumes"]}
    assert (DEPLOY / mounts["/etc/nginx/conf.d/default.conf"]).resolve() == NGINX_CONF
    (script_at,) = [target for target in mounts if target.startswith("/docker-entrypoint.d/")]
    assert script_at.endswith(".sh") and (DEPLOY / mounts[script_at]).resolve() == TLS_SCRIPT
    assert os.access(TLS_SCRIPT, os.X_OK), "the nginx image runs only executable scripts"
    assert mounts["/etc/nginx/tls"] == "./tls" and (DEPLOY / "tls").is_dir()
    directives = nginx_directives(NGINX_CONF.read_text(encoding="utf-8"))
    values = {name: args for _, name, args in directives}
    for key in ("ssl_certificate", "ssl_certificate_key"):
        assert values[key][0].startswith("/etc/nginx/tls/"), key
    # published: 443 and 80, onto the ports the servers listen on
    published = {int(interpolate(p, {}).rsplit(":", 1)[1]): int(interpolate(p, {}).rsplit(":", 2)[-2])
                 for p in proxy["ports"]}
    assert set(published) == {443, 80} and published == {443: 443, 80: 80}
    listens = [args for _, name, args in directives if name == "listen"]
    assert ["443", "ssl", "default_server"] in listens and ["80", "default_server"] in listens
    redirect = [args for blocks, name, args in directives if name == "return"]
    assert redirect == [["301", "https://$host$request_uri"]]
    # forwarded to the web service, at its port, with the client's address and scheme
    (upstream,) = [args for _, name, args in directives if name == "set" and args[0] == "$pipeline_web"]
    assert upstream[1] == f"http://web:{settings.web_port}"
    assert ["$pipeline_web"] in [args for _, name, args in directives if name == "proxy_pass"]
    headers = {args[0]: args[1] for _, name, args in directives if name == "proxy_set_header"}
    assert headers["X-Forwarded-For"] == "$remote_addr" and headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["Host"] == "$host"
    # uploads: chunks of 16 MiB fit under the limit; bodies are streamed, not spooled
    limit = values["client_max_body_size"][0]
    assert limit.endswith("m") and 16 < int(limit[:-1]) <= 32
    assert values["proxy_request_buffering"] == ["off"] and values["proxy_http_version"] == ["1.1"]
    # the web believes forwarded headers from the proxy's network only, and the proxy is
    # on that network alone
    assert proxy["networks"] == ["web-front"] and set(web["networks"]) == {"default", "web-front"}
    (subnet,) = [c["subnet"] for c in compose()["networks"]["web-front"]["ipam"]["config"]]
    assert settings.web_trusted_proxies == interpolate(subnet, example_env())
    # the receipt mails of the pipeline the web shows link to it
    assert environment_of(found["sftp-mailer"])["PIPELINE_WEB_PUBLIC_URL"] == \
        environment_of(proxy)["PIPELINE_WEB_PUBLIC_URL"]


@pytest.mark.parametrize("url, host, san", [("https://report.example.gov.cn/", "report.example.gov.cn",
                                              "DNS:report.example.gov.cn"),
                                             ("https://10.0.0.5:8443/x", "10.0.0.5", "IP Address:10.0.0.5"),
                                             ("", "localhost", "DNS:localhost")])
def test_nginx_tls_script_makes_a_self_signed_pair_once(tmp_path: Path, url: str, host: str, san: str) -> None:
    tls = tmp_path / "tls"
    env = {**os.environ, "TLS_DIR": str(tls), "PIPELINE_WEB_PUBLIC_URL": url}
    made = run(["sh", str(TLS_SCRIPT)], env=env)
    assert made.returncode == 0, made.stderr
    cert, key = tls / "fullchain.pem", tls / "privkey.pem"
    shown = run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName"])
    assert f"CN = {host}" in shown.stdout and san in shown.stdout, shown.stdout
    assert run(["openssl", "pkey", "-in", str(key), "-noout"]).returncode == 0
    assert key.stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
    # a pair that is there (a real certificate copied in) is kept as it is
    before = cert.read_bytes(), key.read_bytes()
    assert run(["sh", str(TLS_SCRIPT)], env=env).returncode == 0
    assert (cert.read_bytes(), key.read_bytes()) == before
    # half a pair stops the proxy instead of serving a certificate without its key
    key.unlink()
    half = run(["sh", str(TLS_SCRIPT)], env=env)
    assert half.returncode == 1 and "both" in half.stderr and not key.exists()


def test_bind_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source}"


# -- minio-init.sh --------------------------------------------------------------------------
def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def fake_mc(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    _stub(stubs, "mc", """echo "$*" >> "$MC_LOG"
case "$1 $2 $3" in
  "admin policy create") cp "$6" "$MC_POLICIES/$5.json" ;;
  "admin policy attach") exit "${MC_ATTACH_RC:-0}" ;;
  "admin user info") echo "${MC_USER_INFO:-}" ;;
esac
exit 0
""")
    (tmp_path / "policies").mkdir()
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "MC_LOG": str(tmp_path / "mc.log"),
           "MC_POLICIES": str(tmp_path / "policies"), "TMPDIR": str(tmp_path),
           "MC_HOST_local": "http://root:secret@minio:9000", "S3_ACCESS_KEY": "pipe",
           "S3_SECRET_KEY": "s3cret", "S3_INBOX_BUCKET": "in-b", "S3_ARCHIVE_BUCKET": "ar-b",
           "S3_QUARANTINE_BUCKET": "qu-b"}
    return tmp_path, env


def test_minio_init_makes_buckets_account_and_policies(fake_mc: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = fake_mc
    result = run(["sh", str(DEPLOY / "compose" / "minio-init.sh")], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "mc.log").read_text().splitlines()
    for bucket in ("in-b", "ar-b", "qu-b"):
        assert f"mb --ignore-existing local/{bucket}" in calls
    assert "version enable local/in-b" in calls
    assert "admin user add local pipe s3cret" in calls
    assert "admin policy attach local pipeline --user pipe" in calls

    pipeline_policy = json.loads((tmp_path / "policies" / "pipeline.json").read_text())
    granted: dict[str, set[str]] = {}
    for statement in pipeline_policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            granted.setdefault(resource, set()).update(statement["Action"])
    # what docs/s3.md says the pipeline needs
    assert {"s3:ListBucket", "s3:ListenBucketNotification"} <= granted["arn:aws:s3:::in-b"]
    assert {"s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= granted["arn:aws:s3:::in-b/*"]
    # folders and loose files uploaded key by key are packed into one ZIP put into the inbox (issue 15)
    assert "s3:PutObject" in granted["arn:aws:s3:::in-b/*"]
    assert "s3:ListBucketMultipartUploads" in granted["arn:aws:s3:::in-b"]
    for bucket in ("ar-b", "qu-b"):
        assert "s3:ListBucket" in granted[f"arn:aws:s3:::{bucket}"]
        assert {"s3:PutObject", "s3:GetObject"} <= granted[f"arn:aws:s3:::{bucket}/*"]
    assert "s3:DeleteObject" not in granted["arn:aws:s3:::ar-b/*"], "archived packages are never deleted"
    # the journal's records (announcements, mail states) are removed once settled: only they
    assert granted["arn:aws:s3:::ar-b/journal/*"] == {"s3:DeleteObject"}

    institution = json.loads((tmp_path / "policies" / "institution-upload.json").read_text())
    (statement,) = institution["Statement"]
    assert statement["Action"][0] == "s3:PutObject" and "s3:GetObject" not in statement["Action"]
    (resource,) = statement["Resource"]
    assert resource == "arn:aws:s3:::in-b/inbox/${aws:username}/*"
    # the key an institution may write is one the watcher takes, with the account in it
    key = resource.split(":::in-b/")[1].replace("${aws:username}", "xinghuo").replace("*", "x.zip")
    parsed = parse_inbox_key(key)
    assert parsed is not None and parsed.account == "xinghuo" and parsed.in_scope


@pytest.mark.parametrize("holds_policy, expected_rc", [(True, 0), (False, 1)])
def test_minio_init_accepts_an_attached_policy_only_when_it_is_there(
        fake_mc: tuple[Path, dict[str, str]], holds_policy: bool, expected_rc: int) -> None:
    _, env = fake_mc
    env = {**env, "MC_ATTACH_RC": "1", "MC_USER_INFO": "PolicyName: pipeline" if holds_policy else "PolicyName: "}
    result = run(["sh", str(DEPLOY / "compose" / "minio-init.sh")], env=env)
    assert result.returncode == expected_rc, result.stdout + result.stderr


# -- the sshd container ---------------------------------------------------------------------
@pytest.fixture
def sshd_stubs(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    for name in ("useradd", "usermod"):
        _stub(stubs, name, f'echo "{name} $*" >> "$CALLS"\n')
    _stub(stubs, "getent", "exit 2\n")  # no such user: the container is new
    _stub(stubs, "id", 'echo "${STUB_UID:-20005}"\n')
    _stub(stubs, "install", """while [ $# -gt 0 ]; do
  case "$1" in -d) ;; -o|-g|-m) shift ;; *) mkdir -p "$1" ;; esac; shift
done
""")
    _stub(stubs, "real-institution-account", """echo "institution-account $*" >> "$CALLS"
if [ "${2:-}" ] && [ "${3:-}" = "-" ]; then sed 's/^/  key: /' >> "$CALLS"; fi
exit "${REAL_RC:-0}"
""")
    _stub(stubs, "sshd", 'echo "sshd $*" >> "$CALLS"\n')
    state = tmp_path / "state"
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "CALLS": str(log), "SFTP_STATE": str(state),
           "KEYS_DIR": str(state / "keys"), "PIPELINE_INBOX": str(tmp_path / "data" / "inbox"),
           "INSTITUTION_ACCOUNT": str(stubs / "real-institution-account"), "SSHD": str(stubs / "sshd"),
           "SSHD_CONFIG": str(tmp_path / "sshd_config")}
    return tmp_path, env


def test_sshd_entrypoint_brings_back_every_account(sshd_stubs: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = sshd_stubs
    keys = tmp_path / "state" / "keys"
    keys.mkdir(parents=True)
    (keys / "xinghuo").write_text("restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 office\n")
    (tmp_path / "state" / "accounts").write_text("xinghuo 20001\nold 20002\n")  # old: disabled, no keys
    result = run(["bash", str(DEPLOY / "compose" / "sshd-entrypoint.sh")], env=env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0] == "institution-account setup"
    adds = [c for c in calls if c.startswith("useradd")]
    assert any("--uid 20001" in c and c.endswith(" xinghuo") for c in adds)
    assert any("--uid 20002" in c and c.endswith(" old") for c in adds)
    add = calls.index("institution-account add xinghuo -")
    assert calls[add + 1] == "  key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 office", "keys handed back without restrict"
    assert "institution-account add old -" not in calls
    assert "usermod --lock --expiredate 1 old" in calls
    assert calls[-1] == f"sshd -D -e -f {env['SSHD_CONFIG']}"
    assert (tmp_path / "data" / "inbox").is_dir()


def test_institution_account_wrapper_records_user_ids(sshd_stubs: tuple[Path, dict[str, str]]) -> None:
    tmp_path, env = sshd_stubs
    (tmp_path / "state").mkdir()
    wrapper = str(DEPLOY / "compose" / "institution-account.sh")
    accounts = tmp_path / "state" / "accounts"
    assert run(["bash", wrapper, "add", "xinghuo", "-"], env=env, input="ssh-ed25519 AAAA x\n").returncode == 0
    assert run(["bash", wrapper, "add", "xinghuo", "-"], env=env, input="ssh-ed25519 AAAA x\n").returncode == 0
    assert accounts.read_text() == "xinghuo 20005\n"
    failed = run(["bash", wrapper, "add", "other", "-"], env={**env, "REAL_RC": "3"}, input="")
    assert failed.returncode == 3
    assert run(["bash", wrapper, "disable", "xinghuo"], env=env).returncode == 0
    assert accounts.read_text() == "xinghuo 20005\n"


# -- Dockerfile -----------------------------------------------------------------------------
def test_dockerfile_stages_and_their_environment() -> None:
    stages = dockerfile_stages()
    assert list(stages)[-1] == "pipeline", "the pipeline is the default target (the last stage)"
    assert stages["pipeline"][0][1].startswith("python:3.11-slim")
    for name in dockerfile_env("pipeline"):
        assert name in SETTINGS_VARS or name.startswith(("PYTHON", "PIP_")), name
    assert dockerfile_env("pipeline")["PIPELINE_DATA_DIR"] == "/data"
    account_settings = set(re.findall(r'^: "\$\{([A-Z_]+):=', (DEPLOY / "sftp" / "institution-account")
                                      .read_text(encoding="utf-8"), re.MULTILINE))
    assert {"PIPELINE_INBOX", "KEYS_DIR", "HOST_KEY", "SSHD_PORT"} <= account_settings
    for name in dockerfile_env("sshd"):
        assert name in account_settings | {"SFTP_STATE"}, f"sshd stage: {name} is no institution-account setting"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for stage in stages.values():
        for keyword, args in stage:
            if keyword == "COPY":
                for source in shlex.split(args)[:-1]:
                    assert (ROOT / source).exists(), source
                    assert f"!{source}" in ignore, f"{source} is left out of the build context"


def test_the_image_tree_runs_the_checks(tmp_path: Path) -> None:
    """Lay out exactly what the pipeline stage copies, where it copies it, and run the
    image's own smoke test (`pipeline example` + `pipeline check`) on that tree."""
    # the code finds the schemas through the `schemas` package (schemas/ at the project
    # root; package data of the wheel too, tests/test_packaging.py), so the image must copy it
    assert documents.SCHEMAS_DIR == Path(schemas.__file__).resolve().parent
    assert forms.SCHEMAS_DIR.parent == documents.SCHEMAS_DIR
    workdir = Path("/")
    image = tmp_path / "image"
    installed_from = None
    for keyword, args in dockerfile_stages()["pipeline"]:
        if keyword == "WORKDIR":
            workdir = workdir / args
        elif keyword == "COPY":
            *sources, dest = shlex.split(args)
            target = image / (workdir / dest).relative_to("/")
            for source in sources:
                src = ROOT / source
                if src.is_dir():  # Docker copies a folder's contents
                    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
                elif dest.endswith("/") or len(sources) > 1:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target)
        elif keyword == "RUN" and re.search(r"pip install -e \.(\s|$)", args):
            installed_from = workdir
    assert installed_from is not None, "the project is installed editable (pip install -e .)"
    project = image / installed_from.relative_to("/")
    assert (project / "pyproject.toml").is_file() and (project / "schemas" / "receipt.schema.json").is_file()
    env = {**os.environ, "PYTHONPATH": str(project), "PIPELINE_DATA_DIR": str(tmp_path / "data")}
    where = run([sys.executable, "-c",
                 "import pipeline, workers, schemas; print(pipeline.__file__, workers.__file__, schemas.__file__)"],
                env=env, cwd=tmp_path)
    assert where.stdout.split() == [str(project / package / "__init__.py") for package in ("pipeline", "workers", "schemas")]
    example = run([sys.executable, "-m", "pipeline", "example", "smoke"], env=env, cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    (package,) = (tmp_path / "smoke").glob("*.zip")
    check = run([sys.executable, "-m", "pipeline", "check", str(package)], env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


# -- systemd --------------------------------------------------------------------------------
def test_watcher_unit_runs_pipeline_watch() -> None:
    (exec_start,) = unit_values("pipeline-watcher.service", "ExecStart")
    binary, *args = shlex.split(exec_start)
    assert binary.endswith("/.venv/bin/pipeline") and args == ["watch"]
    assert shlex.split(procfile()["watcher"]) == ["pipeline", *args]


def test_worker_unit_runs_the_procfile_command() -> None:
    name = "pipeline-worker@.service"
    (exec_start,) = unit_values(name, "ExecStart")
    tokens = shlex.split(exec_start)
    assert tokens[0] == "/usr/bin/env" and tokens[-1] == "$WORKER_QUEUES"
    tokens = ["dramatiq" if t.endswith("/.venv/bin/dramatiq") else t for t in tokens[1:-1]]
    worker, queues = procfile()["worker"].split(" --queues ")
    defaults = dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", worker))
    expected = re.sub(r"\$\{([A-Z_]+):-[^}]*\}", r"${\1}", worker)
    assert tokens == shlex.split(expected)
    # the unit's defaults are the Procfile's, which are the settings' own
    env = unit_environment(name)
    assert defaults, "the Procfile gives defaults"
    for var, default in defaults.items():
        assert env[var] == default, var
        assert str(setting_default(var)) == default, var
    # the Procfile worker's queues; the decisions and mail instances set theirs (below)
    assert env["WORKER_QUEUES"] == f"--queues {queues}"
    assert "/etc/pipeline/worker-%i.env" in [v.lstrip("-") for v in unit_values(name, "EnvironmentFile")]
    assert unit_values(name, "KillMode") == ["mixed"]
    # stale scratch is removed by each worker process at start (pipeline/app/compose.py)
    assert unit_values(name, "ExecStartPre") == []


def unit_instances(name: str) -> dict[str, dict[str, str]]:
    """The instance files a unit's comments document: ``/etc/pipeline/worker-<instance>.env:
    NAME=value``, further ``NAME=value`` lines of the same file below it."""
    instances: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        start = re.match(r"^#\s+/etc/pipeline/worker-([\w-]+)\.env:\s+([A-Za-z_]+)=(.*)$", line)
        more = re.match(r"^#\s{20,}([A-Z_]+)=(\S+)", line)
        if start:
            current = instances.setdefault(start[1], {})
            current[start[2]] = start[3].strip()
        elif more and current is not None:
            current[more[1]] = more[2]
        elif not re.match(r"^#\s{20,}\(", line):  # a remark under a file's lines
            current = None
    return instances


def test_worker_unit_instances_are_the_procfile_roles() -> None:
    """The instances the worker unit documents are the Procfile's worker, announcer and
    mailer: the same queues and sizes, so every queue has a consumer and none is shared."""
    name = "pipeline-worker@.service"
    instances = unit_instances(name)
    proc = procfile()
    roles = {"packages": "worker", "decisions": "announcer", "mail": "mailer"}
    assert set(instances) == set(roles), instances
    for instance, role in roles.items():
        env = {**unit_environment(name), **instances[instance]}
        for var in instances[instance]:
            assert var in SETTINGS_VARS | UNIT_VARS, f"worker-{instance}.env: {var}"
        assert procfile_queues(env["WORKER_QUEUES"]) == procfile_queues(proc[role]), instance
        command = shlex.split(proc[role])
        processes, threads = command[command.index("--processes") + 1], command[command.index("--threads") + 1]
        if not processes.startswith("$"):
            assert env["PIPELINE_WORKER_PROCESSES"] == processes, instance
        if not threads.startswith("$"):
            assert env["PIPELINE_WORKER_THREADS"] == threads, instance
    (enable,) = [line for line in (UNITS / name).read_text(encoding="utf-8").splitlines()
                 if line.startswith("#") and "systemctl enable" in line]
    assert set(re.findall(r"pipeline-worker@([\w-]+)", enable)) == set(roles), enable
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for instance in roles:
        assert f"pipeline-worker@{instance}" in guide and f"worker-{instance}.env" in guide, instance


def test_web_unit_runs_pipeline_web() -> None:
    (exec_start,) = unit_values("pipeline-web.service", "ExecStart")
    binary, *args = shlex.split(exec_start)
    assert binary.endswith("/.venv/bin/pipeline") and args == ["web"]
    assert shlex.split(procfile()["web"]) == ["pipeline", *args]


@pytest.mark.parametrize("name", ["pipeline-watcher.service", "pipeline-worker@.service", "pipeline-web.service"])
def test_units_use_only_settings(name: str) -> None:
    entries = unit(name)
    assert unit_values(name, "User") == ["pipeline"]
    assert "/etc/pipeline/pipeline.env" in unit_values(name, "EnvironmentFile")
    for var in unit_environment(name):
        assert var in SETTINGS_VARS | UNIT_VARS, f"{name}: Environment={var}"
    for _, key, value in entries:
        if key.startswith("Exec"):
            for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", value):
                assert var in SETTINGS_VARS | UNIT_VARS, f"{name}: {key} uses ${var}"
            for item in shlex.split(value):
                if "=" in item and not item.startswith(("-", "/")) and re.match(r"^[A-Za-z_]+=", item):
                    assert item.split("=")[0] in UNIT_VARS | SETTINGS_VARS, item


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "pipeline").exists() and (venv_bin / "dramatiq").exists()
    copies = []
    for source in UNITS.glob("*.service"):
        text = source.read_text(encoding="utf-8").replace("/opt/pipeline/.venv/bin", str(venv_bin))
        text = text.replace("/opt/pipeline", str(ROOT))
        name = source.name.replace("@.service", "@packages.service")
        (tmp_path / name).write_text(text, encoding="utf-8")
        copies.append(name)
    assert sorted(copies) == ["pipeline-watcher.service", "pipeline-web.service", "pipeline-worker@packages.service"]
    result = run(["systemd-analyze", "verify", *copies], cwd=tmp_path,
                 env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if any(name.split("@")[0].split(".")[0] in line for name in copies)]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_pipeline_env_example() -> None:
    path = UNITS / "pipeline.env.example"
    active = read_dotenv(path)
    shown = read_dotenv(path, commented=True)
    assert active and shown
    for var in {*active, *shown}:
        assert var in SETTINGS_VARS, f"pipeline.env.example: {var} is no setting"
    settings = load_settings(env=active)
    assert settings.storage == "fs" and settings.smtp_url and settings.institutions_path
    # every `#NAME=value` of a setting with a default shows that default
    checked = 0
    for var, value in shown.items():
        default = setting_default(var)
        if default in (None, ""):
            continue
        assert getattr(load_settings(env={var: value}), ENV_NAMES[var]) == default, f"#{var}={value}"
        checked += 1
    assert checked >= 15
    # a setting the watcher or the workers tune, missing from the file, would be a surprise
    missing = set(ENV_NAMES) - {*active, *shown} - UNDOCUMENTED_IN_ENV_FILE
    assert not missing, f"settings missing from pipeline.env.example: {sorted(missing)}"



# -- scripts and documents ------------------------------------------------------------------
@pytest.mark.parametrize("script", SHELL_SCRIPTS + POSIX_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    shells = ["bash"] + (["sh"] if script in POSIX_SCRIPTS else [])
    for shell in shells:
        result = run([shell, "-n", str(script)])
        assert result.returncode == 0, f"{shell} -n {script.name}: {result.stderr}"
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.mark.parametrize("doc", ["docs/deploy.md", "docs/scaling.md", "README.md"])
def test_document_links_resolve(doc: str) -> None:
    path = ROOT / doc
    links = re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8"))
    local = [link.split("#")[0] for link in links if not re.match(r"^[a-z]+:", link) and not link.startswith("#")]
    for link in local:
        assert (path.parent / link).exists(), f"{doc}: broken link {link}"
    if doc == "README.md":
        assert "docs/deploy.md" in local and "docs/scaling.md" in local


def test_deploy_guide_names_every_service_and_file() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in services():
        assert f"`{name}`" in guide, f"docs/deploy.md does not mention the service {name}"
    for path in [*DEPLOY.glob("*"), *(DEPLOY / "systemd").glob("*"), *(DEPLOY / "compose").glob("*")]:
        if path.is_file():
            assert path.name in guide, f"docs/deploy.md does not mention {path.relative_to(ROOT)}"
    scaling = (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
    for queue in ("packages", "self-checks", "decisions", "mail"):
        assert f"`{queue}`" in scaling
    for var in ("REDIS_URL", "PIPELINE_HEARTBEAT_TIMEOUT_MS", "PIPELINE_MAINTENANCE_CHANCE", "PIPELINE_DATA_DIR"):
        assert var in scaling and var in ENV_NAMES
