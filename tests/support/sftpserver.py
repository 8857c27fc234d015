"""A real OpenSSH sshd for the SFTP tests, set up by deploy/sftp/ itself.

Everything an operator does is done here with the operator's tools, on test paths:
``institution-account setup`` renders deploy/sftp/sshd_config.in and makes the host key,
``institution-account add`` makes the account, its chroot, its inbox folder, the bind
mount and the key file, ``institution-account disable`` locks it. The sshd is Debian's
(``make sftp-deps`` unpacks the openssh-server package into build/sftp-deps/root; an
installed /usr/sbin/sshd is used otherwise) started as ``sshd -D -e -f CONFIG`` on
127.0.0.1 and a free port.

Users and groups come from nss_wrapper (``LD_PRELOAD=libnss_wrapper.so`` with
``NSS_WRAPPER_PASSWD/GROUP/SHADOW`` naming files of the test), for sshd and for the
script, so /etc/passwd is never touched. ``useradd``/``usermod``/``groupadd`` - the only
commands of the script that write the user database directly - are replaced on its PATH
by small shims that do the same to those files (a new user gets the password the caller
gives, ``!`` otherwise, as the real useradd does).

sshd accepts a chroot (and, with StrictModes, a keys file) only if every component of its
path is root-owned and writable by nobody else, so /tmp (1777) cannot hold them: the test
root is a fresh root-owned 0755 folder under /srv (or /var/lib, /opt), removed afterwards
- its bind mounts first. Folders left by a killed run are cleaned up by the next one.
"""

from __future__ import annotations

import base64
import glob
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pipeline.intake.scratch import pid_alive

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "sftp"
SCRIPT = DEPLOY / "institution-account"
TEMPLATE = DEPLOY / "sshd_config.in"
DEPS_ROOT = REPO / "build" / "sftp-deps" / "root"
BASE_PREFIX = "pipeline-sftp-test-"
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd

PIPELINE_GROUP, PIPELINE_GID = "pipeline", 61100
INSTITUTION_GROUP, INSTITUTION_GID = "sftp-institutions", 61101
SSHD_UID = 61000


def _first_account_uid() -> int:
    # Per run: `institution-account disable` kills the processes of the account's uid, and
    # another test run on the same machine must not be hit by that.
    return 100_000 + (os.getpid() % 100_000) * 100


class SftpSetupError(RuntimeError):
    """The real sshd cannot be had here; the message says why and what to do."""


# --------------------------------------------------------------------------- finding binaries


def _deps_lib_dirs() -> list[str]:
    return sorted(glob.glob(str(DEPS_ROOT / "usr/lib/*-linux-gnu")) + glob.glob(str(DEPS_ROOT / "lib/*-linux-gnu")))


