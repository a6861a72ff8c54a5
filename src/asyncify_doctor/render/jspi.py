"""The JSPI report (`analysis.jspi.JspiReport`) in words and as JSON."""
from __future__ import annotations

from ..analysis.jspi import Hazard, JspiReport
from ..decode import display_name, shown_name
from ..schemas import document
from .glue import jspi_json, jspi_lines
from .report import format_chain


def caller_chain(rep: JspiReport, h: Hazard) -> str:
    """`export → … → caller → env.invoke_X`."""
    return " → ".join(shown_name(rep.module, f) for f in [*h.caller_path, h.reenter])


def callee_chain(h: Hazard) -> str:
    """`re-entered function → … → suspending import`."""
    return format_chain(h.analysis, h.callee_steps)


SHOWN = 20   # names on one line of the text report; --format json has them all


def some(names: list[str], shown: int = SHOWN) -> str:
    """A line's list of names, the first `shown` of them (PHP's needless wraps made a 260 KB line)."""
    if not names:
        return "none"
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f", … and {more} more (--format json lists them all)" if more > 0 else "")


def report_text(rep: JspiReport) -> str:
    m = rep.module
    lines = [f"exports to wrap with WebAssembly.promising (JSPI_EXPORTS): {len(rep.suspending_exports)}"]
    lines += [f"  {n}" for n in rep.suspending_exports]
    lines.append(f"imports that may suspend (wrap with WebAssembly.Suspending; JSPI_IMPORTS): {len(rep.suspending_imports)}")
    lines += [f"  {shown_name(m, i)}" for i in rep.suspending_imports]
    if rep.missing_wraps or rep.needless_wraps:
        lines.append(f"missing from the current list (they trap with SuspendError): {some(rep.missing_wraps)}")
        lines.append(f"wrapped needlessly (never suspend): {some(rep.needless_wraps)}")
    lines += jspi_lines(rep)
    lines.append(f"JS-frame hazards (work under Asyncify, trap under JSPI): {len(rep.hazards)}")
    for h in rep.hazards:
        lines.append(f"  {caller_chain(rep, h)} → (JS trampoline re-enters wasm) {callee_chain(h)}")
    if rep.migration:
        mg = rep.migration
        lines.append(f"migration from {mg['asyncify_build']}: Asyncify instruments {mg['instrumented_functions']} "
                     f"functions ({mg['instrumented_code_bytes']} bytes of instrumented code); code section "
                     f"{mg['asyncify_code_bytes']} bytes vs {mg['jspi_code_bytes']} in the JSPI build, files "
                     f"{mg['asyncify_file_bytes']} vs {mg['jspi_file_bytes']} bytes")
    if rep.reentering_imports:
        lines.append(f"re-entering imports considered: {len(rep.reentering_imports)} "
                     f"({', '.join(display_name(m, i) for i in rep.reentering_imports[:6])}"
                     f"{', …' if len(rep.reentering_imports) > 6 else ''})")
    return "\n".join(lines) + "\n"


def report_json(rep: JspiReport) -> dict:
    """`jspi --format json` (schema `asyncify-doctor/jspi/1`)."""
    m = rep.module
    return document("jspi", {"suspending_exports": rep.suspending_exports,
            "suspending_imports": [display_name(m, i) for i in rep.suspending_imports],
            "reentering_imports": [display_name(m, i) for i in rep.reentering_imports],
            "hazards": [{"reenters": display_name(m, h.reenter), "entry": m.functions[h.entry].name,
                         "caller_chain": caller_chain(rep, h), "callee_chain": callee_chain(h)} for h in rep.hazards],
            "missing_wraps": rep.missing_wraps, "needless_wraps": rep.needless_wraps,
            **({"migration": rep.migration} if rep.migration else {}),
            **({"glue": jspi_json(rep)} if rep.glue is not None else {})})
