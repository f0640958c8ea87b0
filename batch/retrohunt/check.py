"""Check a rule set and report findings: what a rule repository's CI wants to know before a
scan ever runs.

`check_rules` compiles the rules as `scan` does and reports, per rule, with a severity:

* errors — a file that is not YAML, a rule that does not parse or uses a construct the
  compiler refuses (`compile_rules`' refusals, construct named: a regex that needs
  backtracking among them), a pattern Hyperscan rejects (each compiled on its own, for
  Hyperscan's own message);
* warnings — patterns Hyperscan runs poorly: a wildcard match whose longest literal is
  shorter than the prefilter's `MIN_FRAGMENT` (it matches a large share of all values and
  the prefilter cannot demand it), a value or regex that matches every value, a regex with
  a huge bounded repeat, a pattern whose compile time or database size is an outlier of
  the set (measured); redundant patterns (a value of an OR group that
  another value of the same field and case sensitivity already matches); rules without a
  prefilter (`retrohunt.explain`: they fall back to their event types or every line);
* info — every regex, with the engine that runs it (Polars' linear-time regex engine, on
  the rows the rule's other tests keep; noted when Hyperscan could not have run it) and
  the literal text the prefilter demands of it; and the size of the whole set: pattern
  count, Hyperscan compile time and database size (compiled without the on-disk cache, so
  the time is real).

Subsumption is claimed only when certain: literal values of the same field and case
sensitivity in one OR group (nested ORs flattened, under a negation too), where the general
value is a plain equals / startswith / endswith / contains and the special one holds that
text at the place it demands; other wildcard shapes subsume only a value equal to them.
Case-insensitive values are compared with ASCII letters folded, as Hyperscan folds them.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hyperscan
import polars as pl
import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag

from retrohunt.compiler import (
    And,
    CompiledRule,
    Node,
    Not,
    Or,
    Plan,
    RefusedRule,
    RegexMatch,
    StringMatch,
    StringPattern,
    ValuePart,
    Wildcard,
    bundled_rules_dir,
    compile_rules,
    find_rule_files,
)
from retrohunt.compiler.plan import rule_patterns
from retrohunt.explain import EVENT_TYPES, PREFILTERED, RuleExplanation, explain
from retrohunt.hyperscan_db import pattern_expressions
from retrohunt.match.predicates import regex_problem
from retrohunt.prefilter import MIN_FRAGMENT
from retrohunt.regex_literals import Required, Some, Text, required_literals

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)
"""Finding severities, most severe first: errors fail a check, warnings fail a strict one."""

# Finding kinds.
NOT_YAML = "not-yaml"  # the file is not UTF-8 YAML
INVALID = "invalid"  # the rule does not parse (pySigma, condition, logsource, duplicate id)
UNSUPPORTED = "unsupported"  # a construct the compiler refuses
REJECTED = "hyperscan-rejected"  # Hyperscan refuses a pattern or a regex
SET_REJECTED = "database-rejected"  # every pattern compiles alone, the set does not
SHORT_LITERAL = "short-literal"
MATCHES_ALL = "matches-every-value"
LARGE_REPEAT = "large-repeat"
REGEX_ENGINE = "regex"  # a regex, the engine that runs it and what the prefilter demands
SLOW_COMPILE = "slow-compile"
LARGE_DATABASE = "large-database"
REDUNDANT = "redundant"
NO_PREFILTER = "no-prefilter"
SUMMARY = "summary"

HUGE_REPEAT = 1000
"""A regex repeat bound from which a warning is given (Hyperscan's performance guide uses
`.{1000,1001}` as its example of an expensive bounded repeat)."""
SLOW_COMPILE_SECONDS = 0.05
LARGE_DATABASE_BYTES = 64 * 1024
OUTLIER_FACTOR = 10.0
OUTLIER_SAMPLE = 5
"""A pattern compiled on its own is an outlier when it takes at least SLOW_COMPILE_SECONDS
(or makes a database of at least LARGE_DATABASE_BYTES) and OUTLIER_FACTOR times the median
of the set (with fewer than OUTLIER_SAMPLE patterns, the absolute floor alone). Measured
with Hyperscan 5.4: a literal compiles alone in 0.1-1.5 ms into 1-7 KB."""
_REMEASURE = 2  # extra compiles of a slow-looking pattern; the fastest counts

_UPPER_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: hyperscan.HS_FLAG_CASELESS,
    SigmaRegularExpressionFlag.MULTILINE: hyperscan.HS_FLAG_MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: hyperscan.HS_FLAG_DOTALL,
}
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_INLINE_FLAGS = re.compile(r"^\(\?[a-zA-Z]+\)")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found: how bad, what kind, where, and why in one line."""

    severity: str  # ERROR, WARNING or INFO
    kind: str  # NOT_YAML, INVALID, UNSUPPORTED, REJECTED, REDUNDANT, …
    reason: str
    file: Path | None = None  # None: about the whole rule set
    rule: str | None = None  # None: about the whole file or set
    field: str | None = None
    value: str | None = None  # as the rule writes it (Sigma wildcards, or the regex)
    construct: str | None = None  # the refused construct, as the rule author knows it

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "rule": self.rule,
            "file": None if self.file is None else str(self.file),
            "field": self.field,
            "value": self.value,
            "construct": self.construct,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every finding of a check, most severe first, and the figures of the whole set."""

    findings: tuple[Finding, ...]
    files: int  # rule files read
    rules: int  # rules compiled
    refused: int  # rules (or files) refused
    patterns: int  # string patterns in the matcher's Hyperscan database
    compile_seconds: float  # compiling that database, without the cache
    database_bytes: int  # its serialized size
    prefilter_patterns: int  # Hyperscan patterns of the prefilter

    def count(self, severity: str) -> int:
        """How many findings have this severity."""
        return sum(1 for finding in self.findings if finding.severity == severity)

    @property
    def errors(self) -> int:
        """Findings of severity ERROR."""
        return self.count(ERROR)

    @property
    def warnings(self) -> int:
        """Findings of severity WARNING."""
        return self.count(WARNING)

    def failed(self, *, strict: bool = False) -> bool:
        """Does the check fail: any error, or with `strict` any warning too."""
        return bool(self.errors or (strict and self.warnings))

    def to_dict(self) -> dict[str, Any]:
        """The report as one JSON-ready document."""
        return {
            "errors": self.errors,
            "warnings": self.warnings,
            "infos": self.count(INFO),
            "totals": {
                "files": self.files,
                "rules": self.rules,
                "refused": self.refused,
                "patterns": self.patterns,
                "compile_seconds": round(self.compile_seconds, 6),
                "database_bytes": self.database_bytes,
                "prefilter_patterns": self.prefilter_patterns,
            },
            "findings": [finding.to_dict() for finding in self.findings],
        }


def check_rules(paths: Sequence[Path] | None = None) -> CheckReport:
    """Check the rule files and folders at `paths` (default: the bundled pack).

    Compiles them as `scan` would, then compiles every string pattern (and every `re`
    value, even while the compiler refuses those) on its own with Hyperscan and measures
    it, looks for redundant values, and asks `explain` which rules have no prefilter.
    Costs well under a millisecond per pattern on top of compiling the rules.

    Raises:
        RulesNotFound: a path is missing or unreadable, or holds no rule file.
    """
    roots = list(paths) if paths else [bundled_rules_dir()]
    files = find_rule_files(roots)
    plan = compile_rules(roots)
    findings = [_refusal(refused) for refused in plan.refused]
    measured: list[tuple[_Measure, list[_Place]]] = []
    accepted = _check_patterns(plan, findings, measured)
    for path in files:
        for label, item, regex in _regexes(path):
            place = _Place(path, label, item.field, str(regex.regexp))
            findings += _check_regex(regex, place)
    findings += _outlier_findings(measured)
    for rule in plan.rules:
        findings += redundant_findings(rule, plan)
    explanation = explain(plan)
    for rule, explained in zip(plan.rules, explanation.rules, strict=True):
        if explained.mode != PREFILTERED:
            place = _Place(rule.path, rule.name, None, None)
            findings.append(place.finding(WARNING, NO_PREFILTER, _no_prefilter(explained)))

    by_field: dict[str, list[tuple[bytes, int, int]]] = {}
    for compiled in accepted:
        by_field.setdefault(plan.patterns[compiled[1]].field, []).append(compiled)
    seconds, size = 0.0, 0
    for field_patterns in by_field.values():  # as the engine compiles them: one per field
        took, field_size, failure = _compile_set(field_patterns)
        seconds, size = seconds + took, size + field_size
        if failure is not None:
            reason = f"Hyperscan rejects the pattern set as a whole: {failure}"
            findings.append(Finding(ERROR, SET_REJECTED, reason))
    findings.append(
        Finding(
            INFO,
            SUMMARY,
            f"{len(accepted):,} string patterns in {len(by_field):,} Hyperscan databases (one "
            f"per field): compiled in "
            f"{seconds * 1000:,.1f} ms (no cache), {size / 1024:,.1f} KiB; the prefilter has "
            f"{explanation.patterns:,} patterns",
        )
    )
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (rank[f.severity], f.file is None, str(f.file or ""), f.rule or ""))
    return CheckReport(
        findings=tuple(findings),
        files=len(files),
        rules=len(plan.rules),
        refused=len(plan.refused),
        patterns=len(accepted),
        compile_seconds=seconds,
        database_bytes=size,
        prefilter_patterns=explanation.patterns,
    )


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a finding is: a rule of a file, and the field and value it is about."""

    file: Path
    rule: str | None
    field: str | None
    value: str | None

    def finding(self, severity: str, kind: str, reason: str) -> Finding:
        return Finding(severity, kind, reason, self.file, self.rule, self.field, self.value)


