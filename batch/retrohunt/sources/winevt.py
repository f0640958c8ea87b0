"""Windows event logs exported from .evtx as JSON, one record per line, onto Sigma.

Two shapes are read:

- evtx_dump (the Rust `evtx` crate): `{"Event": {"#attributes": …, "System": {"Provider":
  {"#attributes": {"Name": …}}, "EventID": 1, "Channel": …, "Computer": …, "TimeCreated":
  {"#attributes": {"SystemTime": "2019-03-19T23:34:13.263929Z"}}, …}, "EventData":
  {"Image": …, …}}}`. EventID is a number, or `{"#attributes": {"Qualifiers": 16384},
  "#text": 7045}` when the event has qualifiers (System and Application events); EventData
  may be null or missing, and some events carry UserData instead;
- python-evtx's XML through xmltodict: attributes are `@Name` keys, and the event data is a
  list of elements, `"EventData": {"Data": [{"@Name": "Image", "#text": "C:\\…"}, …]}`
  (`Pairs`): `Image` reads the same in both. EventID is `{"@Qualifiers": "", "#text": "1"}`
  or "1"; TimeCreated's SystemTime is "2019-03-19 23:34:13.263929" (UTC).

A rule field the source does not map reads `Event.EventData.<field>` (SigmaHQ's Windows
rules name hundreds: TargetFilename, TargetObject, ScriptBlockText, ServiceName …). The
logsource comes from pySigma's pipelines (`sources.pipelines`): the event's service is the
service whose channel it is, its categories those whose event ids on that channel it has,
and on the Security channel the audit pipeline's field names apply (Image is
NewProcessName there).
"""

from __future__ import annotations

from retrohunt.sources.base import FieldScope, Pairs, Source
from retrohunt.sources.pipelines import (
    PRODUCT,
    audit_mapping,
    channel_services,
    most_specific,
    service_channels,
    windows_event_types,
)
from retrohunt.sources.sysmon import SYSMON

EVENT_DATA = "Event.EventData."
SYSTEM = "Event.System."
CHANNEL = SYSTEM + "Channel"
EVENT_ID = SYSTEM + "EventID"

_EVENT_TYPES = windows_event_types()
_CHANNELS = service_channels()

# Sysmon's event data already speaks the Sigma taxonomy.
_TAXONOMY_FIELDS = {
    name: (EVENT_DATA + name,) for name in SYSMON.fields if name not in ("Computer",)
}
# System fields rules test by name.
_SYSTEM_FIELDS = {
    "EventID": (EVENT_ID,),
    "Channel": (CHANNEL,),
    "Computer": (SYSTEM + "Computer",),
    "Provider_Name": (SYSTEM + "Provider.#attributes.Name", SYSTEM + "Provider.@Name"),
    **{
        name: (SYSTEM + name,)
        for name in ("Level", "Task", "Opcode", "Keywords", "Version", "EventRecordID")
    },
}

WINEVT = Source(
    name="winevt",
    description="Windows event logs exported from .evtx as JSON lines: evtx_dump's, or "
    "python-evtx's XML through xmltodict (Event.System.*, Event.EventData.*)",
    recognise=(CHANNEL,),
    event_type=(EVENT_ID,),
    event_type_prefix=(CHANNEL,),
    element_text=frozenset({EVENT_ID}),
    categories=most_specific(_EVENT_TYPES),
    category_types=_EVENT_TYPES,
    product=PRODUCT,
    service_field=(CHANNEL,),
    services=channel_services(),
    fields={**_TAXONOMY_FIELDS, **_SYSTEM_FIELDS},
    fallback=(EVENT_DATA,),
    pairs=Pairs(EVENT_DATA, EVENT_DATA + "Data"),
    scopes=tuple(
        FieldScope(
            CHANNEL,
            frozenset(_CHANNELS.get(service, ())),
            {name: tuple(EVENT_DATA + n for n in natives) for name, natives in fields.items()},
        )
        for service, fields in audit_mapping().fields.items()
    ),
    time_fields=(
        SYSTEM + "TimeCreated.#attributes.SystemTime",
        SYSTEM + "TimeCreated.@SystemTime",
    ),
    host_fields=(SYSTEM + "Computer",),
)
