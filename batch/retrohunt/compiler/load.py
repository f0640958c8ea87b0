"""Find rule files, parse them with pySigma, and compile each into the plan or a refusal."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaUTF16Modifier, modifier_mapping
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from retrohunt.compiler.cache import load_plan, plan_key, store_plan
from retrohunt.compiler.lists import (
    PatternList,
    find_value_lists,
    lists_digest,
    read_value_list,
)
from retrohunt.compiler.plan import CompiledRule, Plan, RefusedRule, rule_patterns, subset_plan
from retrohunt.compiler.translate import PatternTable, Unsupported, translate_rule
from retrohunt.errors import InvalidRule, RulesNotFound

PLAN_FORMAT = "retrohunt-plan-2"  # bump when the same rules would compile differently
RULE_SUFFIXES = (".yml", ".yaml")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ALLOWLIST_DIR = "allowlists"  # folders of allow-lists inside a rule pack, not rules


class _EncodedString(SigmaString):
    """A string whose encoded bytes are given (pySigma encodes every string as UTF-8)."""

    def __init__(self, text: SigmaString, encoded: bytes) -> None:
        super().__init__()
        self.s = text.s
        self.encoded = encoded

    def __bytes__(self) -> bytes:
        return self.encoded

    def __len__(self) -> int:  # base64offset counts bytes
        return len(self.encoded)


class _UTF16Modifier(SigmaUTF16Modifier):
    """Sigma's `utf16`: a byte order mark, then UTF-16LE. pySigma 1.5 writes the mark as a
    character, which the `base64` modifiers then encode as UTF-8 (EF BB BF) instead of the
    bytes FF FE."""

    def modify(self, val: SigmaString) -> SigmaString:
        text = super().modify(val)
        if val.contains_special():
            return text
        return _EncodedString(text, b"\xff\xfe" + str(val).encode("utf-16-le"))


# The Sigma specification names UTF-16 little-endian both `wide` and `utf16le`; pySigma 1.5
# knows only the first.
modifier_mapping.setdefault("utf16le", modifier_mapping["wide"])
modifier_mapping["utf16"] = _UTF16Modifier


def bundled_rules_dir() -> Path:
    """The rule pack shipped with retrohunt.

    In a wheel the pack is package data (`retrohunt/rules`); in an editable install or a
    source checkout it is the repository's top-level `rules/` folder.

    Raises:
        RulesNotFound: neither location exists (a broken install).
    """
    packaged = Path(str(importlib.resources.files("retrohunt"))) / "rules"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "rules"
    if checkout.is_dir():
        return checkout
    raise RulesNotFound("the bundled rule pack is missing from this install; pass --rules PATH")


def find_rule_files(paths: list[Path]) -> list[Path]:
    """Expand files and folders (recursively) into the sorted list of Sigma YAML files.

    Raises:
        RulesNotFound: a path is missing or unreadable, or no rule file is found at all.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in RULE_SUFFIXES
                and p.is_file()
                and ALLOWLIST_DIR not in p.relative_to(path).parts
            )
        else:
            raise RulesNotFound(f"{path}: no such rules file or folder")
    if not files:
        raise RulesNotFound(f"no Sigma rule files (*.yml, *.yaml) in {', '.join(map(str, paths))}")
    return files


def rule_roots(rules: Sequence[Path], patterns: Sequence[PatternList] = ()) -> list[Path] | None:
    """The rule paths a command works from: those given; None (the bundled pack) when
    neither rules nor pattern lists are given; none at all for pattern lists alone."""
    if rules:
        return list(rules)
    return [] if patterns else None


def find_allowlists(paths: list[Path] | None = None) -> list[Path]:
    """Allow-list files that rule folders carry in an `allowlists/` sub-folder (default: the
    bundled pack's); they apply whenever those rules are used."""
    found: list[Path] = []
    for path in paths if paths is not None else [bundled_rules_dir()]:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in RULE_SUFFIXES and p.is_file() and p.parent.name == ALLOWLIST_DIR
            )
    return found


