"""Running the user's commands (tests, builds, traced programs): each in its own process group, its
output streamed and kept, and on a timeout or Ctrl-C the whole group killed, so no child is left.

A lower layer than `fixloop` and `trace`, which both use it (and nothing of theirs is needed here).
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TextIO


@dataclass
class CommandResult:
    returncode: int | None      # None: killed after the timeout
    output: str
    seconds: float


def run_command(cmd: str, timeout: float, echo: TextIO | None | bool = True) -> CommandResult:
    """Run a shell command in its own process group, streaming its output (`echo`: True is the real
    stderr, as the user's own output is theirs, not escaped); on timeout, Ctrl-C, SIGTERM/SIGHUP
    (`errors.Terminated`) or any error kill the whole group, so no child is left behind."""
    if echo is True:
        from .guard import raw_stderr
        echo = raw_stderr()
    elif echo is False:
        echo = None
    start = time.monotonic()
    proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, text=True, errors="replace")
    lines: deque[str] = deque(maxlen=200_000)

    def pump() -> None:
        assert proc.stdout is not None
        out = echo
        for line in proc.stdout:
            lines.append(line)
            if out is not None:
                try:
                    out.write(line)
                    out.flush()
                except (OSError, ValueError):   # stderr closed or full: keep reading, stop echoing
                    out = None

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        code = None
    except BaseException:   # Ctrl-C, Terminated, anything: the user's processes go with us
        _kill_group(proc)
        raise
    reader.join(timeout=5)
    return CommandResult(code, "".join(lines), time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """TERM the whole group, give it 3 s, then KILL what is left of it (children that ignored TERM, or
    outlived their shell). A group already gone is not an error."""
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