# --- refusals -------------------------------------------------------------------------------


def _refusal(refused: RefusedRule) -> Finding:
    """A compiler refusal as an error finding, the construct named."""
    message, construct = refused.message, refused.construct
    field = None
    if construct == "yaml" or message.startswith("not UTF-8"):
        kind = NOT_YAML
    elif construct == "pattern":  # the compiler refused it for Hyperscan's sake
        kind = REJECTED
        field = message.removeprefix("Hyperscan cannot compile ").partition("=")[0] or None
    elif "not supported" in message:
        kind = UNSUPPORTED
    else:
        kind = INVALID
    reason = message
    if construct and construct not in message and kind != NOT_YAML:
        reason += f" (construct '{construct}')"
    return Finding(
        ERROR, kind, reason, refused.path, refused.rule, field=field, construct=construct
    )


def _no_prefilter(explained: RuleExplanation) -> str:
    """Why a rule runs without a prefilter, in the terms of `rules explain`."""
    text = (
        "no prefilter: nothing in its condition must appear in a line's raw text (negations, "
        "presence tests, literals shorter than 3 bytes, wide IP ranges and computed fields "
        "demand nothing); "
    )
    if explained.mode == EVENT_TYPES:
        return (
            text + f"scans parse every line naming one of its event types ({explained.condition})"
        )
    return text + "scans parse every line for it"


