"""The SFTP intake (deploy/sftp/) with a real OpenSSH sshd and the real pipeline.

The sshd runs the rendered deploy/sftp/sshd_config.in; accounts are made and disabled by
deploy/sftp/institution-account (see tests/support/sftpserver.py for what is real and what is a
stand-in). Uploads go through paramiko the way WinSCP and the sftp command line do them,
and `pipeline run` decides what lands in DATA/inbox/<account>/ through the bind mount.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import paramiko
import psutil
import pytest

from tests.support.waiting import wait_until
from tests.support.packages import sample_package
from tests.support.sftpserver import (
    INSTITUTION_GID,
    PIPELINE_GID,
    SCRIPT,
    TEMPLATE,
    KeyPair,
    SftpServer,
    SftpSetupError,
    die_with_parent,
    make_base,
    mode_of,
    new_keypair,
    remove_base,
)

ACCOUNT = "xinghuo"  # uploads
CLOSED = "mingri"  # disabled during the tests

# --------------------------------------------------------------------------- the config and the script alone


def _template_lines() -> list[str]:
    return [line.strip() for line in TEMPLATE.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_template_is_sftp_only_chrooted_key_only():
    lines = _template_lines()
    match_at = lines.index("Match Group @INSTITUTION_GROUP@")
    main, match = lines[:match_at], lines[match_at + 1:]
    assert "Subsystem sftp internal-sftp -u 0027" in main
    assert "ChrootDirectory @SFTP_ROOT@/%u" in match
    assert any(line.startswith("ForceCommand internal-sftp -u 0027") for line in match)
    for setting in ("PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no",
                    "AuthorizedKeysFile @KEYS_DIR@/%u", "UsePAM no", "StrictModes yes"):
        assert setting in main, setting
    for setting in ("AllowTcpForwarding no", "AllowStreamLocalForwarding no", "AllowAgentForwarding no",
                    "X11Forwarding no", "PermitTunnel no", "PermitTTY no"):
        assert setting in main and setting in match, setting
    assert not any(line.startswith("Match") for line in match), "one Match block, last in the file"


def _script(args: list[str], conf: Path, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The script with commands that would change the system replaced by failing stubs."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for prog in ("useradd", "usermod", "groupadd", "mount", "install", "chown", "pkill"):
        (stubs / prog).write_text("#!/bin/sh\necho \"stub $0 must not run\" >&2\nexit 99\n")
        (stubs / prog).chmod(0o755)
    env = dict(os.environ, PIPELINE_SFTP_CONF=str(conf), PATH=f"{stubs}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, input=stdin, text=True, capture_output=True,
                          timeout=30)


def test_render_config_fills_every_placeholder(tmp_path: Path):
    conf = tmp_path / "sftp.conf"
    conf.write_text("SFTP_ROOT=/data/sftp\nKEYS_DIR=/etc/ssh/inst_keys\nSSHD_PORT=2022\nINSTITUTION_GROUP=orgs\n")
    result = _script(["render-config"], conf, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not re.search(r"@[A-Z_]+@", out)
    assert "Port 2022" in out and "ChrootDirectory /data/sftp/%u" in out
    assert "AuthorizedKeysFile /etc/ssh/inst_keys/%u" in out and "Match Group orgs" in out
    assert "HostKey /etc/ssh/pipeline-sftp/ssh_host_ed25519_key" in out  # a default


def test_add_refuses_bad_names_and_private_keys(tmp_path: Path):
    conf = tmp_path / "none.conf"
    key = new_keypair("k")
    for bad in ("Xinghuo", "1abc", "a/b", "../etc", "a b", "x" * 33, ""):
        result = _script(["add", bad, "-"], conf, tmp_path, stdin=key.public_line)
        assert result.returncode == 1 and "bad account name" in result.stderr, (bad, result.stderr)
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    result = _script(["add", "xinghuo", "-"], conf, tmp_path, stdin=private)
    assert result.returncode == 1 and "PRIVATE key" in result.stderr
    result = _script(["add", "xinghuo", "-"], conf, tmp_path, stdin="not a key\n")
    assert result.returncode == 1 and "not an OpenSSH public key" in result.stderr
    result = _script(["add", "xinghuo", "-"], conf, tmp_path, stdin="# only a comment\n\n")
    assert result.returncode == 1 and "no public key" in result.stderr
    assert "stub" not in result.stderr


# --------------------------------------------------------------------------- a real sshd


class Pipeline:
    """`pipeline run` on the server's data folder (whose inbox/<account> are the uploads)."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log = data, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(PIPELINE_DATA_DIR=str(self.data), PIPELINE_QUIET_PERIOD="0.5",
                   PIPELINE_STALE_UPLOAD_TIMEOUT="8", PIPELINE_SCAN_INTERVAL="2",
                   PIPELINE_WORKER_PROCESSES="1", PIPELINE_WORKER_THREADS="2",
                   PIPELINE_LOG_FORMAT="json", PIPELINE_MIN_BACKOFF_MS="200")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent)
        wait_until(lambda: "watcher.started" in self.log.read_text(errors="replace"), 30, message="watcher start")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait(10)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                out.append(event)
        return out


