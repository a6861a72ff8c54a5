"""asyncify-doctor: minimal, provably safe Asyncify lists for WebAssembly.

    import asyncify_doctor
    result = asyncify_doctor.analyze("app.wasm", imports=["env.sleep_ms"])
    result.names, result.why("dispatch"), result.to_json()
    asyncify_doctor.audit("app.async.wasm").missing
    asyncify_doctor.jspi("app.wasm", imports=["env.sleep_ms"]).exports_to_wrap

The functions live in `api` (imported on first use: the command line does not pay for them). Data
flows one way: bytes → `decode.Module` → `graph.CallGraph` → `analysis` → `render` (words, JSON) and
`lists` (files for builds); `commands` is the program.
"""
from .version import __version__
__all__ = ["AuditResult", "DoctorError", "InputError", "JspiResult", "ListResult", "UsageError", "__version__",
           "analyze", "audit", "jspi", "load"]


def __getattr__(name: str) -> object:
    if name in ("DoctorError", "InputError", "UsageError"):
        from . import errors
        return getattr(errors, name)
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'asyncify_doctor' has no attribute {name!r}")