# --- string patterns ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Measure:
    """One expression compiled on its own: time, database size, and how to compile again."""

    seconds: float
    size: int
    expression: bytes
    flags: int


def _check_patterns(
    plan: Plan, findings: list[Finding], measured: list[tuple[_Measure, list[_Place]]]
) -> list[tuple[bytes, int, int]]:
    """Compile every string pattern alone as `compile_patterns` would; add what is wrong
    with it to `findings` (once per rule using it), its measure to `measured`; return the
    (expression, id, flags) of those Hyperscan accepts."""
    users: dict[int, list[CompiledRule]] = {}
    for rule in plan.rules:
        for pattern_id in sorted(rule_patterns(rule)):
            users.setdefault(pattern_id, []).append(rule)
    expressions, all_flags = pattern_expressions(plan.patterns)
    accepted: list[tuple[bytes, int, int]] = []
    for pattern, expression, flags in zip(plan.patterns, expressions, all_flags, strict=True):
        places = [
            _Place(rule.path, rule.name, pattern.field, pattern.display)
            for rule in users.get(pattern.id, [])
        ]
        outcome = _compile_alone(expression, flags)
        if isinstance(outcome, str):
            reason = f"Hyperscan rejects it: {outcome}"
            findings += [place.finding(ERROR, REJECTED, reason) for place in places]
            continue
        accepted.append((expression, pattern.id, flags))
        measured.append((outcome, places))
        for severity, kind, reason in _pattern_warnings(pattern):
            findings += [place.finding(severity, kind, reason) for place in places]
    return accepted


