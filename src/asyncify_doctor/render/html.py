"""AuditReport → one self-contained HTML page (`audit --format html`): the ranked groups of missing
functions with their chains (expandable), what each costs in code, the unneeded functions, and a
search box that filters them.

Self-contained means it works from a file with no network: the CSS and the script are inline, and
nothing is fetched (no CDN, fonts or images). Every name goes through `esc`: function names can hold
any character, including `<`, quotes and control characters, and must show as they are, never as
markup. The data lives in the DOM only (no JSON inside a <script>, which a name could end early);
the script reads the names back from the text of the page.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ..analysis.audit import AuditReport, triage_of
from ..decode import display_name
from .report import chain_parts
from ..analysis.triage import EVIDENCE, EVIDENCE_TEXT

if TYPE_CHECKING:
    from ..analysis.triage import Group, Triage


def esc(text: str) -> str:
    """HTML-escaped, with control characters (which HTML cannot carry) shown as `\\xNN`."""
    out = html.escape(text, quote=True)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in out):
        out = "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in out)
    return out


CSS = """
:root { --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0; --bg2: #f6f8fa; }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0 auto; max-width: 80rem; padding: 1rem 1.5rem; }
h1 { font-size: 1.4rem; margin: .2rem 0 .6rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; }
code, .chain, .mchain { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; overflow-wrap: anywhere; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .4rem; margin: .6rem 0; }
.totals div { background: var(--bg2); border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; }
.totals b { display: block; font-size: 1.2rem; }
.muted, .counts { color: var(--muted); }
#bar { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid var(--line); z-index: 1; }
#q { width: 28rem; max-width: 70%; padding: .35rem .5rem; font-size: 14px; }
details.group { border: 1px solid var(--line); border-radius: 6px; margin: .35rem 0; }
details.group > summary { padding: .4rem .6rem; cursor: pointer; background: var(--bg2); }
details.group[open] > summary { border-bottom: 1px solid var(--line); }
.body { padding: .4rem .8rem .6rem; }
.rank { display: inline-block; min-width: 2.6rem; font-weight: 600; }
.ev { display: inline-block; min-width: 10.5rem; padding: 0 .4rem; border-radius: 4px; font-size: 12px; }
.ev-observed { background: #d1f4d9; } .ev-direct { background: #dbe9ff; }
.ev-trampoline { background: #fff1c2; } .ev-indirect { background: #f4dcf7; }
ol.chain { margin: .3rem 0; padding-left: 1.6rem; } .via { color: var(--muted); }
ul.members { list-style: none; padding-left: .4rem; margin: .2rem 0; }
ul.members summary { cursor: pointer; } .mchain { color: var(--muted); padding: .1rem 0 .3rem 1.2rem; }
table { border-collapse: collapse; } td, th { padding: .15rem .8rem .15rem 0; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; }
"""

SCRIPT = """
(function () {
  const q = document.getElementById("q"), count = document.getElementById("count"), none = document.getElementById("none");
  const lower = (el) => el.textContent.toLowerCase();
  const groups = Array.from(document.querySelectorAll("details.group")).map((g) => ({
    el: g, names: Array.from(g.querySelectorAll(".fn")).map(lower),
    members: Array.from(g.querySelectorAll("li.member")).map((li) => ({ el: li, name: lower(li.querySelector(".fn")) })),
  }));
  const rows = Array.from(document.querySelectorAll("tr.row")).map((tr) => ({ el: tr, name: lower(tr.querySelector(".fn")) }));
  function filter() {
    const s = q.value.trim().toLowerCase();
    let shown = 0;
    for (const g of groups) {
      const hit = !s || g.names.some((n) => n.includes(s));
      g.el.hidden = !hit;
      if (hit) shown++;
      const some = s !== "" && g.members.some((m) => m.name.includes(s));
      for (const m of g.members) m.el.hidden = some && !m.name.includes(s);
    }
    let rowsShown = 0;
    for (const r of rows) { r.el.hidden = s !== "" && !r.name.includes(s); if (!r.el.hidden) rowsShown++; }
    count.textContent = `${shown} of ${groups.length} groups` + (rows.length ? `, ${rowsShown} of ${rows.length} other names` : "") + " shown";
    if (none) none.hidden = shown > 0 || groups.length === 0;
  }
  q.addEventListener("input", filter);
  filter();
})();
"""


def _fn(name: str) -> str:
    return f'<code class="fn">{esc(name)}</code>'


def _chain_items(tri: "Triage", g: "Group") -> str:
    """The representative chain as a numbered list, one function per item, each hop's kind noted."""
    m = tri.analysis.module
    items = []
    for i, step in enumerate(g.chain):
        note = ""
        if step.via:
            note = f"({step.via.describe(m)})"
        elif step.observed is not None:
            note = f"(observed at run time{' in ' + step.observed if step.observed else ''})"
        if i == 0 and g.observed_in:
            note = f"(seen on a real stack: {g.observed_in})"
        if i == len(g.chain) - 1 and not m.functions[step.function].imported and tri.analysis.mode == "all":
            note += " [contains an indirect call: Binaryen assumes it may unwind]"
        items.append(f'<li>{_fn(display_name(m, step.function))}{f" <span class=via>{esc(note.strip())}</span>" if note else ""}</li>')
    return f'<ol class="chain">{"".join(items)}</ol>'


def _group(tri: "Triage", g: "Group") -> str:
    m = tri.analysis.module
    target = display_name(m, g.target)
    members = []
    for f in g.members:
        chain = " → ".join(chain_parts(tri.analysis, tri.analysis.chain(f)))
        members.append(f'<li class="member"><details><summary>{_fn(m.functions[f].name)} '
                       f'<span class="counts">{m.body_size(f):,} bytes</span></summary>'
                       f'<div class="mchain">{esc(chain)}</div></details></li>')
    return (f'<details class="group" id="g{g.rank}" data-evidence="{g.evidence}">'
            f'<summary><span class="rank">#{g.rank}</span> <span class="ev ev-{g.evidence}">{EVIDENCE_TEXT[g.evidence]}</span> '
            f'{_fn(g.name)} → {_fn(target)} <span class="counts">· {len(g.members):,} function{"s" * (len(g.members) != 1)}'
            f' · only through it {g.only_through:,} · through it {g.through:,} · {g.body_bytes:,} bytes</span></summary>'
            f'<div class="body"><p>Why {_fn(g.name)} can be on the stack at {_fn(target)}:</p>{_chain_items(tri, g)}'
            f'<p>The {len(g.members):,} missing function{"s" * (len(g.members) != 1)} cut off here '
            f'({g.body_bytes:,} bytes of code to instrument; each with its own shortest chain):</p>'
            f'<ul class="members">{"".join(members)}</ul></div></details>')


def _totals(rep: AuditReport, tri: "Triage | None") -> str:
    cells = [("instrumented", len(rep.info.instrumented)), ("can be on an async stack", rep.needed),
             ("missing", len(rep.missing)), ("groups (frontiers)", len(tri.groups) if tri else 0),
             ("bytes of missing code", sum(f.size for f in rep.missing)),
             ("unneeded", len(rep.unneeded)), ("bytes instrumented for nothing", rep.unneeded_bytes)]
    if tri:
        cells += [(f"groups: {EVIDENCE_TEXT[e]}", n) for e, (n, _) in tri.by_evidence().items() if n]
    return '<div class="totals">' + "".join(f"<div><b>{v:,}</b>{esc(k)}</div>" for k, v in cells) + "</div>"


def _names_table(title: str, rows: list[tuple[str, str]], ident: str) -> str:
    if not rows:
        return ""
    body = "".join(f'<tr class="row"><td>{_fn(n)}</td><td class="n">{esc(v)}</td></tr>' for n, v in rows)
    return f'<section id="{ident}"><h2>{esc(title)}</h2><table><tbody>{body}</tbody></table></section>'


def report_html(rep: AuditReport, tool_version: str) -> str:
    """The whole page as one string."""
    title = f"asyncify-doctor audit: {rep.wasm}"
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">'
             f'<title>{esc(title)}</title><style>{CSS}</style></head><body>',
             f"<h1>Asyncify audit of <code>{esc(rep.wasm)}</code></h1>"]
    if not rep.info.asyncified:
        parts.append('<p id="verdict">Not asyncified (no <code>asyncify_*</code> exports): nothing to audit.</p>')
        return "".join(parts) + "</body></html>\n"
    tri = triage_of(rep)
    info = rep.info
    parts.append(f'<p id="verdict" class="muted">State global {info.state_global}, data global {info.data_global}; '
                 f"indirect calls counted as <code>--indirect {esc(rep.mode)}</code>.</p>")
    parts.append(_totals(rep, tri))
    parts.append('<div id="bar"><input id="q" type="search" placeholder="Filter groups and functions by name" '
                 'autocomplete="off" aria-label="filter"> <span id="count" class="muted"></span></div>')
    groups = tri.groups if tri else []
    parts.append(f'<section id="missing"><h2>Missing: {len(rep.missing):,} function{"s" * (len(rep.missing) != 1)} '
                 f"in {len(groups):,} group{'s' * (len(groups) != 1)}</h2>")
    if groups:
        parts.append('<p class="muted">Each group is the missing functions cut off at one <i>frontier</i>: the last '
                     "uninstrumented function on their chain, which calls an instrumented function or an async import "
                     "directly. Ranked by evidence (" + ", ".join(EVIDENCE_TEXT[e] for e in EVIDENCE) + "), then by "
                     "how many findings reach an async import <i>only through</i> the frontier. <i>Through it</i>: "
                     "findings that can reach it at all.</p>")
        parts.append('<div id="groups">' + "".join(_group(tri, g) for g in groups) + "</div>")  # type: ignore[arg-type]
        parts.append('<p id="none" hidden>No group matches the filter.</p>')
    parts.append("</section>")
    parts.append(_names_table(f"Unneeded: {len(rep.unneeded)} instrumented functions never on an async stack "
                              f"({rep.unneeded_bytes:,} bytes of code)",
                              [(f.name, f"{f.size:,} bytes") for f in sorted(rep.unneeded, key=lambda f: (-f.size, f.function))],
                              "unneeded"))
    parts.append(_names_table("List entries matching no function in the binary (typos, inlined or renamed)",
                              [(n, "") for n in rep.list_not_in_binary], "not-in-binary"))
    parts.append(_names_table("List entries whose function is not instrumented (list and binary disagree)",
                              [(n, "") for n in rep.list_not_instrumented], "not-instrumented"))
    parts.append(f'<footer class="muted"><p>asyncify-doctor {esc(tool_version)}</p></footer>'
                 f"<script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)
