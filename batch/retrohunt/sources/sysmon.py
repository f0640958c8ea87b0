"""Sysmon (Windows, Sysmon for Linux), flat or Winlogbeat-nested JSON, onto the Sigma taxonomy."""

from __future__ import annotations

from retrohunt.sources.base import Source
from retrohunt.sources.pipelines import most_specific, sysmon_event_ids

# pySigma's Sysmon pipeline: category → event ids (registry_event is 12, 13 and 14 …).
_EVENT_IDS = sysmon_event_ids()

SYSMON = Source(
    name="sysmon",
    description="Sysmon for Windows and Linux as JSON: flat (NXLog, OTRF Security-Datasets) "
    "or nested Winlogbeat / Elastic Agent (winlog.event_data.*)",
    # Some flat exports lack Channel and carry only SourceName ("Microsoft-Windows-Sysmon").
    recognise=("Channel", "SourceName", "winlog.channel", "winlog.provider_name"),
    recognise_pattern="(?i)sysmon",
    event_type=("EventID", "winlog.event_id"),
    categories=most_specific(_EVENT_IDS),
    category_types=_EVENT_IDS,
    product="windows",
    product_field=("Channel", "winlog.channel"),
    products={"Linux-Sysmon/Operational": "linux"},
    service="sysmon",
    # A field the source does not map: the key of that name, flat or under Winlogbeat's
    # event_data (TargetFilename, TargetObject, OriginalFileName …).
    fallback=("", "winlog.event_data."),
    fields={
        # Sysmon already speaks the Sigma taxonomy; container processes on Linux keep their
        # runtime parent (/usr/bin/containerd-shim-runc-v2, /usr/bin/runc) in ParentImage.
        "Image": ("Image", "winlog.event_data.Image"),
        "CommandLine": ("CommandLine", "winlog.event_data.CommandLine"),
        "ParentImage": ("ParentImage", "winlog.event_data.ParentImage"),
        "ParentCommandLine": ("ParentCommandLine", "winlog.event_data.ParentCommandLine"),
        "User": ("User", "winlog.event_data.User"),
        "Computer": ("Computer", "Hostname", "winlog.computer_name"),
        "ProcessId": ("ProcessId", "winlog.event_data.ProcessId"),
        "ParentProcessId": ("ParentProcessId", "winlog.event_data.ParentProcessId"),
        "Hashes": ("Hashes", "winlog.event_data.Hashes"),
        "IntegrityLevel": ("IntegrityLevel", "winlog.event_data.IntegrityLevel"),
        "DestinationIp": ("DestinationIp", "winlog.event_data.DestinationIp"),
        "DestinationPort": ("DestinationPort", "winlog.event_data.DestinationPort"),
        "SourceIp": ("SourceIp", "winlog.event_data.SourceIp"),
        "SourcePort": ("SourcePort", "winlog.event_data.SourcePort"),
        "Protocol": ("Protocol", "winlog.event_data.Protocol"),
        "Initiated": ("Initiated", "winlog.event_data.Initiated"),
        "QueryName": ("QueryName", "winlog.event_data.QueryName"),
    },
    # UtcTime is "YYYY-MM-DD HH:MM:SS.fff" in UTC; @timestamp is often collector local time
    # despite its "Z", so it only stands in when UtcTime is missing.
    time_fields=("UtcTime", "winlog.event_data.UtcTime", "@timestamp"),
    host_fields=("Computer", "Hostname", "winlog.computer_name", "host.name"),
)