def _compile_alone(expression: bytes, flags: int) -> _Measure | str:
    """Compile one expression on its own: its measure, or Hyperscan's refusal message."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    start = time.perf_counter()
    try:
        database.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
    except hyperscan.error as exc:
        return str(exc.args[0]) if exc.args else str(exc)
    return _Measure(time.perf_counter() - start, int(database.size()), expression, flags)


def _pattern_warnings(pattern: StringPattern) -> list[tuple[str, str, str]]:
    """(severity, kind, reason) of what runs poorly in one Sigma string value."""
    if Wildcard.ANY not in pattern.parts:
        return []  # anchored at both ends of the value (`?` aside): cheap however short
    literals = [part for part in pattern.parts if isinstance(part, str)]
    if not literals:
        least = pattern.parts.count(Wildcard.ONE)
        which = f"of {least}+ characters" if least else "of the field"
        reason = (
            f"only wildcards: matches every value {which} "
            "(write `|exists: true` if presence is what is meant)"
        )
        return [(WARNING, MATCHES_ALL, reason)]
    longest = max(literals, key=lambda text: len(text.encode("utf-8")))
    size = len(longest.encode("utf-8"))
    if size >= MIN_FRAGMENT:
        return []
    reason = (
        f"its longest literal '{longest}' has {size} byte{'s' if size > 1 else ''}: it "
        "matches a large share of all values, and the prefilter ignores text shorter than "
        f"{MIN_FRAGMENT} bytes"
    )
    return [(WARNING, SHORT_LITERAL, reason)]


# --- regular expressions --------------------------------------------------------------------


def _regexes(path: Path) -> Iterator[tuple[str, SigmaDetectionItem, SigmaRegularExpression]]:
    """Every `re` value of the rules in one file (a file that does not parse has none here:
    the compiler's refusal reports it)."""
    try:
        documents = list(yaml.load_all(path.read_bytes().decode("utf-8"), Loader=_YAML_LOADER))
        collection = SigmaCollection.from_dicts(documents, collect_errors=True)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, SigmaError):
        return
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule) or rule.errors:
            continue
        label = rule.name or rule.title
        for detection in rule.detection.detections.values():
            for item in _items(detection):
                for value in item.value:
                    if isinstance(value, SigmaRegularExpression):
                        yield label, item, value


def _items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _check_regex(regex: SigmaRegularExpression, place: _Place) -> list[Finding]:
    """List one regex with the engine that runs it and what the prefilter demands of it,
    and lint it. A regex the engine cannot run is the compiler's refusal, reported once."""
    flags = "".join(sorted(regex.sigma_to_re_flag[flag] for flag in regex.flags))
    node = RegexMatch(place.field or "", str(regex.regexp), flags)
    if regex_problem(node.expression) is not None:
        return []
    needed = describe_required(required_literals(node.regex, node.flags))
    reason = (
        "runs in Polars' regex engine (Rust regex: automata, no backtracking, linear in the "
        "text) on the rows the rule's other tests keep; the prefilter demands "
        + (needed or "nothing of it")
    )
    hyperscan_flags = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_ALLOWEMPTY
    for flag in regex.flags:
        hyperscan_flags |= _REGEX_FLAGS.get(flag, 0)
    outcome = _compile_alone(node.regex.encode("utf-8"), hyperscan_flags)
    if isinstance(outcome, str):
        reason += f" (beyond Hyperscan: {outcome})"
    found = [place.finding(INFO, REGEX_ENGINE, reason)]
    if pl.Series([""]).str.contains(node.expression).item():
        reason = "matches the empty string, hence every value: use `|exists: true`"
        found.append(place.finding(WARNING, MATCHES_ALL, reason))
    largest = largest_repeat(_INLINE_FLAGS.sub("", node.regex))
    if largest >= HUGE_REPEAT:
        reason = (
            f"a bounded repeat of {largest:,}: the regex engine builds that many copies of "
            "what it repeats (slow to compile, and refused past its size limit); bound the "
            "match by literal text instead"
        )
        found.append(place.finding(WARNING, LARGE_REPEAT, reason))
    return found


