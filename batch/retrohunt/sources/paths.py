"""Native field names with dots reach into nested JSON: `winlog.event_data.Image`,
`requestParameters.instancesSet.items[].imageId` (`[]`: the first element of a list).

A dotted name is looked up nested first and, failing that, as a literal top-level key
(some exporters flatten `winlog.event_id` into one key). Reading nested values needs a
nested Polars schema; `parse.py` falls back to reading a line without a nested column when
the line's value there does not have the expected shape (the nested fields are then null,
the rest of the line is still read), and `retrohunt.reference` follows the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

Step = tuple[str, bool]  # (key, the value under it is a list whose first element we take)


def steps(name: str) -> tuple[Step, ...]:
    """`a.b[].c` → (("a", False), ("b", True), ("c", False))."""
    return tuple((part.removesuffix("[]"), part.endswith("[]")) for part in name.split("."))


def is_nested(name: str) -> bool:
    """Does the native name reach into nested JSON?"""
    return "." in name or name.endswith("[]")


def schema_for(names: Iterable[str]) -> dict[str, pl.DataType]:
    """The read schema for native names: text leaves, structs (and lists of structs) inside."""
    tree: dict[str, Any] = {}
    flat: set[str] = set()
    for name in names:
        if not is_nested(name):
            flat.add(name)
            continue
        flat.add(name)  # the literal flattened key as well
        node = tree
        path = steps(name)
        for key, is_list in path[:-1]:
            child = node.setdefault(key, {"__list__": False, "__children__": {}})
            child["__list__"] = child["__list__"] or is_list
            node = child["__children__"]
        key, is_list = path[-1]
        node.setdefault(key, {"__list__": is_list, "__children__": {}})
    schema: dict[str, pl.DataType] = {name: pl.String() for name in sorted(flat)}
    for key, node in tree.items():
        schema[key] = _dtype(node)
    return schema


def _dtype(node: dict[str, Any]) -> pl.DataType:
    children: dict[str, Any] = node["__children__"]
    inner: pl.DataType = (
        pl.Struct({k: _dtype(v) for k, v in sorted(children.items())}) if children else pl.String()
    )
    return pl.List(inner) if node["__list__"] else inner


def column(name: str) -> pl.Expr:
    """The native field as a text expression (nested lookup first, then the literal key)."""
    if not is_nested(name):
        return pl.col(name)
    path = steps(name)
    expr = pl.col(path[0][0])
    if path[0][1]:
        expr = expr.list.first()
    for key, is_list in path[1:]:
        expr = expr.struct.field(key)
        if is_list:
            expr = expr.list.first()
    return pl.coalesce(expr, pl.col(name))


def nested_roots(schema: dict[str, pl.DataType]) -> list[str]:
    """Top-level columns of a read schema that are nested (structs or lists)."""
    return [k for k, v in schema.items() if isinstance(v, pl.Struct | pl.List)]
