"""A real OpenSSH server on 127.0.0.1 for the tests, with throwaway host and user keys.

Recipe and traps: ../shared/LIBRARY-FACTS.md (asyncssh and OpenSSH). Needs root (to create
the test user and run sshd) and Debian's openssh-server; .ci/run installs it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "assistant-test"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class Sshd:
    port: int
    user: str
    directory: Path
    user_key: Path
    host_key_pub: str  # "ssh-ed25519 AAAA…"
    process: subprocess.Popen[bytes]

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_pub}"

    def pids(self, pattern: str) -> list[int]:
        """Processes of the test user whose command line matches ``pattern``."""
        result = subprocess.run(
            ["pgrep", "-u", self.user, "-f", pattern], capture_output=True, text=True, check=False
        )
        return [int(p) for p in result.stdout.split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        subprocess.run(["pkill", "-KILL", "-u", self.user], check=False)
        _wait_gone(self.user)  # the next start's usermod refuses while any of them lives
        shutil.rmtree(self.directory, ignore_errors=True)


def _wait_gone(user: str, timeout: float = 10.0) -> None:
    """Until no process of ``user`` is left (killed ones take a moment to be reaped)."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["pgrep", "-u", user], capture_output=True, check=False).returncode == 0:
        if time.monotonic() > deadline:
            return  # ensure_user says who is still there
        time.sleep(0.02)


def available() -> str | None:
    """None when a test sshd can run here, else why not."""
    if os.geteuid() != 0:
        return "the SSH tests start sshd and create a user: they need root"
    if not Path(SSHD).exists():
        return "sshd is missing: apt-get install openssh-server"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)], check=True
    )


def ensure_user(home: Path) -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--shell", "/bin/sh", "--home-dir", str(home), USER],
            check=True,
        )
    _wait_gone(USER)  # the last server's sessions, when it was not stopped (a crashed run)
    subprocess.run(["usermod", "-p", "*", "--home", str(home), USER], check=True)
    home.mkdir(parents=True, exist_ok=True)
    shutil.chown(home, USER, USER)


def start() -> Sshd:
    # StrictModes rejects keys below a world-writable directory such as /tmp
    base = Path("/var/lib/assistant-tests")
    base.mkdir(mode=0o755, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="sshd-", dir=base))
    directory.chmod(0o755)
    home = directory / "home"
    ensure_user(home)
    host_key = directory / "host_key"
    user_key = directory / "user_key"
    _keygen(host_key)
    _keygen(user_key)
    keys = directory / "keys"
    keys.mkdir(mode=0o755)
    authorized = keys / f"authorized_keys_{USER}"
    authorized.write_text((directory / "user_key.pub").read_text())
    authorized.chmod(0o644)
    port = _free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                f"PidFile {directory}/sshd.pid",
                f"AuthorizedKeysFile {keys}/authorized_keys_%u",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes yes",
                "PermitRootLogin no",
                f"AllowUsers {USER}",
                "MaxSessions 10",
                "AllowTcpForwarding yes",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
    process = subprocess.Popen([SSHD, "-f", str(config), "-D", "-e"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the test sshd did not start") from None
            time.sleep(0.02)
    public = (directory / "host_key.pub").read_text().split()
    return Sshd(port, USER, directory, user_key, f"{public[0]} {public[1]}", process)
