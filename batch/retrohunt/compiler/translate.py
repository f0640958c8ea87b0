"""Turn one pySigma rule's parsed condition into a plan condition tree over shared patterns."""

from __future__ import annotations

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaQueryExpression,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from retrohunt.compiler.plan import (
    KEYWORD_FIELD,
    And,
    CidrMatch,
    Exists,
    FieldEquals,
    IsNull,
    Node,
    Not,
    NumberCompare,
    NumberEquals,
    Or,
    PatternId,
    RegexMatch,
    StringMatch,
    StringPattern,
    ValuePart,
    Wildcard,
)

# Value types pySigma parses that this engine does not evaluate, with the name a rule author
# knows them by. (`neq` reaches the compiler as a negated value, never as this type.)
_UNSUPPORTED_VALUES: tuple[tuple[type, str], ...] = (
    (SigmaCompareExpression, "comparison"),
    (SigmaQueryExpression, "query expression"),
)


_COMPARISONS = {"LT": "lt", "LTE": "lte", "GT": "gt", "GTE": "gte"}


class Unsupported(Exception):
    """A construct the compiler refuses; `construct` names it as the rule author wrote it."""

    def __init__(self, construct: str, message: str) -> None:
        super().__init__(message)
        self.construct = construct
        self.message = message


class PatternTable:
    """Interns string predicates so that equal ones across rules share one pattern id."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, tuple[ValuePart, ...], bool], PatternId] = {}
        self.patterns: list[StringPattern] = []

    def intern(self, field: str, parts: tuple[ValuePart, ...], cased: bool) -> PatternId:
        key = (field, parts, cased)
        found = self._ids.get(key)
        if found is not None:
            return found
        pattern = StringPattern(len(self.patterns), field, parts, cased)
        self.patterns.append(pattern)
        self._ids[key] = pattern.id
        return pattern.id

    def rollback(self, mark: int) -> None:
        """Forget every pattern interned since `len(self.patterns)` was `mark`."""
        for pattern in self.patterns[mark:]:
            del self._ids[(pattern.field, pattern.parts, pattern.cased)]
        del self.patterns[mark:]


def translate_rule(rule: SigmaRule, table: PatternTable) -> Node:
    """Translate `rule`'s condition(s); several conditions are alternatives (OR).

    Raises:
        Unsupported: the rule uses a construct the engine cannot evaluate exactly.
    """
    trees = [_node(parsed.parse(), table) for parsed in rule.detection.parsed_condition]
    return trees[0] if len(trees) == 1 else Or(tuple(trees))


def _node(item: object, table: PatternTable) -> Node:
    if isinstance(item, ConditionAND):
        return And(tuple(_node(arg, table) for arg in item.args))
    if isinstance(item, ConditionOR):
        return Or(tuple(_node(arg, table) for arg in item.args))
    if isinstance(item, ConditionNOT):
        return Not(_node(item.args[0], table))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _field_value(str(item.field), item.value, table)
    if isinstance(item, ConditionValueExpression):
        return _keyword(item.value, table)
    raise Unsupported(type(item).__name__, "condition element not supported")


def _field_value(field: str, value: object, table: PatternTable) -> Node:
    # First: a date part (`|day: 3`) is a SigmaNumber to pySigma, not a number to compare.
    if isinstance(value, SigmaTimestampPart):
        raise Unsupported("date part", "value modifier 'date part' (day, hour …) is not supported")
    if isinstance(value, SigmaExpansion):
        return Or(tuple(_field_value(field, v, table) for v in value.values))
    if isinstance(value, SigmaString):
        parts = _string_parts(value)
        return StringMatch(table.intern(field, parts, isinstance(value, SigmaCasedString)))
    if isinstance(value, SigmaBool):
        # JSON true/false read as the text "true"/"false"; exporters that write the word
        # as a string ("True") match too, as any Sigma string does, letter case aside.
        word = "true" if value.boolean else "false"
        return StringMatch(table.intern(field, (word,), False))
    if isinstance(value, SigmaRegularExpression):
        return _regex(field, value)
    if isinstance(value, SigmaFieldReference):
        how = {(False, False): "equals", (True, False): "startswith", (False, True): "endswith"}
        return FieldEquals(
            field, value.field, how.get((value.starts_with, value.ends_with), "contains")
        )
    if isinstance(value, SigmaNumber):
        return NumberEquals(field, value.number)
    if isinstance(value, SigmaCompareExpression) and value.op.name in _COMPARISONS:
        return NumberCompare(field, _COMPARISONS[value.op.name], value.number.number)
    if isinstance(value, SigmaCIDRExpression):
        return CidrMatch(field, str(value.network))
    if isinstance(value, SigmaNull):
        return IsNull(field)
    if isinstance(value, SigmaExists):
        return Exists(field, bool(value.exists))
    for kind, construct in _UNSUPPORTED_VALUES:
        if isinstance(value, kind):
            raise Unsupported(construct, f"value modifier or type '{construct}' is not supported")
    raise Unsupported(type(value).__name__, "value type not supported")


def _keyword(value: object, table: PatternTable) -> Node:
    """A field-less keyword: the value anywhere in the event's text (`KEYWORD_FIELD`), as a
    substring, Sigma wildcards honoured, letter case aside unless `cased`."""
    if isinstance(value, SigmaExpansion):
        return Or(tuple(_keyword(v, table) for v in value.values))
    if isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if not isinstance(value, SigmaString):
        kind = type(value).__name__.removeprefix("Sigma")
        raise Unsupported("keyword search", f"a keyword of type {kind} is not supported")
    parts = (Wildcard.ANY, *_string_parts(value), Wildcard.ANY)
    merged = tuple(
        p
        for i, p in enumerate(parts)
        if not (p is Wildcard.ANY and i and parts[i - 1] is Wildcard.ANY)
    )
    return StringMatch(table.intern(KEYWORD_FIELD, merged, isinstance(value, SigmaCasedString)))


def _regex(field: str, value: SigmaRegularExpression) -> RegexMatch:
    """A Sigma `re` value, checked against the engine that runs it (Polars' regex engine,
    which has no backtracking: back-references and look-around are refused here)."""
    from retrohunt.match.predicates import regex_problem

    flags = "".join(sorted(value.sigma_to_re_flag[flag] for flag in value.flags))
    node = RegexMatch(field, str(value.regexp), flags)
    problem = regex_problem(node.expression)
    if problem is not None:
        raise Unsupported("re", f"regular expression '{node.expression}' cannot run: {problem}")
    return node


def _string_parts(value: SigmaString) -> tuple[ValuePart, ...]:
    parts: list[ValuePart] = []
    for part in value.s:
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += part
            else:
                parts.append(part)
        elif part == SpecialChars.WILDCARD_MULTI:
            if not (parts and parts[-1] is Wildcard.ANY):  # ** is *
                parts.append(Wildcard.ANY)
        elif part == SpecialChars.WILDCARD_SINGLE:
            parts.append(Wildcard.ONE)
        else:
            name = getattr(part, "name", part)
            raise Unsupported(
                "expand",
                f"placeholder %{name}% has no value list: put its values in lists/{name}.txt "
                "in the rule folder",
            )
    return tuple(parts)
