"""The Sigma taxonomy columns every source normalises onto, and the engine's own columns."""

from __future__ import annotations

# Sigma taxonomy fields (https://github.com/SigmaHQ/sigma-specification, "Taxonomy"), with what
# they hold. Sources map their native fields onto these names so Sigma rules run unchanged.
TAXONOMY: dict[str, str] = {
    "Image": "path (or file name) of the process image",
    "CommandLine": "full command line of the process",
    "ParentImage": "path or file name of the parent process image",
    "ParentCommandLine": "command line of the parent process",
    "User": "account the process runs as",
    "Computer": "host name",
    "ProcessId": "process id as the OS shows it",
    "ParentProcessId": "parent's process id",
    "Hashes": "hashes of the image (e.g. SHA256=...)",
    "sha256": "SHA-256 of the image",
    "md5": "MD5 of the image",
    "IntegrityLevel": "process integrity level",
    "DestinationIp": "remote address of a connection (IPv4 or IPv6)",
    "DestinationPort": "remote port of a connection",
    "SourceIp": "local address of a connection",
    "SourcePort": "local port of a connection",
    "Protocol": "transport protocol (number or name)",
    "Initiated": "'true' when the host opened the connection, 'false' when it accepted it",
    "QueryName": "domain name looked up in a DNS query",
    # Not in Sigma's taxonomy: where a source knows it, the container a process runs in.
    "ContainerId": "id of the container the process runs in (Falcon OciContainerId)",
    "CloudRegion": "cloud region of the API call (CloudTrail awsRegion)",
    "CloudAccount": "cloud account the call was made in (CloudTrail recipientAccountId)",
}

# Engine columns carried next to the taxonomy (private prefix: dropped before the sink). A
# rule field with this prefix is one the engine computes itself (a keyword's line text):
# read as is, never mapped by a source.
ENGINE_PREFIX = "_rh_"
SOURCE = "_rh_source"
CATEGORY = "_rh_category"  # Sigma logsource category: process_creation, network_connection …
# Every category admitting the event (a list: Sysmon 13 is registry_set and registry_event);
# CATEGORY is the most specific of them, for alerts.
ADMITTED = "_rh_categories"
PRODUCT = "_rh_product"  # Sigma logsource product: windows, linux, macos, aws …
SERVICE = "_rh_service"  # Sigma logsource service: sysmon, cloudtrail …
EVENT_TYPE = "_rh_event_type"  # the source's own event name, e.g. ProcessRollup2
EVENT_TIME = "_rh_time"  # Datetime(us, UTC)
HOST = "_rh_host"  # best host identity: name when known, else the agent id
RECORD = "_rh_record"  # index of the event inside an envelope line (CloudTrail Records)
PROCESS_CONTEXT = "_rh_process_context"  # where process fields came from: event/joined/unknown

CATEGORIES = ("process_creation", "network_connection", "dns_query")