def describe_required(needed: Required) -> str:
    """Literal demands as text: 'a' & ('b' | 'c'); empty when nothing is demanded."""
    if isinstance(needed, Text):
        return repr(needed.value) if len(needed.value.encode()) >= MIN_FRAGMENT else ""
    parts = [describe_required(part) for part in needed.parts]
    if isinstance(needed, Some):
        if not all(parts):
            return ""
        return " | ".join(f"({p})" if " & " in p else p for p in parts)
    kept = [p for p in parts if p]
    return " & ".join(f"({p})" if " | " in p else p for p in kept)


def largest_repeat(regex: str) -> int:
    """The largest bound of a `{n}`, `{n,}` or `{n,m}` repeat in a regex (0 when none);
    escapes and character classes are skipped."""
    largest = 0
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            j = i + 1
            if j < len(regex) and regex[j] == "^":
                j += 1
            if j < len(regex) and regex[j] == "]":
                j += 1  # a leading ] is a member
            while j < len(regex) and regex[j] != "]":
                j += 2 if regex[j] == "\\" else 1
            i = j + 1
            continue
        if char == "{":
            found = _REPEAT.match(regex, i)
            if found:
                largest = max(largest, int(found[1]), int(found[2] or 0))
                i = found.end()
                continue
        i += 1
    return largest


# --- redundant values -----------------------------------------------------------------------


def subsumes(general: StringPattern, special: StringPattern) -> bool:
    """Is it certain that every value `special` matches, `general` matches too?

    Only for the same field and case sensitivity (case-insensitive values compared with
    ASCII letters folded): a value subsumes one equal to it; `*` subsumes everything; a
    plain contains subsumes any value with a literal holding its text, a plain startswith
    (endswith) any value whose first (last) part is a literal starting (ending) with its
    text. Any other wildcard shape subsumes only its equal.
    """
    if (general.field, general.cased) != (special.field, special.cased):
        return False
    wide, narrow = _fold(general), _fold(special)
    if wide == narrow or wide == (Wildcard.ANY,):
        return True
    shape = _shape(wide)
    if shape is None:
        return False
    kind, text = shape
    if kind == "contains":
        return any(isinstance(part, str) and text in part for part in narrow)
    if kind == "startswith":
        return bool(narrow) and isinstance(narrow[0], str) and narrow[0].startswith(text)
    return bool(narrow) and isinstance(narrow[-1], str) and narrow[-1].endswith(text)


def redundant_findings(rule: CompiledRule, plan: Plan) -> list[Finding]:
    """Warnings for the redundant values of one rule: in each OR group of its condition
    (nested ORs flattened), a string value another value of the group subsumes (see
    `subsumes`; of equal values, the first is kept)."""
    found: list[Finding] = []
    for group in _or_groups(rule.condition):
        buckets: dict[tuple[str, bool], list[StringPattern]] = {}
        for pattern_id in group:
            pattern = plan.patterns[pattern_id]
            buckets.setdefault((pattern.field, pattern.cased), []).append(pattern)
        for members in buckets.values():
            for special, general in subsumed_pairs(members):
                if special.id == general.id:
                    reason = "listed twice in the same OR group"
                elif _fold(special) == _fold(general):
                    reason = (
                        f"the same value as `{_written(general)}` in the same OR group but "
                        "for case, and the match is case-insensitive"
                    )
                else:
                    reason = (
                        f"`{_written(general)}` in the same OR group already matches every "
                        "value it matches"
                    )
                place = _Place(rule.path, rule.name, special.field, special.display)
                found.append(place.finding(WARNING, REDUNDANT, reason))
    return found


