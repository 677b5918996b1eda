"""The provider socket's life: refuse a live owner, clear a stale file, appear only when ready.

The driver fails a mount at once when the socket is missing, but blocks for minutes on a
socket that exists and does not answer. So the socket is bound under a temporary name,
served, given its mode, and only then renamed into place; it is removed before shutdown.
An exclusive lock next to it keeps a second instance from racing the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from pathlib import Path

from gateway.errors import StartupError

MAX_UNIX_PATH = 107  # sun_path is 108 bytes including the terminating NUL


class SocketFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.lock_path = path.with_name(f".{path.name}.lock")
        self._lock_fd: int | None = None
        self._inode: int | None = None
        for candidate in (self.path, self.staging):
            if len(os.fsencode(candidate)) > MAX_UNIX_PATH:
                raise StartupError(f"socket path {candidate} is longer than {MAX_UNIX_PATH} bytes")

    def claim(self) -> None:
        """Take the instance lock, then clear a stale socket or refuse a live one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StartupError(f"another secrets-gateway instance holds {self.lock_path}; refusing to start") from None
        self._lock_fd = fd
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            self.release()
            raise StartupError(f"{self.path} exists and is not a socket; refusing to remove it")
        if is_live(self.path):
            self.release()
            raise StartupError(f"another server is already serving on {self.path}; refusing to start")
        os.unlink(self.path)

    @property
    def bind_address(self) -> str:
        return f"unix:{self.staging}"

    def publish(self, mode: int) -> None:
        """Give the bound socket its mode and move it into place atomically."""
        os.chmod(self.staging, mode)
        os.rename(self.staging, self.path)
        self._inode = os.lstat(self.path).st_ino

    def withdraw(self) -> None:
        """Remove the socket (only if it is still ours) so the driver stops calling."""
        with contextlib.suppress(FileNotFoundError):
            if self._inode is not None and os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.staging)
        self._inode = None

    def release(self) -> None:
        """Drop the instance lock (the lock file stays; it is harmless and reused)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def is_live(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on the unix socket ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # e.g. a timeout: someone holds it, do not steal it
    finally:
        probe.close()
    return True