def compile_rules(
    paths: list[Path] | None = None,
    *,
    strict: bool = False,
    patterns: Sequence[PatternList] = (),
) -> Plan:
    """Compile rule files/folders into one Plan, plus one rule per pattern list.

    The rules default to the bundled pack when neither `paths` nor `patterns` are given.
    Placeholders of the `expand` modifier (`%name%`) take the values of `lists/name.txt`
    in the rule folders (see `compiler.lists`). Every rule that does not parse or uses an
    unsupported construct is refused with its location; the others are compiled. With
    `strict`, the first refusal raises instead.

    Raises:
        RulesNotFound: see `find_rule_files`; or a pattern list cannot be read.
        InvalidRule: with `strict`, for the first refused rule.
    """
    roots = paths or ([] if patterns else [bundled_rules_dir()])
    files = find_rule_files(roots) if roots else []
    lists = find_value_lists(roots)
    digest = hashlib.sha256(PLAN_FORMAT.encode())
    if lists:
        digest.update(lists_digest(lists))
    sources: list[tuple[Path, bytes | dict[str, Any]]] = []
    for path in files:
        try:
            sources.append((path, path.read_bytes()))
        except OSError as exc:
            raise RulesNotFound(f"{path}: cannot read: {exc.strerror or exc}") from exc
    sources += [(spec.path, spec.rule()) for spec in patterns]
    for _path, source in sources:
        if isinstance(source, bytes):
            digest.update(hashlib.sha256(source).digest())
        else:
            digest.update(hashlib.sha256(json.dumps(source, sort_keys=True).encode()).digest())
    key = plan_key(digest.hexdigest(), [path for path, _ in sources])
    plan = load_plan(key)
    if plan is None:
        plan = _compile_sources(sources, lists, digest.hexdigest())
        store_plan(key, plan)
    if strict and plan.refused:
        first = plan.refused[0]
        raise InvalidRule(
            first.message, path=first.path, rule=first.rule, construct=first.construct
        )
    return plan


def _compile_sources(
    sources: list[tuple[Path, bytes | dict[str, Any]]], lists: dict[str, Path], digest: str
) -> Plan:
    """Parse every source, apply the Sigma filters found among them to every rule, and
    compile the rules (refusing, with the reason, those that cannot be)."""
    pipeline = _placeholder_pipeline(lists)
    parsed: list[tuple[Path, list[SigmaRule | RefusedRule]]] = []
    filters: list[SigmaFilter] = []
    for path, source in sources:
        documents = _documents(path, source) if isinstance(source, bytes) else [source]
        if isinstance(documents, RefusedRule):
            parsed.append((path, [documents]))
            continue
        rules, found_filters = _parse_documents(path, documents)
        parsed.append((path, rules))
        filters += found_filters
    table = PatternTable()
    compiled: list[CompiledRule] = []
    refused: list[RefusedRule] = []
    seen: dict[str, Path] = {}
    for path, rules in parsed:
        for item in rules:
            if isinstance(item, SigmaRule):
                outcome = _compile_rule(path, _filtered(item, filters), table, pipeline)
            else:
                outcome = item
            if isinstance(outcome, CompiledRule) and outcome.rule_id in seen:
                outcome = RefusedRule(
                    path,
                    outcome.name,
                    "id",
                    f"duplicate rule id (first in {seen[outcome.rule_id]})",
                )
            if isinstance(outcome, RefusedRule):
                refused.append(outcome)
            else:
                seen[outcome.rule_id] = path
                compiled.append(outcome)
    plan = Plan(tuple(compiled), tuple(table.patterns), tuple(refused), digest)
    return _without_unscannable(plan)


def _filtered(rule: SigmaRule, filters: Sequence[SigmaFilter]) -> SigmaRule:
    """The rule with every Sigma filter that names it (or its logsource) applied: pySigma
    adds the filter's selections and `and (filter condition)` to the rule's condition."""
    for sigma_filter in filters:
        if not rule.errors:
            applied = sigma_filter.apply_on_rule(rule)
            assert isinstance(applied, SigmaRule)
            rule = applied
    return rule


def _without_unscannable(plan: Plan) -> Plan:
    """Refuse the rules holding a value Hyperscan cannot compile (a pattern too long, say),
    so that one such rule does not stop the whole set."""
    from retrohunt.hyperscan_db import refused_patterns  # compiles the matcher's database

    refused = refused_patterns(plan.patterns)
    if not refused:
        return plan
    keep: list[int] = []
    refusals: list[RefusedRule] = []
    for index, rule in enumerate(plan.rules):
        bad = sorted(rule_patterns(rule) & set(refused))
        if not bad:
            keep.append(index)
            continue
        pattern = plan.patterns[bad[0]]
        refusal = RefusedRule(
            rule.path,
            rule.name,
            "pattern",
            f"Hyperscan cannot compile {pattern.field}='{pattern.display}': {refused[bad[0]]}",
        )
        refusals.append(refusal)
    kept = subset_plan(plan, keep)
    return replace(kept, refused=(*plan.refused, *refusals))


