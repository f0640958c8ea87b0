"""AWS CloudTrail records (as S3 delivers them, or one per line) onto the Sigma taxonomy."""

from __future__ import annotations

from retrohunt.sources.base import Source

CLOUDTRAIL = Source(
    name="cloudtrail",
    description='AWS CloudTrail: {"Records": [...]} documents as S3 writes them, or NDJSON '
    "of single records",
    recognise=("eventSource",),
    recognise_pattern=r"(?i)\.amazonaws\.com$",
    event_type=("eventName",),
    categories={},  # Sigma's CloudTrail rules select on product/service and eventName
    product="aws",
    service="cloudtrail",
    envelope="Records",
    fields={
        # RunInstances names the machine image in the request, or (fleet and
        # launch-template launches) only in the response.
        "Image": (
            "requestParameters.instancesSet.items[].imageId",
            "responseElements.instancesSet.items[].imageId",
        ),
        "User": ("userIdentity.arn", "userIdentity.userName", "userIdentity.principalId"),
        "SourceIp": ("sourceIPAddress",),
        "CloudRegion": ("awsRegion",),
        "CloudAccount": ("recipientAccountId", "userIdentity.accountId"),
    },
    time_fields=("eventTime",),
    host_fields=("recipientAccountId",),
)