def subsumed_pairs(members: Sequence[StringPattern]) -> list[tuple[StringPattern, StringPattern]]:
    """(redundant, because of) for each member of one OR group that another subsumes;
    members of one field and case sensitivity. Of equal members the first is kept; the
    subsumer named is the most general found. Indexed: linear in the members, not square."""
    folded = [_fold(member) for member in members]
    first: dict[tuple[ValuePart, ...], int] = {}
    index: dict[str, dict[str, int]] = {"contains": {}, "startswith": {}, "endswith": {}}
    every: int | None = None
    for i, parts in enumerate(folded):
        first.setdefault(parts, i)
        if parts == (Wildcard.ANY,):
            every = i if every is None else every
        elif (shape := _shape(parts)) is not None:
            index[shape[0]].setdefault(shape[1], i)
    lengths = sorted({len(text) for text in index["contains"]})
    pairs: list[tuple[StringPattern, StringPattern]] = []
    for i, parts in enumerate(folded):
        j: int | None = first[parts]
        if j == i:
            j = _subsumer(parts, every, index, lengths)
        if j is not None:
            pairs.append((members[i], members[j]))
    return pairs


def _subsumer(
    parts: tuple[ValuePart, ...],
    every: int | None,
    index: dict[str, dict[str, int]],
    lengths: list[int],
) -> int | None:
    """The index of a member not equal to `parts` that subsumes it, shortest text first."""
    if every is not None and parts != (Wildcard.ANY,):
        return every
    for text in (part for part in parts if isinstance(part, str)):
        for length in lengths:
            for start in range(len(text) - length + 1):
                window = text[start : start + length]
                found = index["contains"].get(window)
                if found is not None and parts != (Wildcard.ANY, window, Wildcard.ANY):
                    return found
    if parts and isinstance(parts[0], str):
        for length in range(1, len(parts[0]) + 1):
            prefix = parts[0][:length]
            found = index["startswith"].get(prefix)
            if found is not None and parts != (prefix, Wildcard.ANY):
                return found
    if parts and isinstance(parts[-1], str):
        for length in range(1, len(parts[-1]) + 1):
            suffix = parts[-1][len(parts[-1]) - length :]
            found = index["endswith"].get(suffix)
            if found is not None and parts != (Wildcard.ANY, suffix):
                return found
    return None


def _or_groups(node: Node) -> Iterator[list[int]]:
    """The string pattern ids of every OR group with two or more of them (nested ORs
    flattened), under ANDs and negations too."""
    if isinstance(node, Or):
        members: list[int] = []
        others: list[Node] = []
        _flatten_or(node, members, others)
        if len(members) > 1:
            yield members
        for other in others:
            yield from _or_groups(other)
    elif isinstance(node, And):
        for child in node.children:
            yield from _or_groups(child)
    elif isinstance(node, Not):
        yield from _or_groups(node.child)


def _flatten_or(node: Or, members: list[int], others: list[Node]) -> None:
    for child in node.children:
        if isinstance(child, Or):
            _flatten_or(child, members, others)
        elif isinstance(child, StringMatch):
            members.append(child.pattern)
        else:
            others.append(child)


def _fold(pattern: StringPattern) -> tuple[ValuePart, ...]:
    """The pattern's parts, ASCII letters folded unless it is cased (as Hyperscan folds)."""
    if pattern.cased:
        return pattern.parts
    return tuple(
        part.translate(_UPPER_TO_LOWER) if isinstance(part, str) else part for part in pattern.parts
    )