def _placeholder_pipeline(lists: dict[str, Path]) -> ProcessingPipeline | None:
    """A pySigma pipeline that fills `expand` placeholders from the lists' values; a
    placeholder without a list is left for the translator to refuse by name."""
    if not lists:
        return None
    return ProcessingPipeline(
        items=[
            ProcessingItem(transformation=ValueListPlaceholderTransformation(include=sorted(lists)))
        ],
        vars={name: list(read_value_list(path)) for name, path in lists.items()},
    )


def _documents(path: Path, text: bytes) -> list[Any] | RefusedRule:
    """The YAML documents of a rule file, or its refusal."""
    try:
        # What SigmaCollection.from_yaml does, with libyaml's loader when it is there: the
        # pure-Python one takes a tenth of a second per handful of rules.
        return list(yaml.load_all(text.decode("utf-8"), Loader=_YAML_LOADER))
    except UnicodeDecodeError as exc:
        return RefusedRule(path, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return RefusedRule(path, None, "yaml", f"YAML does not parse{where}: {problem}")


def _parse_documents(
    path: Path, documents: list[Any]
) -> tuple[list[SigmaRule | RefusedRule], list[SigmaFilter]]:
    """The file's rules (or their refusals) and its Sigma filters, in file order."""
    try:
        collection = SigmaCollection.from_dicts(
            documents, collect_errors=True, collect_filters=True
        )
    except SigmaError as exc:
        return [RefusedRule(path, None, None, f"not a Sigma rule file: {exc}")], []
    outcomes: list[SigmaRule | RefusedRule] = []
    filters: list[SigmaFilter] = []
    # pySigma reports a rule's errors on the rule and again on the collection: report the
    # collection's own only when no rule carries them.
    members = [*collection.rules, *collection.filters]
    rule_errors = {str(e) for rule in members for e in getattr(rule, "errors", [])}
    for error in getattr(collection, "errors", []):
        if str(error) not in rule_errors:
            outcomes.append(RefusedRule(path, None, _construct(error), f"does not parse: {error}"))
    for sigma_filter in collection.filters:
        if sigma_filter.errors:
            label = sigma_filter.name or sigma_filter.title
            error = sigma_filter.errors[0]
            outcomes.append(RefusedRule(path, label, "filter", f"filter does not parse: {error}"))
        else:
            filters.append(sigma_filter)
    for rule in collection.rules:
        if isinstance(rule, SigmaRule):
            outcomes.append(rule)
        else:
            other: str | None = getattr(rule, "name", None) or getattr(rule, "title", None)
            kind = type(rule).__name__
            outcomes.append(RefusedRule(path, other, kind, f"{kind} is not supported yet"))
    return outcomes, filters


def _compile_rule(
    path: Path, rule: SigmaRule, table: PatternTable, pipeline: ProcessingPipeline | None = None
) -> CompiledRule | RefusedRule:
    label = rule.name or rule.title
    if pipeline is not None and not rule.errors:
        try:
            pipeline.apply(rule)
        except SigmaError as exc:
            return RefusedRule(path, label, "expand", f"pattern list does not apply: {exc}")
    if rule.errors:
        error = rule.errors[0]
        return RefusedRule(path, label, _construct(error), f"does not parse: {error}")
    logsource = rule.logsource
    if not (logsource.category or logsource.product or logsource.service):
        return RefusedRule(
            path, label, "logsource", "logsource needs a category, product or service"
        )
    # Interning is undone if the rule is refused half-way, so refused rules leave no patterns.
    mark = len(table.patterns)
    try:
        condition = translate_rule(rule, table)
    except Unsupported as exc:
        table.rollback(mark)
        return RefusedRule(path, label, exc.construct, exc.message)
    except SigmaError as exc:
        table.rollback(mark)
        return RefusedRule(path, label, "condition", f"condition does not parse: {exc}")
    return CompiledRule(
        rule_id=str(rule.id) if rule.id else f"{path.stem}:{label}",
        name=rule.name or rule.title,
        title=rule.title,
        level=rule.level.name.lower() if rule.level else "medium",
        tags=tuple(f"{tag.namespace}.{tag.name}" for tag in rule.tags),
        category=logsource.category or None,
        product=logsource.product or None,
        service=logsource.service or None,
        path=path,
        condition=condition,
        falsepositives=tuple(str(fp) for fp in (rule.falsepositives or [])),
    )


def _construct(error: Exception) -> str | None:
    """The rule part a pySigma error is about: SigmaLogsourceError → "logsource" …"""
    name = type(error).__name__
    if not (name.startswith("Sigma") and name.endswith("Error")) or name == "SigmaError":
        return None
    return name.removeprefix("Sigma").removesuffix("Error").lower() or None