class Rig:
    def __init__(self, server: SftpServer, keys: dict[str, KeyPair], pipeline: Pipeline) -> None:
        self.server, self.keys, self.pipeline = server, keys, pipeline

    def sftp(self, account: str = ACCOUNT) -> paramiko.SFTPClient:
        return self.server.sftp(account, self.keys[account])

    def decisions(self, name: str) -> list[tuple[Path, dict[str, Any]]]:
        out = []
        for area in ("archive", "quarantine"):
            for doc_path in (self.server.data_dir / area).glob("*/*/*.json"):
                doc = json.loads(doc_path.read_text(encoding="utf-8"))
                if doc["package"]["name"] == name:
                    out.append((doc_path.parent, doc))
        return out


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    try:
        base = make_base()
    except (SftpSetupError, OSError) as exc:
        pytest.fail(f"SFTP test setup impossible: {exc}")
    server = pipeline = None
    try:
        try:
            server = SftpServer(base)
        except SftpSetupError as exc:
            pytest.fail(f"SFTP test setup impossible: {exc}")
        server.setup()
        keys = {ACCOUNT: new_keypair(f"upload@{ACCOUNT}"), CLOSED: new_keypair(f"upload@{CLOSED}")}
        for account, key in keys.items():
            server.add_account(account, key)
        server.start()
        pipeline = Pipeline(server.data_dir, base / "pipeline.log")
        pipeline.start()
        yield Rig(server, keys, pipeline)
    finally:
        if pipeline is not None:
            pipeline.stop()
        if server is not None:
            server.stop()
        remove_base(base)


@pytest.mark.slow
def test_account_layout(rig: Rig):
    server = rig.server
    user = server.user(ACCOUNT)
    assert user["uid"] != server.user(CLOSED)["uid"]
    assert user["gid"] == INSTITUTION_GID and user["shell"] == "/usr/sbin/nologin" and user["home"] == "/upload"
    assert server.shadow(ACCOUNT)[1] == "*"  # no password, not locked: key login works without PAM
    chroot = server.sftp_root / ACCOUNT
    assert mode_of(chroot) == (0, 0, 0o755)
    inbox = server.inbox / ACCOUNT
    assert mode_of(inbox) == (user["uid"], PIPELINE_GID, 0o2770)
    # upload/ is the inbox folder itself, through a bind mount
    assert subprocess.run(["mountpoint", "-q", str(chroot / "upload")]).returncode == 0
    assert os.stat(chroot / "upload").st_ino == os.stat(inbox).st_ino
    keys = server.keys_dir / ACCOUNT
    assert mode_of(keys) == (0, 0, 0o644)
    assert keys.read_text() == f"restrict {rig.keys[ACCOUNT].public_line}\n"
    assert f"{inbox} {chroot / 'upload'} none bind" in server.fstab.read_text()
    # add again (a new key): same account, re-enabled, still one fstab line
    server.add_account(ACCOUNT, rig.keys[ACCOUNT])
    assert server.fstab.read_text().count(f" {chroot / 'upload'} ") == 1
    assert server.user(ACCOUNT)["uid"] == user["uid"] and server.shadow(ACCOUNT)[1] == "*"


