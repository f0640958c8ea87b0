"""Sysmon (Windows, Sysmon for Linux) as flat JSON, mapped onto the Sigma taxonomy."""

from __future__ import annotations

from retrohunt.sources.base import Source

SYSMON = Source(
    name="sysmon",
    description="Sysmon for Windows and Linux as flat JSON (NXLog, OTRF Security-Datasets)",
    # Some exports lack Channel and carry only SourceName ("Microsoft-Windows-Sysmon").
    recognise=("Channel", "SourceName"),
    recognise_pattern="(?i)sysmon",
    event_type=("EventID",),
    categories={"1": "process_creation", "3": "network_connection", "22": "dns_query"},
    product="windows",
    product_field=("Channel",),
    products={"Linux-Sysmon/Operational": "linux"},
    service="sysmon",
    fields={
        # Sysmon already speaks the Sigma taxonomy; container processes on Linux keep their
        # runtime parent (/usr/bin/containerd-shim-runc-v2, /usr/bin/runc) in ParentImage.
        "Image": ("Image",),
        "CommandLine": ("CommandLine",),
        "ParentImage": ("ParentImage",),
        "ParentCommandLine": ("ParentCommandLine",),
        "User": ("User",),
        "Computer": ("Computer", "Hostname"),
        "ProcessId": ("ProcessId",),
        "ParentProcessId": ("ParentProcessId",),
        "Hashes": ("Hashes",),
        "IntegrityLevel": ("IntegrityLevel",),
        "DestinationIp": ("DestinationIp",),
        "DestinationPort": ("DestinationPort",),
        "SourceIp": ("SourceIp",),
        "SourcePort": ("SourcePort",),
        "Protocol": ("Protocol",),
        "QueryName": ("QueryName",),
    },
    # UtcTime is "YYYY-MM-DD HH:MM:SS.fff" in UTC; @timestamp is often collector local time
    # despite its "Z", so it only stands in when UtcTime is missing.
    time_fields=("UtcTime", "@timestamp"),
    host_fields=("Computer", "Hostname"),
)
