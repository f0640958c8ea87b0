"""CrowdStrike Falcon (Data Replicator / event stream) NDJSON mapped onto the Sigma taxonomy."""

from __future__ import annotations

from retrohunt.sources.base import Source

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
    },
    # `timestamp` is when the cloud received the event (epoch ms); ContextTimeStamp and
    # ProcessStartTime are the sensor's (epoch s with decimals).
    time_fields=("timestamp", "ContextTimeStamp", "ProcessStartTime"),
    host_fields=("ComputerName", "aid"),
)