def _shape(parts: tuple[ValuePart, ...]) -> tuple[str, str] | None:
    """("contains" | "startswith" | "endswith", text) for those plain shapes, else None."""
    if len(parts) == 3 and parts[0] is Wildcard.ANY and parts[2] is Wildcard.ANY:
        text = parts[1]
        return ("contains", text) if isinstance(text, str) else None
    if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is Wildcard.ANY:
        return ("startswith", parts[0])
    if len(parts) == 2 and parts[0] is Wildcard.ANY and isinstance(parts[1], str):
        return ("endswith", parts[1])
    return None


def _written(pattern: StringPattern) -> str:
    """The value as a rule would write it: `Image|endswith: .exe`."""
    modifiers = ""
    text = pattern.display
    shape = _shape(pattern.parts)
    if shape is not None:
        modifiers = f"|{shape[0]}"
        text = StringPattern(pattern.id, pattern.field, (shape[1],)).display
    if pattern.cased:
        modifiers += "|cased"
    return f"{pattern.field}{modifiers}: {text}"


# --- measured outliers ----------------------------------------------------------------------


def outlier_indices(values: Sequence[float], floor: float) -> list[int]:
    """Indices of the values that are at least `floor` and, with OUTLIER_SAMPLE values or
    more, at least OUTLIER_FACTOR times their median."""
    if not values:
        return []
    limit = floor
    if len(values) >= OUTLIER_SAMPLE:
        limit = max(floor, OUTLIER_FACTOR * statistics.median(values))
    return [i for i, value in enumerate(values) if value >= limit]


def _outlier_findings(measured: list[tuple[_Measure, list[_Place]]]) -> list[Finding]:
    """Warnings for the patterns whose database size or compile time is an outlier."""
    found: list[Finding] = []
    sizes = [float(measure.size) for measure, _ in measured]
    for i in outlier_indices(sizes, LARGE_DATABASE_BYTES):
        measure, places = measured[i]
        reason = (
            f"compiled alone it makes a {measure.size / 1024:,.0f} KiB database "
            f"({_against(sizes, LARGE_DATABASE_BYTES / 1024, 1 / 1024, 'KiB')})"
        )
        found += [place.finding(WARNING, LARGE_DATABASE, reason) for place in places]
    times = [measure.seconds for measure, _ in measured]
    slow = outlier_indices(times, SLOW_COMPILE_SECONDS)
    for i in slow:  # a busy machine can stall one compile: the fastest of three counts
        measure = measured[i][0]
        for _ in range(_REMEASURE):
            again = _compile_alone(measure.expression, measure.flags)
            if isinstance(again, _Measure):
                times[i] = min(times[i], again.seconds)
    for i in sorted(set(slow) & set(outlier_indices(times, SLOW_COMPILE_SECONDS))):
        reason = (
            f"compiles alone in {times[i] * 1000:,.0f} ms "
            f"({_against(times, SLOW_COMPILE_SECONDS * 1000, 1000, 'ms')})"
        )
        found += [place.finding(WARNING, SLOW_COMPILE, reason) for place in measured[i][1]]
    return found


def _against(values: Sequence[float], floor: float, scale: float, unit: str) -> str:
    """What an outlier was measured against: the set's median, or the floor alone."""
    if len(values) >= OUTLIER_SAMPLE:
        return f"the set's median is {statistics.median(values) * scale:,.2f} {unit}"
    return f"limit {floor:,.0f} {unit}"


def _compile_set(accepted: list[tuple[bytes, int, int]]) -> tuple[float, int, str | None]:
    """Compile patterns as one database, uncached: (seconds, bytes, refusal)."""
    if not accepted:
        return 0.0, 0, None
    expressions, ids, flags = (list(column) for column in zip(*accepted, strict=True))
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    start = time.perf_counter()
    try:
        database.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
    except hyperscan.error as exc:
        return time.perf_counter() - start, 0, str(exc.args[0]) if exc.args else str(exc)
    return time.perf_counter() - start, int(database.size()), None