@pytest.mark.slow
def test_chroot_shows_only_the_upload_folder(rig: Rig):
    sftp = rig.sftp()
    try:
        assert sftp.normalize(".") == "/upload"  # where a client lands
        assert sftp.listdir("/") == ["upload"]
        assert sftp.listdir("/../..") == ["upload"]
        for outside in ("/etc/passwd", "/../../etc/passwd", str(rig.server.keys_dir / ACCOUNT)):
            with pytest.raises(FileNotFoundError):
                sftp.stat(outside)
        with pytest.raises(PermissionError):
            sftp.open("/elsewhere.zip", "w")
        with pytest.raises(PermissionError):
            sftp.mkdir("/upload2")
    finally:
        sftp.close()


@pytest.mark.slow
def test_only_sftp_with_a_key(rig: Rig):
    server = rig.server
    transport = server.connect(ACCOUNT, rig.keys[ACCOUNT])
    try:
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", server.port), ("127.0.0.1", 1234))
        channel = transport.open_session()
        with pytest.raises(paramiko.SSHException):
            channel.get_pty()
        channel.close()
        # a command is refused: only the SFTP subsystem is served
        channel = transport.open_session()
        channel.settimeout(10)
        channel.exec_command("echo pwned > /upload/pwned.txt")
        output = b""
        while chunk := channel.recv(1024):
            output += chunk
        assert b"This service allows sftp connections only." in output
        assert channel.recv_exit_status() != 0
        channel.close()
    finally:
        transport.close()
    assert not (server.inbox / ACCOUNT / "pwned.txt").exists()
    # no password logins, and a key of someone else is refused
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_password(ACCOUNT, "secret")
        assert refused.value.allowed_types == ["publickey"]
    finally:
        transport.close()
    with pytest.raises(paramiko.AuthenticationException):
        server.connect(ACCOUNT, rig.keys[CLOSED]).close()


@pytest.mark.slow
def test_uploaded_files_belong_to_the_pipeline_group(rig: Rig):
    sftp = rig.sftp()
    try:
        with sftp.open("probe.zip.filepart", "w") as fh:  # an in-progress name: the watcher ignores it
            fh.write(b"PK\x03\x04 probe")
        path = rig.server.inbox / ACCOUNT / "probe.zip.filepart"
        uid, gid, mode = mode_of(path)
        assert (uid, gid, mode) == (rig.server.user(ACCOUNT)["uid"], PIPELINE_GID, 0o640)  # umask 0027, setgid
        sftp.remove("probe.zip.filepart")
    finally:
        sftp.close()
    assert not path.exists()


