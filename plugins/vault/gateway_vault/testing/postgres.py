"""A throwaway PostgreSQL server from the distribution's packages, for the database secrets engine.

Debian's ``postgresql`` package puts ``initdb``/``pg_ctl`` under ``/usr/lib/postgresql/<version>/bin``.
:func:`find_binaries` finds them; :func:`installed_binaries` first installs the package where it is missing
and the machine can (root with apt-get: a fresh CI machine), else tests skip, naming the package;
:class:`Postgres` creates a cluster in a temporary directory, serves it on a free 127.0.0.1 port with
password authentication and a superuser for OpenBao, and removes it afterwards. PostgreSQL refuses to
run as root, so as root it runs as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway_vault.testing.openbao import free_port

INSTALL_HINT = "PostgreSQL is not installed (Debian: apt-get install postgresql; the tests install it themselves when run as root)"


@dataclass(frozen=True)
class Binaries:
    initdb: str
    pg_ctl: str
    psql: str


def find_binaries() -> Binaries | None:
    """initdb, pg_ctl and psql of the newest installed PostgreSQL; None when any is missing."""
    directories = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0)
    for directory in [*reversed(directories), ""]:
        found = [shutil.which(name, path=directory or None) for name in ("initdb", "pg_ctl", "psql")]
        if all(found):
            return Binaries(*found)  # type: ignore[arg-type]
    return None


def installed_binaries() -> Binaries | None:
    """:func:`find_binaries`, after installing Debian's ``postgresql`` when it is missing and this
    process may (root, apt-get present). Its package scripts may start a system cluster on 5432;
    the tests' own server uses a free port, so the two never meet."""
    found = find_binaries()
    if found is not None or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    for command in (install, ["apt-get", "update", "-q"], install):  # the package lists may be missing or old
        done = subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if done.returncode == 0 and command is install:
            break
    return find_binaries()


class Postgres:
    """One server; ``admin_user``/``admin_password`` may create roles (what OpenBao's plugin needs)."""

    admin_user = "openbao"

    def __init__(self, binaries: Binaries) -> None:
        self.binaries = binaries
        self.admin_password = os.urandom(12).hex()
        self.port = 0
        self._dir = Path(tempfile.mkdtemp(prefix="postgres-"))
        self._as: list[str] = []

    @property
    def data(self) -> Path:
        return self._dir / "data"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")  # KeyError: no postgres user, the package is not really installed
            os.chown(self._dir, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        password_file = self._dir / "pw"
        password_file.write_text(self.admin_password, encoding="utf-8")
        if self._as:
            shutil.chown(password_file, "postgres")
        self._run(self.binaries.initdb, "-D", str(self.data), "-U", self.admin_user, f"--pwfile={password_file}", "-A", "scram-sha-256", "--no-sync")
        self.port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self._dir} -c fsync=off"
        self._run(self.binaries.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self._dir / "log"), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if self.port:
            subprocess.run([*self._as, self.binaries.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
            self.port = 0
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def can_log_in(self, user: str, password: str) -> bool:
        """Whether ``user`` logs in with ``password`` (through psql, over TCP)."""
        result = subprocess.run(
            [self.binaries.psql, self.url(user, password), "-tAc", "select current_user"], capture_output=True, text=True, timeout=30,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        return result.returncode == 0 and result.stdout.strip() == user
