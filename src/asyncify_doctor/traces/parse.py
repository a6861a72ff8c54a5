"""Parsing wasm crash traces out of arbitrary logs.

A log is split into crashes: a crash starts at an error message line (`RuntimeError: unreachable`,
`memory access out of bounds`, a wasmtime trap, Emscripten's `Aborted(...)`, our hosts' failure
kinds…) and collects the wasm frames that follow it. Frames are recognised in every format below;
names are cleaned the way Binaryen's list matching needs (`byn$fpcast-emu$f` → `f`; Emscripten's JS
`invoke_*` trampolines are not wasm functions and are dropped), and frames without a usable name are
mapped through the binary (`wasm-function[N]`, or a module byte offset) when one is given.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..decode import Module

WASM_REF = r"wasm-function\[(?P<index>\d+)\](?::0x(?P<offset>[0-9a-fA-F]+))?"
FRAME_PATTERNS = [
    # V8 / node / Chrome: "at php.wasm.zend_call_function (wasm://wasm/php.wasm-01234567:wasm-function[1234]:0xabcd)"
    re.compile(r"^\s*at (?:async )?(?P<name>[^\s(]+) \((?:wasm://wasm/(?P<module>[^:)]*)|[^)]*?):" + WASM_REF + r"\)"),
    # V8 without a name: "at wasm://wasm/01234567:wasm-function[1234]:0xabcd"
    re.compile(r"^\s*at (?:wasm://wasm/(?P<module>[^:\s]*)|<anonymous>):" + WASM_REF),
    # Chrome DevTools copy: "<anonymous>:wasm-function[1234]:0xabcd" or "$name @ php.wasm:0xabcd"
    re.compile(r"^\s*(?:at )?<anonymous>:" + WASM_REF),
    re.compile(r"^\s*\$?(?P<name>[^\s@]+) @ (?P<module>[^:\s]+\.wasm):0x(?P<offset>[0-9a-fA-F]+)"),
    # Firefox: "name@http://host/php.wasm:wasm-function[1234]:0xabcd"
    re.compile(r"^\s*(?P<name>[^@\s]*)@(?P<module>[^\s@]*?\.wasm)[^\s@]*?:" + WASM_REF),
    # Safari: "<?>.wasm-function[zend_call_function]@[wasm code]" or "<?>.wasm-function[1234]@[wasm code]"
    re.compile(r"^\s*(?:<\?>\.)?wasm-function\[(?P<safari>[^\]]+)\]@\[wasm code\]"),
    # vitest/jest: "❯ zend_call_function ../wasm:/wasm/php.wasm-…" (possibly with wasm-function[N])
    re.compile(r"^\s*❯ (?P<name>\S+) \S*wasm:/+wasm/(?P<module>[^\s:]*)(?::" + WASM_REF + r")?"),
    # wasmtime: "0: 0x1234 - php.wasm!zend_call_function" / "<unknown>!<wasm function 12>"
    re.compile(r"^\s*\d+:\s+0x(?P<offset>[0-9a-fA-F]+) - (?:(?P<module>[^!\n]*)!)?(?:<wasm function (?P<index>\d+)>|(?P<name>.+?))\s*$"),
]
HOST_FRAMES = re.compile(r"\[wasm frames: (?P<frames>[^\]]*)\]")
MESSAGE = re.compile(
    r"(RuntimeError: [^\n]*|unreachable|memory access out of bounds|out of bounds memory access|"
    r"null function or function signature mismatch|indirect call (?:type|signature) mismatch|"
    r"table index is out of bounds|undefined element|Aborted\([^\n]*\)|abort\([^\n]*\)|wasm trap: [^\n]*|"
    r"SuspendError: [^\n]*|(?:trap|uninstrumented-frame|rewind-lost|unwind-leak|data-overflow): [^\n]*)")
ASYNCIFY_HINTS = ("unreachable", "out of bounds", "signature mismatch", "type mismatch", "table index",
                  "undefined element", "uninstrumented-frame", "rewind-lost", "unwind-leak", "unwinding",
                  "rewinding", "asyncify")


@dataclass
class Frame:
    name: str | None
    index: int | None = None
    offset: int | None = None
    module: str | None = None

    def label(self) -> str:
        return self.name or (f"wasm-function[{self.index}]" if self.index is not None else f"0x{self.offset or 0:x}")


@dataclass
class Crash:
    message: str
    line: int                                   # 1-based line of the message in the log
    frames: list[Frame] = field(default_factory=list)   # innermost first

    @property
    def looks_like_asyncify(self) -> bool:
        """The usual symptoms of unwinding through uninstrumented code (not a proof)."""
        return any(h in self.message.lower() for h in ASYNCIFY_HINTS)


def clean_name(name: str, module: str | None) -> str | None:
    """Strip what tools put around a function name; None for frames that are not wasm functions."""
    if module:
        base = module.rsplit("/", 1)[-1]
        base = re.sub(r"-[0-9a-f]{6,}$", "", base)
        for prefix in (base + ".", module + "."):
            if name.startswith(prefix):
                name = name[len(prefix):]
    name = name.lstrip("$")
    name = re.sub(r"^byn\$fpcast-emu\$", "", name)
    if re.match(r"^(invoke_[a-z]+|Object\.|Module\.|async |new )", name) or name in ("<anonymous>", "?", ""):
        return None
    return name


def _frame(m: re.Match[str]) -> Frame | None:
    g = m.groupdict()
    if g.get("safari"):
        s = g["safari"]
        return Frame(None, int(s)) if s.isdigit() else Frame(clean_name(s, None))
    module = g.get("module") or None
    name = clean_name(g["name"], module) if g.get("name") else None
    index = int(g["index"]) if g.get("index") else None
    offset = int(g["offset"], 16) if g.get("offset") else None
    if g.get("name") and name is None and index is None:
        return None  # a JS frame (invoke_*), not wasm
    if name is not None and name.startswith("<wasm function"):
        name = None
    return Frame(name, index, offset, module)


def parse_frame(line: str) -> Frame | None:
    for pat in FRAME_PATTERNS:
        m = pat.search(line)
        if m:
            return _frame(m)
    return None


WASMTIME_HEADER = re.compile(r"error while executing at wasm backtrace")


def parse_log(text: str) -> list[Crash]:
    """Every crash in a log, each with its wasm frames (innermost first)."""
    crashes: list[Crash] = []
    current: Crash | None = None
    awaiting_message = False   # wasmtime prints the frames first and the trap after "Caused by:"
    for lineno, line in enumerate(text.splitlines(), 1):
        if WASMTIME_HEADER.search(line):
            current = Crash("wasm trap", lineno)
            crashes.append(current)
            awaiting_message = True
            continue
        msg = MESSAGE.search(line)
        if msg:
            message = msg.group(0).split(" [wasm frames:")[0].strip()
            if awaiting_message and current is not None:
                current.message, awaiting_message = message, False
            else:
                current = Crash(message, lineno)
                crashes.append(current)
        host = HOST_FRAMES.search(line)
        if host and current is not None:
            current.frames += [Frame(n) for n in (clean_name(x.strip(), None) for x in host.group("frames").split("<-")) if n]
            continue
        frame = parse_frame(line)
        if frame is not None:
            if current is None:
                current = Crash("(wasm stack without an error message)", lineno)
                crashes.append(current)
            current.frames.append(frame)
    return crashes


def resolve(crash: Crash, module: Module) -> list[int]:
    """Function indices of a crash's frames in `module`: by name, else by index, else by offset."""
    by_name = {f.name: f.index for f in module.functions}
    starts = _body_starts(module)
    out = []
    for fr in crash.frames:
        idx = by_name.get(fr.name) if fr.name else None
        if idx is None and fr.index is not None and fr.index < len(module.functions):
            idx = fr.index
        if idx is None and fr.offset is not None:
            idx = _function_at(module, starts, fr.offset)
        if idx is not None and not module.functions[idx].imported:
            out.append(idx)
    return out


def _body_starts(module: Module) -> list[int]:
    return list(module.code.bodies[0::2]) if module.code else []


def _function_at(module: Module, starts: list[int], offset: int) -> int | None:
    from bisect import bisect_right
    i = bisect_right(starts, offset) - 1
    if i < 0 or offset >= starts[i] + module.code.bodies[2 * i + 1]:  # type: ignore[union-attr]
        return None
    return module.num_imported_functions + i
