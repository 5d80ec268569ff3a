"""Debian's chromium for the /docs test, installed in the background when it is missing.

Installing it takes minutes on a fresh machine; started when the docs test is collected,
the install overlaps the rest of the suite, and only the docs test waits for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

INSTALL_TIMEOUT = 900
"""Seconds for `apt-get update` and the install together, on a slow mirror."""

_installing: Future[str | None] | None = None


def _install() -> str | None:
    """Install Debian's chromium; the reason it could not, or None when it did."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if os.geteuid() != 0:
        return "not running as root, so apt-get cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
    return None


def start_install_if_missing() -> None:
    """Begin installing chromium in a background thread unless it is there already."""
    global _installing
    if _installing is None and shutil.which("chromium") is None:
        _installing = ThreadPoolExecutor(max_workers=1).submit(_install)


def chromium_when_installed() -> tuple[str | None, str]:
    """(path of chromium, "") or (None, why it is missing), waiting for an install."""
    start_install_if_missing()
    reason = _installing.result() if _installing is not None else None
    found = shutil.which("chromium")
    return found, "" if found else (reason or "apt-get installed no chromium binary")
