"""Translate a rule set to SIEM queries with pySigma's backends.

Targets (`TARGETS`):

- ``logscale``: CrowdStrike LogScale (CQL) with the CrowdStrike backend's Falcon pipeline,
  so fields are Falcon's (ImageFileName, CommandLine, RemoteAddressIP4, DomainName,
  #event_simpleName …). The pack's rules name no product, and the Falcon pipeline keys
  everything on Windows log sources, so a small bridge runs first (`_falcon_bridge`): it
  gives product-less rules the log source the pipeline expects without its Windows-only
  platform filter, and maps what the pipeline maps differently from retrohunt's own
  Falcon source (`retrohunt.sources.falcon`): DestinationIp/SourceIp on both address
  families, ContainerId, and Initiated as ConnectionDirection (the pipeline drops
  Initiated and picks the event type from its value, ignoring a negation).
- ``qradar``: IBM QRadar AQL with the QRadar backend's fields pipeline (QRadar's own
  property names); a rule using a field QRadar has no property for is converted again
  with the payload pipeline, which searches that field's values in the event payload.
- ``splunk``: Splunk SPL over the Sigma taxonomy's field names (what the Sysmon add-on
  extracts), no source restriction.
- ``sigma``: the rules as normalised Sigma YAML (pySigma's `SigmaRule.to_dict()`).

Every rule gets an `ExportedRule` with a status: "ok"; "rewritten" — the backend cannot
express the rule as written, so an equivalent (or, as the note says, broader) form is
emitted: LogScale cannot OR CIDR ranges, so OR'ed ranges become one ``cidr(field,
subnet=[…])`` per field (the form the LogScale seed query uses) or, under an OR, a regular
expression over the address; field existence becomes ``field=*``; or "unsupported", with
the backend's reason. No rule is dropped. The backends are the optional extra ``export``;
a missing one raises `BackendMissing`.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import ipaddress
import json
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from retrohunt.compiler.lists import find_value_lists, read_value_list
from retrohunt.compiler.load import bundled_rules_dir, find_rule_files
from retrohunt.errors import OutputError, RetrohuntError, RulesNotFound

Status = Literal["ok", "rewritten", "unsupported"]
INDEX_FILE = "index.json"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_EXTRA = "pip install 'retrohunt[export]'"


@dataclass(frozen=True, slots=True)
class Target:
    """One export target: its query language, file extension and the backend it needs."""

    name: str
    language: str
    extension: str
    comment: tuple[str, str]  # how the language opens and closes a comment (headers)
    distribution: str  # the package that provides the backend (pySigma itself for sigma)
    module: str | None  # the backend's module; None when pySigma alone does it


TARGETS: dict[str, Target] = {
    "logscale": Target(
        "logscale",
        "CrowdStrike LogScale (CQL)",
        "cql",
        ("//", ""),
        "pysigma-backend-crowdstrike",
        "sigma.backends.crowdstrike",
    ),
    "qradar": Target(
        "qradar",
        "IBM QRadar AQL",
        "aql",
        ("/*", "*/"),
        "pySigma-backend-QRadar-community",
        "sigma.backends.QRadarAQL",
    ),
    "splunk": Target(
        "splunk",
        "Splunk SPL",
        "spl",
        ("```", "```"),
        "pysigma-backend-splunk",
        "sigma.backends.splunk",
    ),
    "sigma": Target("sigma", "Sigma YAML", "yml", ("#", ""), "pySigma", None),
}


class BackendMissing(RetrohuntError):
    """The pySigma backend a target needs is not installed; names the extra to install."""


@dataclass(frozen=True, slots=True)
class ExportedRule:
    """One rule's export: its query (None when unsupported), status and why.

    `note` says what was rewritten and how (status "rewritten"), why the rule cannot be
    expressed (status "unsupported"), or what a reader of an "ok" query should know.
    """

    name: str
    title: str | None
    rule_id: str | None
    path: Path
    status: Status
    query: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Export:
    """A rule set translated for one target: one `ExportedRule` per rule, in file order."""

    target: Target
    backend: str  # the backend, its version and pipeline, in words
    rules: tuple[ExportedRule, ...]

    @property
    def unsupported(self) -> tuple[ExportedRule, ...]:
        """The rules the target could not express at all."""
        return tuple(rule for rule in self.rules if rule.status == "unsupported")

    def counts(self) -> dict[str, int]:
        """How many rules have each status."""
        counts = {"ok": 0, "rewritten": 0, "unsupported": 0}
        for rule in self.rules:
            counts[rule.status] += 1
        return counts


def export_rules(paths: Sequence[Path] | None, target: str) -> Export:
    """Translate rule files/folders (default: the bundled pack) for `target`.

    Rules are found and read as `scan` reads them (folders recursively, allow-lists
    skipped, `expand` placeholders filled from the folders' pattern lists). A file or rule
    that does not parse is an "unsupported" entry with the reason, like a rule the backend
    cannot express.

    Raises:
        ValueError: `target` is not one of `TARGETS`.
        BackendMissing: the target's backend is not installed.
        RulesNotFound: a path is missing or unreadable, or holds no rule files.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; one of {', '.join(TARGETS)}")
    converter = _converter(TARGETS[target])
    exported: list[ExportedRule] = []
    for loaded in _load(paths):
        if loaded.rule is None:
            exported.append(
                ExportedRule(
                    loaded.label, None, None, loaded.path, "unsupported", None, loaded.error
                )
            )
            continue
        rule = loaded.rule
        query, status, note = converter.convert(rule)
        exported.append(
            ExportedRule(
                loaded.label,
                rule.title,
                str(rule.id) if rule.id else None,
                loaded.path,
                status,
                query,
                note,
            )
        )
    return Export(TARGETS[target], converter.backend, tuple(exported))


# --------------------------------------------------------------------------- output


def file_names(export: Export) -> list[str | None]:
    """The file each exported rule is written to by `write_export` (None when it has no
    query): its name (or title) made file-safe plus the target's extension; a name taken
    by an earlier rule gets `-2`, `-3` …"""
    names: list[str | None] = []
    taken: set[str] = {INDEX_FILE.lower()}
    for rule in export.rules:
        if rule.query is None:
            names.append(None)
            continue
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", rule.name).strip("._") or "rule"
        name, n = f"{stem}.{export.target.extension}", 1
        while name.lower() in taken:  # case-insensitive file systems
            n += 1
            name = f"{stem}-{n}.{export.target.extension}"
        taken.add(name.lower())
        names.append(name)
    return names


def index_document(export: Export) -> dict[str, Any]:
    """What `write_export` puts in index.json: the target, the backend and, per rule, its
    file (null when unsupported), status and note."""
    return {
        "target": export.target.name,
        "language": export.target.language,
        "backend": export.backend,
        "counts": export.counts(),
        "rules": [
            {
                "name": rule.name,
                "title": rule.title,
                "id": rule.rule_id,
                "source": str(rule.path),
                "file": name,
                "status": rule.status,
                "note": rule.note,
            }
            for rule, name in zip(export.rules, file_names(export), strict=True)
        ],
    }


def write_export(export: Export, directory: Path) -> list[Path]:
    """Write one file per exported rule (just the query) and index.json into `directory`
    (created if needed); returns the files written, index last.

    Raises:
        OutputError: the folder or a file cannot be written.
    """
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for rule, name in zip(export.rules, file_names(export), strict=True):
            if name is None or rule.query is None:
                continue
            path = directory / name
            path.write_text(_with_newline(rule.query), encoding="utf-8")
            written.append(path)
        index = directory / INDEX_FILE
        index.write_text(
            json.dumps(index_document(export), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        written.append(index)
    except OSError as exc:
        raise OutputError(f"{directory}: cannot write the export: {exc.strerror or exc}") from exc
    return written


def render_text(export: Export) -> str:
    """The export as one text: per rule a comment header (name, title, status, note, rule
    file) in the target's comment syntax, then the query; YAML documents for sigma."""
    start, end = export.target.comment

    def comment(text: str) -> str:
        return f"{start} {text} {end}".rstrip()

    blocks: list[str] = []
    for rule in export.rules:
        title = f" — {rule.title}" if rule.title else ""
        lines = [comment(f"{rule.name}: {rule.status}{title}"), comment(f"source: {rule.path}")]
        if rule.note:
            label = "not exported" if rule.status == "unsupported" else "note"
            lines.append(comment(f"{label}: {' '.join(rule.note.split())}"))
        if rule.query is not None:
            lines.append(rule.query.rstrip("\n"))
        blocks.append("\n".join(lines))
    separator = "\n---\n" if export.target.name == "sigma" else "\n\n"
    return separator.join(blocks) + "\n"


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class _Loaded:
    path: Path
    label: str
    rule: SigmaRule | None
    error: str = ""


def _load(paths: Sequence[Path] | None) -> list[_Loaded]:
    """Every rule in the files, parsed by pySigma, or the reason it cannot be."""
    roots = list(paths) if paths else [bundled_rules_dir()]
    files = find_rule_files(roots)
    lists = find_value_lists(roots)
    placeholders = (
        ProcessingPipeline(
            items=[
                ProcessingItem(
                    transformation=ValueListPlaceholderTransformation(include=sorted(lists))
                )
            ],
            vars={name: list(read_value_list(path)) for name, path in lists.items()},
        )
        if lists
        else None
    )
    loaded: list[_Loaded] = []
    for path in files:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise RulesNotFound(f"{path}: cannot read: {exc.strerror or exc}") from exc
        loaded.extend(_load_file(path, text, placeholders))
    return loaded


def _load_file(path: Path, text: bytes, placeholders: ProcessingPipeline | None) -> list[_Loaded]:
    try:
        documents = list(yaml.load_all(text.decode("utf-8"), Loader=_YAML_LOADER))
    except UnicodeDecodeError as exc:
        return [
            _Loaded(path, path.stem, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return [_Loaded(path, path.stem, None, f"YAML does not parse{where}: {problem}")]
    try:
        collection = SigmaCollection.from_dicts(documents, collect_errors=True)
    except SigmaError as exc:
        return [_Loaded(path, path.stem, None, f"not a Sigma rule file: {exc}")]
    loaded: list[_Loaded] = []
    rule_errors = {str(e) for rule in collection.rules for e in getattr(rule, "errors", [])}
    for error in getattr(collection, "errors", []):
        if str(error) not in rule_errors:
            loaded.append(_Loaded(path, path.stem, None, f"does not parse: {error}"))
    for rule in collection.rules:
        label = getattr(rule, "name", None) or getattr(rule, "title", None) or path.stem
        if not isinstance(rule, SigmaRule):
            kind = type(rule).__name__
            loaded.append(_Loaded(path, label, None, f"{kind} is not exported"))
            continue
        if placeholders is not None and not rule.errors:
            try:
                placeholders.apply(rule)
            except SigmaError as exc:
                loaded.append(_Loaded(path, label, None, f"pattern list does not apply: {exc}"))
                continue
        if rule.errors:
            loaded.append(_Loaded(path, label, None, f"does not parse: {rule.errors[0]}"))
        else:
            loaded.append(_Loaded(path, label, rule))
    return loaded


# --------------------------------------------------------------------------- converters

Outcome = tuple[str | None, Status, str]


@dataclass
class _Converter:
    """Turns one parsed rule into (query, status, note) for a target."""

    backend: str
    convert: Callable[[SigmaRule], Outcome]


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def _converter(target: Target) -> _Converter:
    """The target's converter, or BackendMissing naming the extra to install."""
    try:
        return _build_converter(target)
    except ImportError as exc:
        raise BackendMissing(
            f"exporting to {target.name} needs the pySigma backend {target.distribution}, "
            f"which cannot be imported ({exc}): {_EXTRA} (the 'export' extra)"
        ) from exc


def _build_converter(target: Target) -> _Converter:
    if target.module is not None:
        importlib.import_module(target.module)
    about = f"{target.distribution} {_version(target.distribution)}"
    if target.name == "logscale":
        return _Converter(
            f"{about}: LogScaleBackend with the crowdstrike_falcon pipeline "
            "(after retrohunt's taxonomy bridge)",
            _logscale_converter(),
        )
    if target.name == "qradar":
        return _Converter(
            f"{about}: QRadarAQLBackend with the qradar-aql-fields pipeline "
            "(qradar-aql-payload for fields without a QRadar property)",
            _qradar_converter(),
        )
    if target.name == "splunk":
        from sigma.backends.splunk.splunk import SplunkBackend

        return _Converter(
            f"{about}: SplunkBackend over the Sigma field names",
            _attempts([("", lambda: SplunkBackend(), None)]),
        )
    return _Converter(f"{about}: SigmaRule.to_dict()", _sigma_yaml)


_PYSIGMA_CONTEXT = re.compile(
    r"\s*\(while (?:converting|applying processing pipeline on) rule [^)]*\)\s*$"
)


def _reason(error: Exception) -> str:
    """A backend's error as one line, without pySigma's '(while converting rule …)'."""
    message = " ".join(str(error).split()) or type(error).__name__
    message = _PYSIGMA_CONTEXT.sub("", message)
    if isinstance(error, SigmaError | NotImplementedError):
        return message
    return f"the backend failed: {type(error).__name__}: {message}"


def _run(backend: Any, rule: SigmaRule) -> tuple[str, list[str]]:
    """Convert a copy of `rule` (pipelines change the rule they apply to); the queries
    joined by newlines, and the warnings the backend gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        queries = backend.convert_rule(copy.deepcopy(rule))
    if not queries:
        raise NotImplementedError("the backend produced no query")
    return "\n".join(str(q) for q in queries), [str(w.message) for w in caught]


# (label, backend factory, note when it is not the first: made from the backend's warnings)
Attempt = tuple[str, Callable[[], Any], Callable[[list[str]], str] | None]


def _attempts(attempts: list[Attempt]) -> Callable[[SigmaRule], Outcome]:
    """A converter trying each backend in turn; the first that converts the rule wins.
    An attempt after the first makes the rule "rewritten" with that attempt's note; a
    backend that records `notes` (the LogScale one) makes it "rewritten" with those. The
    first backend's warnings are passed on in the note."""
    backends = [(label, factory(), note) for label, factory, note in attempts]

    def convert(rule: SigmaRule) -> Outcome:
        reasons: list[str] = []
        for index, (label, backend, note) in enumerate(backends):
            notes: list[str] | None = getattr(backend, "notes", None)
            if notes is not None:
                notes.clear()
            try:
                query, caught = _run(backend, rule)
            except Exception as exc:  # third-party plugin code: any failure is per rule
                reasons.append(f"{label}: {_reason(exc)}" if label else _reason(exc))
                continue
            rewrites = [note(caught)] if index and note is not None else []
            rewrites += list(dict.fromkeys(notes or []))
            said = rewrites + ([] if index else [f"backend warning: {w}" for w in caught])
            return query, ("rewritten" if rewrites else "ok"), "; ".join(dict.fromkeys(said))
        return None, "unsupported", "; ".join(reasons)

    return convert


# ---- sigma


class _BlockDumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings as `|` blocks, as rule files write them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def _sigma_yaml(rule: SigmaRule) -> Outcome:
    try:
        document = rule.to_dict()
    except (SigmaError, NotImplementedError) as exc:
        return None, "unsupported", _reason(exc)
    text = yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=88)
    return text, "ok", ""


# ---- qradar


def _qradar_converter() -> Callable[[SigmaRule], Outcome]:
    from sigma.backends.QRadarAQL.QRadarAQL import QRadarAQLBackend
    from sigma.pipelines.QRadarAQL.QRadarAQL import (
        HostFieldsValueTransformation,
        QRadarAQL_fields_pipeline,
        QRadarAQL_payload_pipeline,
    )

    class StringHostFieldsValue(HostFieldsValueTransformation):
        """The pipeline's wildcard-to-CIDR step for address and port fields, on strings
        only: as shipped it calls a string method on every value of those fields and
        fails on numbers (`DestinationPort: 3333`) and CIDR values, which it has nothing
        to do for. pySigma passes a value transformation only the values of the type its
        `apply_value` annotates."""

        def apply_value(  # type: ignore[override]
            self, field: str, val: SigmaString
        ) -> Any:
            return super().apply_value(field, val)

    def fixed(pipeline: ProcessingPipeline) -> ProcessingPipeline:
        pipeline.items = [
            ProcessingItem(
                identifier=item.identifier,
                transformation=StringHostFieldsValue(),
                field_name_conditions=item.field_name_conditions,
            )
            if item.identifier == "host_fields_value"
            else item
            for item in pipeline.items
        ]
        return ProcessingPipeline() + pipeline  # rebinds the items to one pipeline

    def payload_note(caught: list[str]) -> str:
        fields = sorted({m for w in caught for m in re.findall(r"instead of '([^']+)'", w)})
        named = ", ".join(fields) or "a field of the rule"
        return (
            f"no QRadar property for {named}: its values are searched in the whole event "
            "payload (UTF8(payload)), which is broader than the rule"
        )

    return _attempts(
        [
            (
                "qradar-aql-fields",
                lambda: QRadarAQLBackend(fixed(QRadarAQL_fields_pipeline())),
                None,
            ),
            (
                "qradar-aql-payload",
                lambda: QRadarAQLBackend(fixed(QRadarAQL_payload_pipeline())),
                payload_note,
            ),
        ]
    )


# ---- logscale


def _logscale_converter() -> Callable[[SigmaRule], Outcome]:
    backend_class = _logscale_backend_class()
    any_platform = _attempts(
        [("", lambda: backend_class(_logscale_pipeline(any_platform=True)), None)]
    )
    one_platform = _attempts(
        [("", lambda: backend_class(_logscale_pipeline(any_platform=False)), None)]
    )

    def convert(rule: SigmaRule) -> Outcome:
        # A rule naming its product keeps the Falcon pipeline's platform filter.
        logsource = rule.logsource
        query, status, note = (any_platform if logsource.product is None else one_platform)(rule)
        info: list[str] = []
        if query is not None and logsource.category not in _FALCON_CATEGORIES:
            source = "/".join(
                part for part in (logsource.category, logsource.product, logsource.service) if part
            )
            info.append(
                f"log source {source} is not Falcon telemetry: its fields keep the rule's names"
            )
        joined = logsource.category == "network_connection"
        if query is not None and joined and "ContextBaseFileName" in query:
            info.append(
                "Falcon network events name no image (retrohunt joins it from the process "
                "event), so the ContextBaseFileName tests only apply where a sensor adds it"
            )
        return query, status, "; ".join(part for part in (note, *info) if part)

    return convert


_FALCON_CATEGORIES = ("process_creation", "network_connection", "dns_query")
# Fields the Falcon pipeline maps differently from retrohunt's Falcon source, or not at
# all; the bridge maps them as that source does, before the pipeline sees them.
_BRIDGED_FIELDS = ("DestinationIp", "SourceIp", "ContainerId", "Initiated")


def _logscale_pipeline(*, any_platform: bool) -> ProcessingPipeline:
    """The taxonomy bridge followed by the CrowdStrike Falcon pipeline."""
    from sigma.pipelines.crowdstrike.crowdstrike import crowdstrike_falcon_pipeline

    falcon = crowdstrike_falcon_pipeline()
    if any_platform:
        # `cql_win` adds event_platform=Win to the Windows log sources the bridge gave.
        falcon.items = [item for item in falcon.items if item.identifier != "cql_win"]
    return _falcon_bridge(any_platform=any_platform) + falcon


def _falcon_bridge(*, any_platform: bool) -> ProcessingPipeline:
    """retrohunt's taxonomy → what the CrowdStrike Falcon pipeline expects.

    With `any_platform`, product-less process, network and DNS rules get the Windows log
    source the pipeline keys on (its platform filter is removed in `_logscale_pipeline`).
    Field names and values come from `retrohunt.sources.falcon`.
    """
    from sigma.processing.conditions import IncludeFieldCondition, LogsourceCondition
    from sigma.processing.transformations import (
        AddConditionTransformation,
        ChangeLogsourceTransformation,
        FieldMappingTransformation,
        MapStringTransformation,
    )

    from retrohunt.sources.falcon import FALCON

    events: dict[str, list[str]] = {}
    for event, category in FALCON.categories.items():
        events.setdefault(category, []).append(event)
    mapping: dict[str | None, str | list[str]] = {
        name: fields[0] if len(fields) == 1 else list(fields)
        for name in _BRIDGED_FIELDS
        if (fields := FALCON.fields.get(name))
    }
    initiated: dict[str, str | list[str]] = {
        sigma: falcon for falcon, sigma in FALCON.value_maps["Initiated"].items()
    }
    items = [
        ProcessingItem(
            identifier="retrohunt_initiated_as_connection_direction",
            transformation=MapStringTransformation(initiated),
            field_name_conditions=[IncludeFieldCondition(fields=["Initiated"])],
        ),
        ProcessingItem(
            identifier="retrohunt_falcon_fields",
            transformation=FieldMappingTransformation(mapping),
        ),
        ProcessingItem(
            identifier="retrohunt_network_connection_events",
            transformation=AddConditionTransformation(
                {"#event_simpleName": events["network_connection"]}
            ),
            rule_conditions=[LogsourceCondition(category="network_connection")],
        ),
    ]
    if any_platform:
        items += [
            ProcessingItem(
                identifier=f"retrohunt_{category}_as_falcon_logsource",
                transformation=ChangeLogsourceTransformation(category=category, product="windows"),
                rule_conditions=[LogsourceCondition(category=category)],
            )
            for category in _FALCON_CATEGORIES
        ]
    return ProcessingPipeline(name="retrohunt taxonomy to CrowdStrike Falcon", items=items)


def _logscale_backend_class() -> type[Any]:
    """The CrowdStrike LogScale backend, taught to OR CIDR ranges and test existence.

    Defined on first use because the backend is an optional dependency.
    """
    from sigma.backends.crowdstrike.logscale import (
        LogScaleBackend,
        LogScaleDeferredCIDRExpression,
    )
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionItem,
        ConditionNOT,
        ConditionOR,
    )
    from sigma.conversion.deferred import DeferredQueryExpression
    from sigma.conversion.state import ConversionState
    from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
    from sigma.types import SigmaCIDRExpression

    def cidr_leaves(node: object) -> list[ConditionFieldEqualsValueExpression] | None:
        """The CIDR tests of a node that is one, or an OR (nested ORs too) of only those."""
        if isinstance(node, ConditionFieldEqualsValueExpression) and isinstance(
            node.value, SigmaCIDRExpression
        ):
            return [node]
        if isinstance(node, ConditionOR):
            leaves: list[ConditionFieldEqualsValueExpression] = []
            for arg in node.args:
                found = cidr_leaves(arg)
                if found is None:
                    return None
                leaves += found
            return leaves
        return None

    def only_and_above(node: ConditionItem | ConditionFieldEqualsValueExpression) -> bool:
        """Whether every boolean operator above `node` is an AND: then a filter after the
        main query (`| cidr(…)`) is ANDed with it exactly as the rule says."""
        return all(
            isinstance(parent, ConditionAND)
            for parent in node.parent_chain()
            if getattr(parent, "operator", False)
        )

    class RetrohuntLogScaleBackend(LogScaleBackend):
        """LogScale with OR'ed CIDR ranges and field existence; `notes` lists what the
        stock backend would have refused and how it was expressed instead."""

        # A comparison on a missing field fails in LogScale, and `field!=*` is its
        # documented test for a missing field.
        field_exists_expression = "{field}=*"
        field_not_exists_expression = "{field}!=*"
        # Filters after the main query, one a line, as LogScale queries are written.
        deferred_start = "\n| "
        deferred_separator = "\n| "

        def __init__(self, processing_pipeline: ProcessingPipeline | None = None) -> None:
            super().__init__(processing_pipeline)
            self.notes: list[str] = []

        def finish_query(self, rule: Any, query: Any, state: ConversionState) -> Any:
            """A query of filters alone starts with its first filter, not with a pipe."""
            finished = super().finish_query(rule, query, state)
            if isinstance(finished, str) and finished.startswith(self.deferred_start):
                return finished[len(self.deferred_start) :]
            return finished

        def compare_precedence(self, outer: Any, inner: Any) -> bool:
            """Parenthesise an OR inside an AND and an AND inside an OR: the query then
            reads the same whichever of `and` and `or` binds tighter."""
            if isinstance(inner, ConditionAND | ConditionOR) and type(inner) is not type(outer):
                return False
            return bool(super().compare_precedence(outer, inner))

        def convert_condition_field_exists(
            self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
        ) -> str:
            self.notes.append(f"field existence written as {cond.field}=* (not in the backend)")
            return str(super().convert_condition_field_exists(cond, state))

        def convert_condition_field_not_exists(
            self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
        ) -> str:
            self.notes.append(f"field absence written as {cond.field}!=* (not in the backend)")
            return str(super().convert_condition_field_not_exists(cond, state))

        def convert_condition_or(
            self, cond: ConditionOR, state: ConversionState
        ) -> str | DeferredQueryExpression | None:
            leaves = cidr_leaves(cond)
            if leaves is not None:
                return self._cidr(cond, leaves, negated=False, state=state)
            result: str | DeferredQueryExpression | None = super().convert_condition_or(cond, state)
            return result

        def convert_condition_not(
            self, cond: ConditionNOT, state: ConversionState
        ) -> str | DeferredQueryExpression | None:
            leaves = cidr_leaves(cond.args[0])
            if leaves is not None:
                return self._cidr(cond, leaves, negated=True, state=state)
            result: str | DeferredQueryExpression | None = super().convert_condition_not(
                cond, state
            )
            return result

        def convert_condition_field_eq_val_cidr(  # type: ignore[override]
            self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
        ) -> str | DeferredQueryExpression:
            return self._cidr(cond, [cond], negated=False, state=state)

        def _cidr(
            self,
            node: ConditionItem | ConditionFieldEqualsValueExpression,
            leaves: list[ConditionFieldEqualsValueExpression],
            *,
            negated: bool,
            state: ConversionState,
        ) -> str | DeferredQueryExpression:
            """`node` (an OR of CIDR tests, one test, or NOT of either) as `cidr()` filters
            after the main query where that keeps the rule's logic, else as a regular
            expression over the address."""
            by_field: dict[str, list[str]] = {}
            for leaf in leaves:
                networks = by_field.setdefault(leaf.field, [])
                network = str(cast(SigmaCIDRExpression, leaf.value).network)
                if network not in networks:
                    networks.append(network)
            # NOT (a in S or b in S) is "a not in S and b not in S": one negated filter per
            # field. Positive, only one field can be a single filter.
            if only_and_above(node) and (negated or len(by_field) == 1):
                deferred: DeferredQueryExpression | None = None
                for name, networks in by_field.items():
                    deferred = LogScaleDeferredCIDRExpression(
                        state, self.escape_and_quote_field(name), cidr_subnets(networks)
                    )
                    if negated:
                        deferred.negate()
                if len(leaves) > 1:
                    fields = " and ".join(by_field)
                    self.notes.append(
                        f"OR'ed CIDR ranges of {fields} written as one "
                        f"{'!' if negated else ''}cidr() filter per field after the main query"
                        " (the backend cannot OR CIDR ranges)"
                    )
                assert deferred is not None
                return deferred
            networks = list(dict.fromkeys(n for nets in by_field.values() for n in nets))
            if not all(
                isinstance(ipaddress.ip_network(n), ipaddress.IPv4Network) for n in networks
            ):
                raise SigmaFeatureNotSupportedByBackendError(
                    "LogScale's cidr() filter cannot stand under an OR, and IPv6 ranges have no "
                    f"regular-expression form here ({', '.join(networks)})"
                )
            tests = [
                f"{self.escape_and_quote_field(name)}=/{ipv4_cidr_regex(nets)}/"
                for name, nets in by_field.items()
            ]
            self.notes.append(
                f"CIDR ranges of {' and '.join(by_field)} written as a regular expression "
                "over the address (LogScale's cidr() only filters after the main query, "
                "where it cannot be OR'ed)"
            )
            expression = f" {self.or_token} ".join(tests)
            if not negated:
                return expression
            if len(tests) > 1:
                expression = self.group_expression.format(expr=expression)
            return f"{self.not_token} {expression}"

    return RetrohuntLogScaleBackend


def cidr_subnets(networks: Sequence[str]) -> str:
    """LogScale's `subnet=` array: `["10.0.0.0/8", "172.16.0.0/12"]`."""
    return "[" + ", ".join(json.dumps(n) for n in networks) + "]"


# --------------------------------------------------------------------------- CIDR → regex

_ANY_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def ipv4_cidr_regex(networks: Sequence[str]) -> str:
    """An anchored regular expression matching exactly the dotted-quad IPv4 addresses
    (decimal octets without leading zeros) inside any of `networks`.

    Raises:
        ValueError: a network is not IPv4 CIDR.
    """
    alternatives = []
    for text in networks:
        network = ipaddress.ip_network(text)
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"{text}: not an IPv4 network")
        octets = network.network_address.packed
        fixed, rest = divmod(network.prefixlen, 8)
        parts = [str(octet) for octet in octets[:fixed]]
        if fixed < 4:
            if rest:
                low = octets[fixed]
                parts.append(_int_range_regex(low, low + (1 << (8 - rest)) - 1))
            else:
                parts.append(_ANY_OCTET)
            parts += [_ANY_OCTET] * (3 - fixed)
        alternatives.append(r"\.".join(parts))
    if len(alternatives) == 1:
        return f"^{alternatives[0]}$"
    return "^(" + "|".join(alternatives) + ")$"


def _int_range_regex(low: int, high: int) -> str:
    """A regular expression for the decimal numbers low..high (no leading zeros)."""
    if low == high:
        return str(low)
    pieces: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        last = min(high, 10**digits - 1)
        if first <= last:
            pieces += _same_length_range(str(first), str(last))
    return pieces[0] if len(pieces) == 1 else "(" + "|".join(pieces) + ")"


def _same_length_range(low: str, high: str) -> list[str]:
    """Patterns for the numbers low..high written with the same number of digits."""

    def digit_class(a: int, b: int) -> str:
        return str(a) if a == b else f"[{a}-{b}]"

    if len(low) == 1:
        return [digit_class(int(low), int(high))]
    if low[0] == high[0]:
        return [low[0] + tail for tail in _same_length_range(low[1:], high[1:])]
    width = len(low) - 1
    pieces: list[str] = []
    first_full, last_full = int(low[0]), int(high[0])
    if low[1:] != "0" * width:
        pieces += [low[0] + tail for tail in _same_length_range(low[1:], "9" * width)]
        first_full += 1
    tail_high: list[str] = []
    if high[1:] != "9" * width:
        tail_high = [high[0] + tail for tail in _same_length_range("0" * width, high[1:])]
        last_full -= 1
    if first_full <= last_full:
        pieces.append(digit_class(first_full, last_full) + "[0-9]" * width)
    return pieces + tail_high


__all__ = [
    "INDEX_FILE",
    "TARGETS",
    "BackendMissing",
    "Export",
    "ExportedRule",
    "Status",
    "Target",
    "cidr_subnets",
    "export_rules",
    "file_names",
    "index_document",
    "ipv4_cidr_regex",
    "render_text",
    "write_export",
]
