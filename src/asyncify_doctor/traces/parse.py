"""Parsing wasm crash traces out of arbitrary logs.

Evidence is a stack with wasm frames, whatever printed it and whatever it says: a crash is a run of
stack lines (wasm frames, with the JS frames between them) holding at least one wasm frame, and its
message is the error line before it — a known one (`RuntimeError: unreachable`, a wasmtime trap,
Emscripten's `Aborted(...)`, our hosts' failure kinds) starts a crash by itself; any other
(`Error: Invalid async state 1, expected 0.` from a third-party runtime, a test runner's
`error: '…'`) is found by looking back from the first frame. Known messages only refine the
diagnosis (`Crash.kind`): Asyncify's symptoms, a plain bug (divide by zero, stack overflow), or
unknown.

Frames are read in every format runtimes print: V8 (node, Chrome, Deno; with or without `at`, as in
node's TAP reporter), SpiderMonkey, JavaScriptCore, vitest, wasmtime, Wasmer, WAMR. Names are
cleaned the way Binaryen's list matching needs (`byn$fpcast-emu$f` → `f`; JS frames such as
Emscripten's `invoke_*` trampolines are not wasm functions and are dropped). A frame's index and
byte offset are kept as printed; turning them into functions is `mapping`'s job, which checks that
the binary it uses is the one that crashed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDX = r"wasm-function\[(?P<index>\d+)\](?::0x(?P<offset>[0-9a-fA-F]+))?"
_AT = r"^\s*(?:at\s+)?(?:async\s+)?"
FRAME_PATTERNS = [
    # V8 (node, Chrome, Deno), `at` optional (node's TAP reporter drops it):
    #   "at php.wasm.zend_call_function (wasm://wasm/php.wasm-01234567:wasm-function[1234]:0xabcd)"
    #   "at $f (http://host/app.wasm:wasm-function[12]:0x3fe)", "at f(int, char) [as run] (…)"
    re.compile(_AT + r"(?P<name>.+?)(?: \[as [^\]]+\])? \((?:wasm://wasm/(?P<module>[^()\s:]*)|[^()\s]*?):"
               + _IDX + r"\)\s*$"),
    # V8 without a function name: "at wasm://wasm/01234567:wasm-function[1234]:0xabcd",
    # Chrome DevTools: "<anonymous>:wasm-function[1234]:0xabcd", older V8: "at wasm-function[33]:0x3369"
    re.compile(_AT + r"(?:(?:wasm://wasm/(?P<module>[^()\s:]*)|<anonymous>|[^()\s@]+\.wasm):)?" + _IDX + r"\s*$"),
    # V8 with module offsets only: "at 185b031e:0x2904", "at app.module.wasm:0x2d451", "at f (app.wasm:0x10)"
    re.compile(_AT + r"(?:(?P<name>[^\s()]+) \()?(?P<module>[^()\s:@\[\]]+):0x(?P<offset>[0-9a-fA-F]+)\)?\s*$"),
    # Chrome DevTools console: "$name @ php.wasm:0xabcd"
    re.compile(r"^\s*\$?(?P<name>[^\s@]+) @ (?P<module>[^:\s]+\.wasm):0x(?P<offset>[0-9a-fA-F]+)\s*$"),
    # SpiderMonkey (Firefox): "name@http://host/php.wasm:wasm-function[1234]:0xabcd",
    # "name@http://host/app.js line 21 > WebAssembly.instantiate:wasm-function[3]:0x1a4"
    re.compile(r"^\s*(?P<name>[^@\s]*)@(?P<module>[^@]*?):" + _IDX + r"\s*$"),
    # JavaScriptCore (Safari, Bun): "<?>.wasm-function[zend_call_function]@[wasm code]",
    # "wasm-function[1234]@[wasm code]", "at <?>.wasm-function[f] (native)", older
    # ".wasm-function[f] in [wasm code] undefined:undefined"
    re.compile(r"^\s*(?:at\s+)?(?:<\?>)?\.?wasm-function\[(?P<jsc>.+)\]"
               r"(?:@\[wasm code\]| in \[wasm code\].*| \([^)]*\))\s*$"),
    # vitest/jest: "❯ zend_call_function ../wasm:/wasm/php.wasm-…" (possibly with wasm-function[N])
    re.compile(r"^\s*❯ (?P<name>\S+) \S*wasm:/+wasm/(?P<module>[^\s:]*)(?::" + _IDX + r")?"),
    # wasmtime: "0: 0x1234 - php.wasm!zend_call_function", "1: 0x25 - <unknown>!<wasm function 12>"
    re.compile(r"^\s*\d+:\s+0x(?P<offset>[0-9a-fA-F]+) - (?:(?P<module>[^!\n]*)!)?"
               r"(?:<wasm function (?P<index>\d+)>|(?P<name>.+?))\s*$"),
    # Wasmer: "at log_kv (<module>[3]:0x1a4)", "at <unnamed> (app.wasm[3]:0x1a4)"
    re.compile(r"^\s*at (?P<name>.+?) \((?P<module>[^\[\]()\s]*)\[(?P<index>\d+)\]:0x(?P<offset>[0-9a-fA-F]+)\)\s*$"),
    # WAMR: "#00: 0x01a4 - log_kv", "#01: 0x02d9 - $f12", older "#00 __cxa_throw" (no module offsets)
    re.compile(r"^\s*#\d{2,}(?::\s+0x[0-9a-fA-F]+ -)?\s+(?:\$f(?P<index>\d+)|(?P<name>\S.*?))\s*$"),
    # WAVM: "wasm!app.wasm!log_kv+4", "wasm!app.wasm!<function #3>+11" (offsets within the function)
    re.compile(r"^\s*wasm!(?P<module>.*)!(?:<function #(?P<index>\d+)>|(?P<name>[^!]+?))\+\d+\s*$"),
]
# A JS frame: part of a stack, never a wasm function. V8 with or without `at`, SpiderMonkey/JSC.
JS_FRAME = re.compile(r"^\s*(?:at\s+\S.*|\S.*\((?:file:|node:|https?:|/|[A-Za-z]:\\)\S*:\d+:\d+\)"
                      r"|(?:file:|node:|https?:|/)\S*:\d+:\d+|[^\s@]*@\S*:\d+:\d+|[^\s@]*@\[native code\])\s*$")
HOST_FRAMES = re.compile(r"\[wasm frames: (?P<frames>[^\]]*)\]")
WASMTIME_HEADER = re.compile(r"error while executing at wasm backtrace")
# Lines that are a crash's message by themselves (a crash starts there, frames or not).
MESSAGE = re.compile(
    r"(RuntimeError: [^\n]*|unreachable|memory access out of bounds|out of bounds memory access|"
    r"null function or function signature mismatch|indirect call (?:type|signature) mismatch|"
    r"table index is out of bounds|undefined element|Aborted\([^\n]*\)|abort\([^\n]*\)|wasm trap: [^\n]*|"
    r"SuspendError: [^\n]*|(?:trap|uninstrumented-frame|rewind-lost|unwind-leak|data-overflow): [^\n]*)")
# What an error line looks like, for messages found by looking back from a stack.
ERROR_LINE = re.compile(r"(?i)(\b\w*(?:error|exception)\b|\babort(?:ed)?\b|\btrap\b|\bpanic|\bfail(?:ed|ure)?\b|"
                        r"\binvalid\b|\bassert|\bunreachable\b|out of bounds)")
LOOKBACK = 8

# Known messages, for the diagnosis only.
ASYNCIFY_HINTS = ("unreachable", "out of bounds", "signature mismatch", "type mismatch", "table index",
                  "undefined element", "uninstrumented-frame", "rewind-lost", "unwind-leak", "unwinding",
                  "rewinding", "asyncify", "invalid async state", "invalid state", "changed the state",
                  "data-overflow")
BUG_HINTS = ("divide by zero", "division by zero", "integer overflow", "invalid conversion to integer",
             "float unrepresentable", "call stack exhausted", "maximum call stack size exceeded",
             "stack overflow", "too much recursion")
ASYNCIFY, BUG, UNKNOWN = "asyncify", "bug", "unknown"


@dataclass
class Frame:
    name: str | None
    index: int | None = None        # function index in the binary that ran, as the runtime printed it
    offset: int | None = None       # byte offset in that binary (module-relative)
    module: str | None = None

    def label(self) -> str:
        return self.name or (f"wasm-function[{self.index}]" if self.index is not None else f"0x{self.offset or 0:x}")


@dataclass
class Crash:
    message: str
    line: int                                   # 1-based line of the message (or first frame) in the log
    frames: list[Frame] = field(default_factory=list)   # innermost first

    @property
    def kind(self) -> str:
        """`asyncify` (the usual symptoms of unwinding through uninstrumented code, not a proof),
        `bug` (a trap Asyncify does not cause by itself), or `unknown` (any other message)."""
        low = self.message.lower()
        if any(h in low for h in ASYNCIFY_HINTS):
            return ASYNCIFY
        if any(h in low for h in BUG_HINTS):
            return BUG
        return UNKNOWN

    @property
    def looks_like_asyncify(self) -> bool:
        return self.kind == ASYNCIFY


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
    if re.match(r"^(invoke_[a-z]+|Object\.|Module\.|async |new )", name) or name in ("<anonymous>", "?", "", "<unnamed>"):
        return None
    if re.fullmatch(r"wasm-function\[\d+\]|<wasm function \d+>", name):
        return None
    return name


def _frame(m: re.Match[str]) -> Frame | None:
    g = m.groupdict()
    if g.get("jsc"):
        s = g["jsc"]
        return Frame(None, int(s)) if s.isdigit() else Frame(clean_name(s, None))
    module = g.get("module") or None
    name = clean_name(g["name"], module) if g.get("name") else None
    index = int(g["index"]) if g.get("index") else None
    offset = int(g["offset"], 16) if g.get("offset") else None
    if g.get("name") and name is None and index is None and offset is None:
        return None  # a JS frame (invoke_*), not wasm
    return Frame(name, index, offset, module)


def parse_frame(line: str) -> Frame | None:
    for pat in FRAME_PATTERNS:
        m = pat.search(line)
        if m:
            return _frame(m)
    return None


def _looked_back(lines: list[str], start: int, stop: int) -> tuple[str, int]:
    """The message of a stack that no known message line opened: the nearest error-looking line
    above it (JS frames skipped), else the nearest text line, else none."""
    nearest: tuple[str, int] | None = None
    seen = 0
    for i in range(start - 1, max(stop, -1), -1):
        text = lines[i].strip()
        if not text or JS_FRAME.match(lines[i]):
            continue
        nearest = nearest or (text, i + 1)
        if ERROR_LINE.search(text):
            return text, i + 1
        seen += 1
        if seen >= LOOKBACK:
            break
    return nearest or ("(wasm stack without an error message)", start + 1)


def parse_log(text: str) -> list[Crash]:
    """Every crash in a log, each with its wasm frames (innermost first)."""
    lines = text.splitlines()
    crashes: list[Crash] = []
    current: Crash | None = None
    open_ = False               # still reading the stack of `current`
    boundary = -1               # lines before this belong to an earlier crash
    awaiting_message = False    # wasmtime prints the frames first and the trap after "Caused by:"
    for i, line in enumerate(lines):
        if WASMTIME_HEADER.search(line):
            current, open_, awaiting_message = Crash("wasm trap", i + 1), True, True
            crashes.append(current)
            continue
        msg = MESSAGE.search(line)
        if msg and not (parse_frame(line) or JS_FRAME.match(line)):
            message = msg.group(0).split(" [wasm frames:")[0].strip()
            if awaiting_message and current is not None:
                current.message, awaiting_message = message, False
            else:
                current, open_ = Crash(message, i + 1), True
                crashes.append(current)
                boundary = i
        host = HOST_FRAMES.search(line)
        if host and current is not None:
            current.frames += [Frame(n) for n in (clean_name(x.strip(), None) for x in host.group("frames").split("<-")) if n]
            continue
        frame = parse_frame(line)
        if frame is not None:
            if current is None or not open_:
                message, at = _looked_back(lines, i, boundary)
                current, open_ = Crash(message, at), True
                crashes.append(current)
            current.frames.append(frame)
            boundary = i
            continue
        if awaiting_message and current is not None and line.strip() and lines[i - 1].strip() == "Caused by:":
            current.message, awaiting_message = re.sub(r"^\d+: ", "", line.strip()), False
            continue
        if JS_FRAME.match(line) or msg or awaiting_message:
            continue
        if line.strip() and current is not None and (current.frames or ERROR_LINE.search(line)):
            open_ = False       # text after a stack ends it; so does another error line before one
    return crashes