def _assert_decided_once(rig: Rig, name: str, content: bytes) -> dict[str, Any]:
    wait_until(lambda: rig.decisions(name), 30, message=f"decision of {name}")
    time.sleep(0.5)  # a second decision would come right after the first
    found = rig.decisions(name)
    assert len(found) == 1, found
    folder, doc = found[0]
    assert doc["status"] == "accepted", doc.get("errors")
    assert doc["source"] == {"kind": "fs", "location": f"inbox/{ACCOUNT}/{name}", "account": ACCOUNT}
    assert doc["package"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert (folder / name).read_bytes() == content
    ready = [e for e in rig.pipeline.events("watcher.ready") if e.get("relative") == f"{ACCOUNT}/{name}"]
    assert ready and all(e["size"] == len(content) for e in ready), ready  # never handed over half
    decided = [e for e in rig.pipeline.events("package.decided") if e.get("receipt_id") == doc["receipt_id"]]
    assert len(decided) == 1
    return doc


def _not_taken(rig: Rig, name: str, size: int) -> None:
    """The half upload is still in the inbox, undecided."""
    path = rig.server.inbox / ACCOUNT / name
    assert path.stat().st_size == size
    assert rig.decisions(name) == []


@pytest.mark.slow
def test_winscp_style_upload_is_decided_once(rig: Rig):
    content = sample_package("sftp-winscp")
    sftp = rig.sftp()
    try:
        with sftp.open("星火20261120.zip.filepart", "w") as fh:
            for i in range(0, len(content), 64 * 1024):
                fh.write(content[i:i + 64 * 1024])
        # WinSCP keeps the source's timestamp (setstat), then renames to the final name
        sftp.utime("星火20261120.zip.filepart", (1_700_000_000, 1_700_000_000))
        time.sleep(1.0)  # longer than the quiet period: a .filepart is never taken
        _not_taken(rig, "星火20261120.zip.filepart", len(content))
        sftp.rename("星火20261120.zip.filepart", "星火20261120.zip")
    finally:
        sftp.close()
    _assert_decided_once(rig, "星火20261120.zip", content)
    assert not any((rig.server.inbox / ACCOUNT).iterdir())


@pytest.mark.slow
def test_slow_upload_in_place_is_decided_once_when_complete(rig: Rig):
    content = sample_package("sftp-slow")
    name = "slow.zip"
    sftp = rig.sftp()
    try:
        with sftp.open(name, "w") as fh:
            step = len(content) // 4 + 1
            for i in range(0, len(content), step):
                fh.write(content[i:i + step])
                fh.flush()
                if i + step < len(content):
                    time.sleep(0.9)  # longer than the quiet period: only the missing end record holds it
                    _not_taken(rig, name, i + step)
    finally:
        sftp.close()
    _assert_decided_once(rig, name, content)


@pytest.mark.slow
def test_upload_killed_halfway_and_resumed_is_decided_once(rig: Rig):
    content = sample_package("sftp-resumed")
    name = "resumed.zip"
    half = len(content) // 2
    sock = socket.create_connection(("127.0.0.1", rig.server.port), timeout=10)
    transport = rig.server.connect(ACCOUNT, rig.keys[ACCOUNT], sock=sock)
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    fh = sftp.open(name, "w")
    fh.write(content[:half])
    fh.flush()  # the server has written it
    sock.shutdown(socket.SHUT_RDWR)  # the connection dies: no close, no goodbye
    sock.close()
    try:
        fh.close()  # fails on the dead connection; only releases the client's handle
    except Exception:
        pass
    transport.close()

    wait_until(lambda: [e for e in rig.pipeline.events("watcher.waiting_incomplete_zip")
                        if e.get("relative") == f"{ACCOUNT}/{name}"], 10, message="the watcher waiting")
    time.sleep(1.5)
    _not_taken(rig, name, half)

    sftp = rig.sftp()  # resume: append from the size the server has
    try:
        offset = sftp.stat(name).st_size
        assert offset == half
        with sftp.open(name, "r+") as fh:
            fh.seek(offset)
            fh.write(content[offset:])
    finally:
        sftp.close()
    _assert_decided_once(rig, name, content)


@pytest.mark.slow
def test_disabled_account_cannot_log_in_and_keeps_its_data(rig: Rig):
    server, key = rig.server, rig.keys[CLOSED]
    sftp = server.sftp(CLOSED, key)
    with sftp.open("draft.zip.part", "w") as fh:
        fh.write(b"half an upload")
    sftp.close()

    server.disable_account(CLOSED)
    assert not (server.keys_dir / CLOSED).exists()
    shadow = server.shadow(CLOSED)
    assert shadow[1].startswith("!") and shadow[7] == "1"  # locked and expired
    with pytest.raises(paramiko.AuthenticationException):
        server.connect(CLOSED, key).close()
    # the key put back by mistake: the lock still holds
    (server.keys_dir / CLOSED).write_text(f"restrict {key.public_line}\n")
    with pytest.raises(paramiko.AuthenticationException):
        server.connect(CLOSED, key).close()
    log = server.log_text()
    assert f"User {CLOSED} not allowed because account is locked" in log or f"Account {CLOSED} has expired" in log
    # nothing of its data went away
    assert (server.inbox / CLOSED / "draft.zip.part").read_bytes() == b"half an upload"
    assert subprocess.run(["mountpoint", "-q", str(server.sftp_root / CLOSED / "upload")]).returncode == 0
    # `add` again re-enables it
    server.add_account(CLOSED, key)
    sftp = server.sftp(CLOSED, key)
    try:
        assert "draft.zip.part" in sftp.listdir(".")
    finally:
        sftp.close()