def find_sshd() -> Path:
    for candidate in (os.environ.get("PIPELINE_TEST_SSHD"), DEPS_ROOT / "usr/sbin/sshd", "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise SftpSetupError("no sshd: run `make sftp-deps` (unpacks Debian's openssh-server into build/sftp-deps)")


def find_nss_wrapper() -> Path:
    candidates = [os.environ.get("PIPELINE_TEST_NSS_WRAPPER", "")]
    candidates += [str(Path(d) / "libnss_wrapper.so") for d in _deps_lib_dirs()]
    candidates += glob.glob("/usr/lib/*-linux-gnu/libnss_wrapper.so")
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return Path(candidate)
    raise SftpSetupError("no libnss_wrapper.so: run `make sftp-deps` (unpacks Debian's libnss-wrapper)")


def check_requirements() -> None:
    """Raise SftpSetupError unless a real sshd can be run here (root, sshd, nss_wrapper)."""
    if os.geteuid() != 0:
        raise SftpSetupError("the SFTP tests run a real sshd with chroots and bind mounts: they need root")
    find_sshd()
    find_nss_wrapper()
    for tool in ("mount", "umount", "mountpoint", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise SftpSetupError(f"{tool} is missing")


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyPair:
    pkey: paramiko.PKey
    public_line: str  # "ssh-ed25519 AAAA... comment"


def new_keypair(comment: str) -> KeyPair:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    return KeyPair(paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), f"{public} {comment}")


# --------------------------------------------------------------------------- root-owned base


def _root_only_path(path: Path) -> bool:
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return False
    return True


def _mounts_under(base: Path) -> list[str]:
    prefix = str(base).rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            target = line.split()[4].replace("\\040", " ")
            if target.startswith(prefix):
                out.append(target)
    return sorted(out, key=len, reverse=True)


def unmount_all(base: Path) -> None:
    for target in _mounts_under(base):
        if subprocess.run(["umount", target], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", target], capture_output=True)
    left = _mounts_under(base)
    if left:
        raise SftpSetupError(f"could not unmount {left}")


def remove_base(base: Path) -> None:
    """Unmount whatever is mounted below ``base``, then delete it (never through a mount)."""
    unmount_all(base)
    shutil.rmtree(base, ignore_errors=True)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies (even by SIGKILL)."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop_processes_of(base: Path) -> None:
    """Stop the processes a killed run left behind on ``base`` (its sshd, its pipeline)."""
    import psutil

    marker = str(base)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in arg for arg in proc.info["cmdline"] or []) or \
                    marker in proc.environ().get("PIPELINE_DATA_DIR", ""):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    for proc in found:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(found, timeout=10)


def make_base() -> Path:
    """A fresh root-owned 0755 folder whose whole path only root can write."""
    for parent in (Path("/srv"), Path("/var/lib"), Path("/opt")):
        if parent.is_dir() and _root_only_path(parent):
            break
    else:
        raise SftpSetupError("no root-owned, root-only-writable folder (/srv, /var/lib, /opt) for the chroots")
    for old in parent.glob(BASE_PREFIX + "*"):  # left by a run that was killed
        try:
            pid = int(old.name[len(BASE_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            _stop_processes_of(old)
            remove_base(old)
    base = Path(tempfile.mkdtemp(prefix=f"{BASE_PREFIX}{os.getpid()}-", dir=parent))
    os.chmod(base, 0o755)
    return base


# --------------------------------------------------------------------------- user database shims

_SHIM = r'''#!@PYTHON@
"""Test stand-in for useradd/usermod/groupadd on the nss_wrapper files (see tests/support/sftpserver.py)."""
import os, sys, time

prog = os.path.basename(sys.argv[0])
passwd, group, shadow = (os.environ["NSS_WRAPPER_PASSWD"], os.environ["NSS_WRAPPER_GROUP"],
                         os.environ["NSS_WRAPPER_SHADOW"])
FLAGS = {"-g": "--gid", "-d": "--home-dir", "-s": "--shell", "-p": "--password", "-c": "--comment",
         "-e": "--expiredate", "-M": "--no-create-home", "-N": "--no-user-group", "-L": "--lock",
         "-U": "--unlock", "-r": "--system"}
TAKES_VALUE = {"--gid", "--home-dir", "--shell", "--password", "--comment", "--expiredate"}

def parse(argv):
    opts, args, i = {}, [], 0
    while i < len(argv):
        a = FLAGS.get(argv[i], argv[i])
        if a in TAKES_VALUE:
            opts[a] = argv[i + 1]; i += 2
        elif a.startswith("-"):
            opts[a] = True; i += 1
        else:
            args.append(a); i += 1
    return opts, args

def rows(path):
    with open(path) as fh:
        return [line.rstrip("\n").split(":") for line in fh if line.strip()]

def write(path, table):
    with open(path + ".new", "w") as fh:
        fh.write("".join(":".join(r) + "\n" for r in table))
    os.replace(path + ".new", path)

opts, args = parse(sys.argv[1:])
with open(os.environ.get("SHIM_LOG", "/dev/null"), "a") as log:
    log.write(" ".join([prog] + sys.argv[1:]) + "\n")
name = args[-1]
if prog == "groupadd":
    table = rows(group)
    if any(r[0] == name for r in table):
        sys.exit("groupadd: group exists")
    table.append([name, "x", str(max(int(r[2]) for r in table if int(r[2]) < 65534) + 1), ""])
    write(group, table)
elif prog == "useradd":
    users = rows(passwd)
    if any(r[0] == name for r in users):
        sys.exit(f"useradd: user '{name}' already exists")
    gid = opts.get("--gid", "")
    if not gid.isdigit():
        gid = next(r[2] for r in rows(group) if r[0] == gid)
    uid = max([@FIRST_UID@ - 1] + [int(r[2]) for r in users if int(r[2]) >= @FIRST_UID@]) + 1
    users.append([name, "x", str(uid), gid, opts.get("--comment", ""), opts.get("--home-dir", "/home/" + name),
                  opts.get("--shell", "/bin/sh")])
    write(passwd, users)
    table = rows(shadow)
    table.append([name, opts.get("--password", "!"), str(int(time.time() // 86400)), "0", "99999", "7", "", "", ""])
    write(shadow, table)
elif prog == "usermod":
    table = rows(shadow)
    row = next((r for r in table if r[0] == name), None)
    if row is None:
        sys.exit(f"usermod: user '{name}' does not exist")
    if "--password" in opts:
        row[1] = opts["--password"]
    if opts.get("--lock") and not row[1].startswith("!"):
        row[1] = "!" + row[1]
    if opts.get("--unlock"):
        row[1] = row[1].lstrip("!")
    if "--expiredate" in opts:
        row[7] = opts["--expiredate"]
    write(shadow, table)
else:
    sys.exit(f"unknown shim {prog}")
'''


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SftpServer:
    """The deploy/sftp setup on test paths under a root-owned base folder, and its sshd."""

    def __init__(self, base: Path) -> None:
        check_requirements()
        self.base = base
        self.sshd = find_sshd()
        self.nss_wrapper = find_nss_wrapper()
        self.port = free_port()
        self.sftp_root = base / "sftp"
        self.keys_dir = base / "keys"
        self.etc = base / "etc"
        self.config = self.etc / "sshd_config"
        self.host_key = self.etc / "ssh_host_ed25519_key"
        self.fstab = self.etc / "fstab"
        self.conf = self.etc / "pipeline-sftp.conf"
        self.data_dir = base / "data"
        self.inbox = self.data_dir / "inbox"
        self.nss = base / "nss"
        self.bin = base / "bin"
        self.log = base / "sshd.log"
        self.shim_log = base / "shims.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fh = None
        self._prepare()

    # -- files ----------------------------------------------------------------------------
    def _prepare(self) -> None:
        for d in (self.etc, self.nss, self.bin, self.base / "run"):
            d.mkdir(mode=0o755)
        self.inbox.mkdir(parents=True)
        (self.nss / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/bash\n"
            f"sshd:x:{SSHD_UID}:65534::/run/sshd:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        (self.nss / "group").write_text(
            "root:x:0:\nnogroup:x:65534:\n"
            f"{PIPELINE_GROUP}:x:{PIPELINE_GID}:\n{INSTITUTION_GROUP}:x:{INSTITUTION_GID}:\n")
        (self.nss / "shadow").write_text("root:*:19000:0:99999:7:::\nsshd:!:19000::::::\n")
        self.fstab.write_text("# test fstab\n")
        self.conf.write_text("\n".join(f"{k}={v}" for k, v in {
            "SFTP_ROOT": self.sftp_root, "PIPELINE_INBOX": self.inbox, "PIPELINE_GROUP": PIPELINE_GROUP,
            "INSTITUTION_GROUP": INSTITUTION_GROUP, "KEYS_DIR": self.keys_dir, "SSHD_CONFIG": self.config,
            "SSHD_PORT": self.port, "SSHD_LISTEN": "127.0.0.1", "HOST_KEY": self.host_key,
            "PID_FILE": self.base / "run" / "sshd.pid", "FSTAB": self.fstab, "SSHD": self.sshd,
        }.items()) + "\n")
        shim = _SHIM.replace("@PYTHON@", sys.executable).replace("@FIRST_UID@", str(_first_account_uid()))
        for prog in ("useradd", "usermod", "groupadd"):
            path = self.bin / prog
            path.write_text(shim)
            path.chmod(0o755)

    def env(self) -> dict[str, str]:
        """The environment of sshd and of the account script: nss_wrapper, the shims."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NSS_WRAPPER_", "LD_"))}
        libs = _deps_lib_dirs()
        if libs:
            env["LD_LIBRARY_PATH"] = ":".join(libs)
        env.update(LD_PRELOAD=str(self.nss_wrapper), NSS_WRAPPER_PASSWD=str(self.nss / "passwd"),
                   NSS_WRAPPER_GROUP=str(self.nss / "group"), NSS_WRAPPER_SHADOW=str(self.nss / "shadow"),
                   PIPELINE_SFTP_CONF=str(self.conf), SHIM_LOG=str(self.shim_log),
                   PATH=f"{self.bin}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
        return env

    def script(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run deploy/sftp/institution-account with the test settings."""
        result = subprocess.run(["bash", str(SCRIPT), *args], env=self.env(), input=stdin, text=True,
                                capture_output=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"institution-account {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def user(self, name: str) -> dict[str, str | int]:
        for line in (self.nss / "passwd").read_text().splitlines():
            f = line.split(":")
            if f[0] == name:
                return {"name": f[0], "uid": int(f[2]), "gid": int(f[3]), "home": f[5], "shell": f[6]}
        raise KeyError(name)

    def shadow(self, name: str) -> list[str]:
        for line in (self.nss / "shadow").read_text().splitlines():
            f = line.split(":")
            if f[0] == name:
                return f
        raise KeyError(name)

    # -- accounts -------------------------------------------------------------------------
    def setup(self) -> None:
        self.script("setup")

    def add_account(self, name: str, key: KeyPair) -> None:
        self.script("add", name, "-", stdin=key.public_line + "\n")

    def disable_account(self, name: str) -> None:
        self.script("disable", name)

    # -- sshd -----------------------------------------------------------------------------
    def start(self) -> None:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # what Debian's ssh.service provides
        self._log_fh = open(self.log, "ab")
        self.proc = subprocess.Popen([str(self.sshd), "-D", "-e", "-f", str(self.config)], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=self._log_fh,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SftpSetupError(f"sshd exited with {self.proc.returncode}:\n{self.log_text()}")
            if "Server listening on" in self.log_text():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                        if s.recv(64).startswith(b"SSH-2.0-"):
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise SftpSetupError(f"sshd did not come up on port {self.port}:\n{self.log_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def host_public_key(self) -> paramiko.PKey:
        kind, data = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(data))

    # -- clients --------------------------------------------------------------------------
    def connect(self, user: str, key: KeyPair, sock: socket.socket | None = None) -> paramiko.Transport:
        """An authenticated transport (host key verified) as ``user`` with ``key``."""
        sock = sock or socket.create_connection(("127.0.0.1", self.port), timeout=10)
        transport = paramiko.Transport(sock)
        try:
            transport.connect(hostkey=self.host_public_key(), username=user, pkey=key.pkey)
        except BaseException:
            transport.close()
            raise
        return transport

    def sftp(self, user: str, key: KeyPair) -> paramiko.SFTPClient:
        transport = self.connect(user, key)
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        return client


def mode_of(path: Path) -> tuple[int, int, int]:
    """(uid, gid, permission bits including setgid) of ``path``."""
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)
