"""What both hosts report, and the standard imports the fixtures and the demo use."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import DoctorError

# Asyncify's states, as `asyncify_get_state` returns them (Binaryen's Asyncify.cpp).
NORMAL, UNWINDING, REWINDING = 0, 1, 2
STATE_NAMES = {NORMAL: "normal", UNWINDING: "unwinding", REWINDING: "rewinding"}

# Failure kinds, distinct so tests and users can tell the symptoms apart.
TRAP = "trap"                        # the wasm trapped (unreachable, out of bounds, signature mismatch)
UNWIND_LEAK = "unwind-leak"          # export returned while unwinding, but no async import started it
REWIND_LOST = "rewind-lost"          # export returned while still rewinding: the import was never reached again
UNINSTRUMENTED = "uninstrumented-frame"  # an import ran while unwinding/rewinding: a frame on the stack is not instrumented
DATA_OVERFLOW = "data-overflow"      # the unwound stack did not fit the asyncify data buffer
NOT_ASYNCIFIED = "not-asyncified"    # an async import was called but the module has no asyncify_* exports
MISSING_IMPORT = "missing-import"    # the module needs an import the host was not given
MISSING_EXPORT = "missing-export"    # the module lacks an export the host drives (memory, asyncify_*)


class AsyncifyRunError(DoctorError):
    """A broken run, with the kind of breakage and the wasm frames (by name) when there are any."""

    def __init__(self, kind: str, message: str, frames: list[str] | None = None, suspensions: int = 0,
                 raw: str = "") -> None:
        self.kind = kind
        self.message = message
        self.frames = frames or []
        self.suspensions = suspensions
        self.raw = raw          # the runtime's own trace text (V8 stack, wasmtime backtrace), when there is one
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" [wasm frames: {' <- '.join(self.frames[:12])}{' …' if len(self.frames) > 12 else ''}]" if self.frames else ""
        return f"{self.kind}: {self.message}{where}"


@dataclass
class RunResult:
    value: Any
    suspensions: int
    prints: list[int] = field(default_factory=list)


STANDARD_ASYNC = ("env.sleep_ms", "env.fetch_value", "env.lock_ctl")
LOCK_WAIT = 14   # lock_ctl's command that waits, like fcntl's F_SETLKW


def standard_imports(prints: list[int], delay: float = 0.0) -> dict[str, Callable[..., Any]]:
    """The fixtures' imports: `sleep_ms` and `fetch_value` (async: real awaits), `print_i32` (sync),
    `lock_ctl` (async for one command only)."""

    async def sleep_ms(ms: int) -> None:
        await asyncio.sleep(delay)

    async def fetch_value(key: int) -> int:
        await asyncio.sleep(delay)
        return key * 2 + 1

    def print_i32(value: int) -> None:
        prints.append(value)

    def lock_ctl(fd: int, cmd: int, arg: int) -> Any:
        """Like fcntl on a lock: suspends only for LOCK_WAIT; every other command answers at once (a
        plain value, which the hosts return without unwinding)."""
        if cmd != LOCK_WAIT:
            return fd + cmd + arg

        async def wait() -> int:
            await asyncio.sleep(delay)
            return fd + cmd + arg
        return wait()

    return {"env.sleep_ms": sleep_ms, "env.fetch_value": fetch_value, "env.print_i32": print_i32,
            "env.lock_ctl": lock_ctl}
