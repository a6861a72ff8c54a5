"""The JS source as a syntax tree (tree-sitter's JavaScript grammar, a C parser: PHP's 370 KB glue
parses in about 0.2 s) plus fast byte searches that land on tree nodes.

Searching the bytes finds candidates (`isAsync`, `wasmExports[`, …) in a megabyte in milliseconds;
the tree then says what each hit really is — code, or text inside a string or comment, or part of a
regular expression literal — which a regular expression over the text alone cannot tell.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import tree_sitter
import tree_sitter_javascript
from tree_sitter import Node

FUNCTIONS = frozenset({"function_declaration", "function_expression", "arrow_function", "method_definition",
                       "generator_function_declaration", "generator_function"})
NOT_CODE = frozenset({"string", "string_fragment", "template_string", "comment", "regex", "regex_pattern"})


@lru_cache(maxsize=1)
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_javascript.language()))


class Source:
    """One parsed JS file: its bytes, its tree, and helpers that speak in nodes."""

    def __init__(self, data: bytes) -> None:
        # tree-sitter's JS grammar stops at a NUL byte (quickjs-emscripten 0.23.0's glue has one in
        # a comment); a space in its place keeps every offset
        self.data = data.replace(b"\0", b" ")
        self.tree = _parser().parse(self.data)
        self.root = self.tree.root_node

    def text(self, node: Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def excerpt(self, node: Node, limit: int = 120) -> str:
        """The node's code on one line, cut to `limit` characters."""
        t = " ".join(self.text(node).split())
        return t if len(t) <= limit else t[:limit - 1] + "…"

    @staticmethod
    def line(node: Node) -> int:
        return node.start_point[0] + 1

    def node_at(self, start: int, end: int) -> Node | None:
        """The smallest named node spanning bytes [start, end)."""
        return self.root.named_descendant_for_byte_range(start, end)

    def find(self, pattern: bytes, group: int = 0, code: bool = True) -> Iterator[tuple[re.Match[bytes], Node]]:
        """Hits of `pattern` with the smallest node spanning `group`; with `code`, only hits whose
        node is code (not inside a string, comment or regex literal). A leading `(?<![…])` is tested
        here rather than by `re`: a pattern that starts with a literal is searched many times faster."""
        compiled, not_after = _split_lookbehind(pattern)
        data = self.data
        for m in compiled.finditer(data):
            if not_after is not None and m.start() > 0 and not_after.match(data, m.start() - 1):
                continue
            node = self.node_at(m.start(group), m.end(group))
            if node is not None and not (code and in_literal(node)):
                yield m, node

    def ident_before(self, pos: int) -> tuple[int, int] | None:
        """The identifier that ends just before `pos` (spaces between allowed): its byte span."""
        data, end = self.data, pos
        while end > 0 and data[end - 1] in b" \t\r\n":
            end -= 1
        start = end
        while start > 0 and (chr(data[start - 1]).isalnum() or data[start - 1] in b"_$"):
            start -= 1
        if start == end or chr(data[start]).isdigit():
            return None
        return start, end


@lru_cache(maxsize=256)
def _split_lookbehind(pattern: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes] | None]:
    m = re.match(rb"\(\?<!(\[[^\]]*\])\)", pattern)
    if m is None:
        return re.compile(pattern), None
    return re.compile(pattern[m.end():]), re.compile(m.group(1))


def in_literal(node: Node) -> bool:
    """Is the node a string, comment or regex literal, or inside one?"""
    n: Node | None = node
    while n is not None:
        if n.type in NOT_CODE:
            return True
        if n.type in ("template_substitution", "expression_statement", "statement_block", "program"):
            return False
        n = n.parent
    return False


def enclosing_function(node: Node) -> Node | None:
    n = node.parent
    while n is not None and n.type not in FUNCTIONS:
        n = n.parent
    return n


def up_to(node: Node, types: frozenset[str] | set[str]) -> Node | None:
    """The nearest ancestor (or the node itself) of one of `types`."""
    n: Node | None = node
    while n is not None and n.type not in types:
        n = n.parent
    return n


def function_name(src: Source, fn: Node) -> str | None:
    """The name a function is known by: its declaration, method or property key, or the variable
    it is assigned to."""
    name = fn.child_by_field_name("name")
    if name is not None:
        return src.text(name)
    parent = fn.parent
    if parent is not None and parent.type == "pair":
        return key_text(src, parent.child_by_field_name("key"))
    if parent is not None and parent.type == "variable_declarator":
        return src.text(parent.child_by_field_name("name"))  # type: ignore[arg-type]
    if parent is not None and parent.type == "assignment_expression":
        return src.text(parent.child_by_field_name("left"))  # type: ignore[arg-type]
    return None


def string_value(src: Source, node: Node | None) -> str | None:
    """The value of a plain string literal (no escapes beyond the simple ones), else None."""
    if node is None or node.type != "string":
        return None
    raw = src.text(node)[1:-1]
    if "\\" in raw:
        raw = re.sub(r"\\(.)", r"\1", raw)
    return raw


def key_text(src: Source, key: Node | None) -> str | None:
    """An object key as a name: `a`, `"a"`, `'a'`, `1`; None for computed keys."""
    if key is None:
        return None
    if key.type in ("property_identifier", "identifier", "number", "private_property_identifier"):
        return src.text(key)
    return string_value(src, key)


def property_access(src: Source, node: Node) -> tuple[Node, str] | None:
    """`obj.name` or `obj["name"]`: (the object node, the name); None for anything else."""
    if node.type == "member_expression":
        prop = node.child_by_field_name("property")
        obj = node.child_by_field_name("object")
        if prop is not None and obj is not None and prop.type == "property_identifier":
            return obj, src.text(prop)
    if node.type == "subscript_expression":
        obj = node.child_by_field_name("object")
        name = string_value(src, node.child_by_field_name("index"))
        if obj is not None and name is not None:
            return obj, name
    return None


def unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node
