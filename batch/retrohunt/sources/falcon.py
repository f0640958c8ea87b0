"""CrowdStrike Falcon (Data Replicator / event stream) NDJSON mapped onto the Sigma taxonomy."""

from __future__ import annotations

from retrohunt.sources.base import ProcessJoin, Source

FALCON = Source(
    name="falcon",
    description="CrowdStrike Falcon Data Replicator / event-stream NDJSON",
    recognise=("event_simpleName",),
    event_type=("event_simpleName",),
    # event_platform is Win, Lin, Mac or iOS (some mapping documents wrongly say Linux).
    product_field=("event_platform",),
    products={"Win": "windows", "Lin": "linux", "Mac": "macos", "iOS": "ios"},
    categories={
        "ProcessRollup2": "process_creation",
        "SyntheticProcessRollup2": "process_creation",
        "NetworkConnectIP4": "network_connection",
        "NetworkConnectIP6": "network_connection",
        "DnsRequest": "dns_query",
    },
    fields={
        # Windows images are NT device paths (\Device\HarddiskVolume3\…); DnsRequest V5+
        # carries only the base file name of the requesting process.
        "Image": ("ImageFileName", "ContextBaseFileName"),
        "CommandLine": ("CommandLine",),
        "ParentImage": ("ParentImageFileName", "ParentBaseFileName"),
        "User": ("UserName",),
        "Computer": ("ComputerName",),
        "ProcessId": ("RawProcessId",),
        "ParentProcessId": ("ParentProcessId",),
        "sha256": ("SHA256HashData",),
        "md5": ("MD5HashData",),
        "IntegrityLevel": ("IntegrityLevel",),
        "DestinationIp": ("RemoteAddressIP4", "RemoteAddressIP6"),
        "DestinationPort": ("RemotePort",),
        "SourceIp": ("LocalAddressIP4", "LocalAddressIP6"),
        "SourcePort": ("LocalPort",),
        "Protocol": ("Protocol",),
        "QueryName": ("DomainName",),
        "ContainerId": ("OciContainerId",),
        # "0" outbound, "1" inbound, "2" neither; Sigma's Initiated is "true" when the host
        # opened the connection (value_maps below).
        "Initiated": ("ConnectionDirection",),
    },
    value_maps={"Initiated": {"0": "true", "1": "false"}},
    # Network and DNS events carry no image, only ContextProcessId: the TargetProcessId of
    # the process event on the same agent.
    process_join=ProcessJoin(
        process_types=("ProcessRollup2", "SyntheticProcessRollup2"),
        process_key=("aid", "TargetProcessId"),
        context_key=("aid", "ContextProcessId"),
        categories=("network_connection", "dns_query"),
    ),
    # `timestamp` is when the cloud received the event (epoch ms); ContextTimeStamp and
    # ProcessStartTime are the sensor's (epoch s with decimals).
    time_fields=("timestamp", "ContextTimeStamp", "ProcessStartTime"),
    host_fields=("ComputerName", "aid"),
)
