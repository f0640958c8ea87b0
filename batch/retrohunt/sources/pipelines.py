"""Sigma logsources of Windows events, read from pySigma's processing pipelines.

pySigma's Sysmon and Windows pipelines say what a rule's logsource means on Windows event
logs: which Sysmon event ids a category is (`sysmon_pipeline`), which channels a service
is (`windows_logsource_pipeline`, through `sigma.pipelines.common`), which PowerShell
event ids the ps_* categories are, and that a process creation is also Security event
4688, whose fields have names of their own (`windows_audit_pipeline`). The sources take
that data from the installed pipelines rather than from a copy of it.

A pipeline rewrites one rule for one kind of log; a retro-hunt admits events instead: a
rule of category C admits every event type some pipeline maps C to. So a process_creation
rule sees Sysmon event 1 and Security event 4688 alike, and registry_event sees Sysmon
events 12, 13 and 14 while registry_set sees only 13.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import (
    windows_audit_pipeline,
    windows_generic_category_channel_mapping,
)
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.transformations import (
    AddConditionTransformation,
    ChangeLogsourceTransformation,
    FieldMappingTransformation,
)

PRODUCT = "windows"
EVENT_ID = "EventID"  # the field the pipelines' conditions put the event id in


def _values(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def service_channels() -> dict[str, tuple[str, ...]]:
    """Sigma service → the Windows event log channels it is (`windows_logsource_pipeline`)."""
    return {
        service: tuple(str(c) for c in _values(channels))
        for service, channels in windows_logsource_mapping.items()
    }


def channel_services() -> dict[str, str]:
    """Channel → the Sigma service whose channel it is (the first service naming it)."""
    found: dict[str, str] = {}
    for service, channels in service_channels().items():
        for channel in channels:
            found.setdefault(channel, service)
    return found


SYSMON_CHANNEL = service_channels()["sysmon"][0]


def sysmon_event_ids() -> dict[str, tuple[str, ...]]:
    """Sigma category → the Sysmon event ids it is (`sysmon_pipeline`), as text."""
    return {
        category: tuple(str(i) for i in _values(ids))
        for category, ids in sysmon_generic_logsource_eventid_mapping.items()
    }


def event_type(channel: str, event_id: str) -> str:
    """A Windows event type: event ids are unique only within a channel."""
    return f"{channel}:{event_id}"


@dataclass(frozen=True, slots=True)
class AuditMapping:
    """What `windows_audit_pipeline` says, in the terms a source needs.

    `categories`: category → (service, event ids) for the categories whose added condition
    is the event id alone; `fields`: service → rule field → the event's own field names
    (its FieldMappingTransformation items that apply to a service); `skipped`: the
    identifiers of the items not taken, for `retrohunt sources` to show.
    """

    categories: dict[str, tuple[str, tuple[str, ...]]]
    fields: dict[str, dict[str, tuple[str, ...]]]
    skipped: tuple[str, ...]


def audit_mapping() -> AuditMapping:
    """Read `windows_audit_pipeline`.

    Its registry categories add a condition on OperationType as the rendered message
    writes it ("New registry value created"), while an exported event 4657 holds the
    message id ("%%1904"): those categories, and the field mapping that applies only once
    they did, are skipped.
    """
    conditions: dict[str, dict[str, Any]] = {}
    services: dict[str, str] = {}
    fields: dict[str, dict[str, tuple[str, ...]]] = {}
    skipped: list[str] = []
    for item in windows_audit_pipeline().items:
        transformation = item.transformation
        logsources = [c for c in item.rule_conditions if isinstance(c, LogsourceCondition)]
        if len(logsources) != len(item.rule_conditions) or len(logsources) != 1:
            skipped.append(str(item.identifier))
            continue
        category: str | None = logsources[0].category
        service: str | None = logsources[0].service
        if isinstance(transformation, AddConditionTransformation) and category:
            conditions[category] = dict(transformation.conditions)
        elif isinstance(transformation, ChangeLogsourceTransformation) and category:
            if transformation.service:
                services[category] = str(transformation.service)
        elif isinstance(transformation, FieldMappingTransformation) and service and not category:
            mapping = fields.setdefault(service, {})
            for rule_field, natives in transformation.mapping.items():
                mapping[str(rule_field)] = tuple(str(n) for n in _values(natives))
        else:
            skipped.append(str(item.identifier))
    categories: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, added in conditions.items():
        if set(added) == {EVENT_ID} and name in services:
            ids = tuple(str(i) for i in _values(added[EVENT_ID]))
            categories[name] = (services[name], ids)
        else:
            skipped.append(f"windows_{name}_condition")
    return AuditMapping(categories, fields, tuple(skipped))


def windows_event_types() -> dict[str, tuple[str, ...]]:
    """Sigma category → the Windows event types (`channel:event id`) it admits: Sysmon's
    categories on the Sysmon channel, the ps_* categories on their services' channels, and
    the audit pipeline's categories on the Security channel, in that order."""
    channels = service_channels()
    found: dict[str, list[str]] = {}

    def add(category: str, service: str, ids: Iterable[str]) -> None:
        for channel in channels.get(service, ()):
            for event_id in ids:
                types = found.setdefault(category, [])
                if event_type(channel, event_id) not in types:
                    types.append(event_type(channel, event_id))

    for category, ids in sysmon_event_ids().items():
        add(category, "sysmon", ids)
    for category, info in windows_generic_category_channel_mapping.items():
        add(category, str(info["service"]), (str(info[EVENT_ID]),))
    for category, (service, ids) in audit_mapping().categories.items():
        add(category, service, ids)
    return {category: tuple(types) for category, types in found.items()}


def most_specific(relation: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Event type → the category to show for it: of the categories admitting it, the one
    admitting the fewest event types, skipping categories that admit exactly the same
    types as another (Sysmon 12 is registry_add and registry_delete alike: it shows as
    registry_event); ties go to the category listed first."""
    sets = {category: frozenset(types) for category, types in relation.items()}
    order = {category: index for index, category in enumerate(sets)}
    shown: dict[str, str] = {}
    for event in dict.fromkeys(t for types in relation.values() for t in types):
        candidates = sorted(
            (c for c, types in sets.items() if event in types),
            key=lambda c: (len(sets[c]), order[c]),
        )
        unique = [c for c in candidates if sum(sets[o] == sets[c] for o in candidates) == 1]
        shown[event] = (unique or candidates)[0]
    return shown
