"""The CloudTrail generator: AWS management events, one record per line (NDJSON) or now and then
an S3-style `{"Records": [...]}` line of 2-50 records. Mostly benign API calls; RunInstances as
CI/CD fleet launches from golden images and launch-template launches (the rule raises both:
the approved-images allow-list is empty by default), dry runs and denied launches (never
labelled), and Atomic Red Team T1204.003 test 4: RunInstances from a public community AMI in
us-east-1, then StopInstances of that instance.

A Records line is labelled with the rules that fire on any of its records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from retrohunt.corpus.base import Generator, Line, Obj
from retrohunt.corpus.rules import Labels, cloudtrail_labels

ACCOUNTS = ("111122223333", "444455556666", "123456789012")
REGIONS = ("us-east-1", "us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
IAM_USERS = ("alice", "bob.ops", "jose.ramirez", "svc-backup", "terraform")
ROLES = (
    ("ReadOnlyAuditor", "audit-session"),
    ("DataPipelineRole", "airflow-worker"),
    ("OrganizationAccountAccessRole", "admin"),
    ("eks-node-group-role", "i-0{H}"),
)
CI_ROLES = (("ci-deployer", "gha-{N}"), ("jenkins-fleet", "build-{N}"))
ASG_ROLE = ("AWSServiceRoleForAutoScaling", "AutoScaling")
USER_AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.15.0-1056-aws exe/x86_64.ubuntu.22 prompt/off",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.11",
    "console.amazonaws.com",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.43.0",
)
GOLDEN_AMIS = ("ami-0a1b2c3d4e5f60718", "ami-04c913012f8977029", "ami-0e8d32f2b1a7c6d50")
INSTANCE_TYPES = ("t3.micro", "t3.medium", "m6i.large", "c6g.xlarge", "r6i.2xlarge")
MINER_TYPES = ("c5.18xlarge", "p3.16xlarge", "g4dn.12xlarge", "c6i.32xlarge")
BUCKETS = ("corp-artifacts", "cloudtrail-logs-111122223333", "data-lake-raw", "tf-state-prod")
DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."
DENIED_MESSAGE = (
    "You are not authorized to perform this operation. Encoded authorization failure message: "
)


class CloudTrailGenerator(Generator):
    """CloudTrail management events with the launch scenarios."""

    attack_lines = 1.0
    false_positive_lines = 1.0
    hard_lines = 1.0
    trap_fields = ("eventName", "eventSource", "userAgent")

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        super().__init__(seed, malicious_rate)
        benign: list[tuple[float, Callable[[], Line]]] = [
            (20.0, self._single(self._describe_instances)),
            (18.0, self._single(self._s3_object)),
            (12.0, self._single(self._assume_role)),
            (6.0, self._single(self._caller_identity)),
            (5.0, self._single(self._describe_images)),
            (4.0, self._single(self._stop_start)),
            (4.0, self._single(self._create_tags)),
            (4.0, self._single(self._iam_get_user)),
            (1.2, self._records_line),
        ]
        self.schedule(
            benign,
            attacks=[self._atk_community_ami, self._atk_community_ami_records],
            false_positives=[
                self._fp_fleet_launch,
                self._fp_fleet_launch,
                self._fp_template_launch,
                self._fp_in_records,
            ],
            hard=[
                self._hard_dry_run,
                self._hard_denied,
                self._hard_dry_run_records,
                self._hard_describe_community,
                self._hard_stop_only,
            ],
        )

    def labels(self, obj: Obj) -> Labels:
        return cloudtrail_labels(obj)

    # -- building blocks ---------------------------------------------------------------------

    def _single(self, make: Callable[[], Obj]) -> Callable[[], Line]:
        def line() -> Line:
            return self.emit(make(), 0.02)

        return line

    def tick(self) -> str:
        self.clock += 1 + self.bits(11)
        ms = self.clock - (self.bits(12) if self.random() < 0.05 else 0)
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def identity(self, account: str) -> Obj:
        r = self.random()
        if r < 0.35:
            user = self.pick(IAM_USERS)
            return {
                "type": "IAMUser",
                "principalId": "AIDA" + self.hex(64).upper()[:16],
                "arn": f"arn:aws:iam::{account}:user/{user}",
                "accountId": account,
                "accessKeyId": "AKIA" + self.hex(64).upper()[:16],
                "userName": user,
            }
        role, session = ROLES[int(self.random() * len(ROLES))]
        return self.role_identity(account, role, session)

    def role_identity(self, account: str, role: str, session: str) -> Obj:
        session = session.replace("{N}", str(self.bits(16))).replace("{H}", self.hex(64))
        role_id = "AROA" + self.hex(64).upper()[:17]
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": "ASIA" + self.hex(64).upper()[:16],
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "attributes": {"creationDate": self.tick(), "mfaAuthenticated": "false"},
            },
        }

    def record(
        self,
        source: str,
        name: str,
        *,
        request: Obj | None,
        response: Obj | None,
        read_only: bool,
        account: str | None = None,
        region: str | None = None,
        identity: Obj | None = None,
        agent: str | None = None,
        ip: str | None = None,
        data_event: bool = False,
    ) -> Obj:
        account = account or self.pick(ACCOUNTS)
        event: Obj = {
            "eventVersion": "1.09" if self.random() < 0.6 else "1.10",
            "userIdentity": identity or self.identity(account),
            "eventTime": self.tick(),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region or self.pick(REGIONS),
            "sourceIPAddress": ip or (self.public4() if self.random() < 0.8 else self.private4()),
            "userAgent": agent or self.pick(USER_AGENTS),
            "requestParameters": request,
            "responseElements": response,
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": not data_event,
            "recipientAccountId": account,
            "eventCategory": "Data" if data_event else "Management",
        }
        return event

    def instance_id(self) -> str:
        return "i-0" + self.hex(64)[:16]

    def community_ami(self) -> str:
        return "ami-0" + self.hex(64)[:16]

    # -- benign records ----------------------------------------------------------------------

    def _describe_instances(self) -> Obj:
        return self.record(
            "ec2.amazonaws.com",
            "DescribeInstances",
            request={"maxResults": 1000} if self.random() < 0.5 else None,
            response=None,
            read_only=True,
        )

    def _s3_object(self) -> Obj:
        bucket = self.pick(BUCKETS)
        name = "GetObject" if self.random() < 0.7 else "PutObject"
        return self.record(
            "s3.amazonaws.com",
            name,
            request={
                "bucketName": bucket,
                "Host": f"{bucket}.s3.amazonaws.com",
                "key": f"builds/{self.hex(32)}/app.tgz",
            },
            response=None,
            read_only=name == "GetObject",
            data_event=True,  # S3 object calls are data events (a trail logs them if asked)
        )

    def _assume_role(self) -> Obj:
        account = self.pick(ACCOUNTS)
        role, session = ROLES[int(self.random() * len(ROLES))]
        role_id = "AROA" + self.hex(64).upper()[:17]
        return self.record(
            "sts.amazonaws.com",
            "AssumeRole",
            account=account,
            request={
                "roleArn": f"arn:aws:iam::{account}:role/{role}",
                "roleSessionName": session.replace("{N}", "1").replace("{H}", self.hex(32)),
                "durationSeconds": 3600,
            },
            response={
                "credentials": {
                    "accessKeyId": "ASIA" + self.hex(64).upper()[:16],
                    "sessionToken": "IQoJb3JpZ2luX2VjE" + self.hex(64) + "EXAMPLETOKEN",
                    "expiration": "Nov 17, 2026, 11:00:00 PM",
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{role_id}:{session}",
                    "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                },
            },
            read_only=True,
        )

    def _caller_identity(self) -> Obj:
        return self.record(
            "sts.amazonaws.com", "GetCallerIdentity", request=None, response=None, read_only=True
        )

    def _describe_images(self) -> Obj:
        return self.record(
            "ec2.amazonaws.com",
            "DescribeImages",
            request={"imagesSet": {"items": [{"imageId": self.pick(GOLDEN_AMIS)}]}},
            response=None,
            read_only=True,
        )

    def stop(self, instance: str, *, start: bool = False, **kw: object) -> Obj:
        states = ({"code": 80, "name": "stopped"}, {"code": 0, "name": "pending"})
        if not start:
            states = ({"code": 16, "name": "running"}, {"code": 64, "name": "stopping"})
        return self.record(
            "ec2.amazonaws.com",
            "StartInstances" if start else "StopInstances",
            request={"instancesSet": {"items": [{"instanceId": instance}]}, "force": False},
            response={
                "requestId": self.uuid(),
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance,
                            "previousState": states[0],
                            "currentState": states[1],
                        }
                    ]
                },
            },
            read_only=False,
            **kw,  # type: ignore[arg-type]
        )

    def _stop_start(self) -> Obj:
        return self.stop(self.instance_id(), start=self.random() < 0.5)

    def _create_tags(self) -> Obj:
        return self.record(
            "ec2.amazonaws.com",
            "CreateTags",
            request={
                "resourcesSet": {"items": [{"resourceId": self.instance_id()}]},
                "tagsSet": {"items": [{"key": "team", "value": "platform"}]},
            },
            response={"requestId": self.uuid(), "_return": True},
            read_only=False,
        )

    def _iam_get_user(self) -> Obj:
        return self.record(
            "iam.amazonaws.com",
            "GetUser",
            request={"userName": self.pick(IAM_USERS)},
            response=None,
            read_only=True,
            region="us-east-1",
        )

    def benign_record(self) -> Obj:
        r = self.random()
        if r < 0.3:
            return self._describe_instances()
        if r < 0.55:
            return self._s3_object()
        if r < 0.7:
            return self._assume_role()
        if r < 0.8:
            return self._caller_identity()
        if r < 0.88:
            return self._stop_start()
        if r < 0.94:
            return self._create_tags()
        return self._iam_get_user()

    def records(self, records: list[Obj]) -> Line:
        """One S3-style document holding these records (and benign ones around them)."""
        out = [self.benign_record() for _ in range(int(self.random() * (len(records) + 8)))]
        for rec in records:
            out.insert(int(self.random() * (len(out) + 1)), rec)
        while len(out) < 2:
            out.append(self.benign_record())
        return self.emit({"Records": out[:50]})

    def _records_line(self) -> Line:
        n = 2 + int(self.random() * 49)
        return self.emit({"Records": [self.benign_record() for _ in range(n)]})

    # -- launches ----------------------------------------------------------------------------

    def run_instances(
        self,
        image: str | None,
        *,
        account: str,
        region: str,
        identity: Obj,
        instance_type: str,
        count: int = 1,
        template: bool = False,
        error: str | None = None,
        agent: str | None = None,
        ip: str | None = None,
    ) -> tuple[Obj, list[str]]:
        item: Obj = {"minCount": count, "maxCount": count}
        if image is not None and not template:
            item = {"imageId": image, **item}
        request: Obj = {"instancesSet": {"items": [item]}, "instanceType": instance_type}
        if template:
            request["launchTemplate"] = {
                "launchTemplateId": "lt-0" + self.hex(64)[:16],
                "version": "$Latest",
            }
            del request["instanceType"]
        else:
            request["subnetId"] = "subnet-0" + self.hex(64)[:16]
            request["monitoring"] = {"enabled": False}
            request["disableApiTermination"] = False
        if error == "Client.DryRunOperation":
            request["dryRun"] = True  # EC2 records the flag on dry runs only
        instances = [self.instance_id() for _ in range(count)]
        response: Obj | None = None
        if error is None:
            response = {
                "requestId": self.uuid(),
                "reservationId": "r-0" + self.hex(64)[:16],
                "ownerId": account,
                "groupSet": {"items": [{"groupId": "sg-0" + self.hex(64)[:16]}]},
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": instance,
                            "imageId": image,
                            "instanceType": instance_type,
                            "amiLaunchIndex": i,
                            "currentState": {"code": 0, "name": "pending"},
                            "placement": {"availabilityZone": f"{region}a", "tenancy": "default"},
                            "privateIpAddress": self.private4(),
                        }
                        for i, instance in enumerate(instances)
                    ]
                },
            }
        event = self.record(
            "ec2.amazonaws.com",
            "RunInstances",
            request=request,
            response=response,
            read_only=False,
            account=account,
            region=region,
            identity=identity,
            agent=agent,
            ip=ip,
        )
        if error is not None:
            event["errorCode"] = error
            event["errorMessage"] = (
                DRY_RUN_MESSAGE
                if error == "Client.DryRunOperation"
                else DENIED_MESSAGE + self.hex(64)
            )
        return event, instances

    def community_launch(self) -> tuple[Obj, Obj]:
        """Atomic test 4: a community AMI launched in us-east-1, then stopped."""
        account = self.pick(ACCOUNTS)
        user = self.pick(IAM_USERS)
        identity: Obj = {
            "type": "IAMUser",
            "principalId": "AIDA" + self.hex(64).upper()[:16],
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "accountId": account,
            "accessKeyId": "AKIA" + self.hex(64).upper()[:16],
            "userName": user,
        }
        ip = self.public4()
        agent = USER_AGENTS[0] + " command/ec2.run-instances"
        launch, (instance,) = self.run_instances(
            self.community_ami(),
            account=account,
            region="us-east-1",
            identity=identity,
            instance_type=self.pick(MINER_TYPES),
            agent=agent,
            ip=ip,
        )
        stop = self.stop(
            instance, account=account, region="us-east-1", identity=identity, agent=agent, ip=ip
        )
        return launch, stop

    def _atk_community_ami(self) -> list[Line]:
        launch, stop = self.community_launch()
        return [self.emit(launch), self.emit(stop, 0.3)]

    def _atk_community_ami_records(self) -> list[Line]:
        return [self.records(list(self.community_launch()))]

    def fleet_launch(self) -> Obj:
        account = self.pick(ACCOUNTS)
        role, session = CI_ROLES[int(self.random() * len(CI_ROLES))]
        event, _ = self.run_instances(
            self.pick(GOLDEN_AMIS),
            account=account,
            region=self.pick(REGIONS),
            identity=self.role_identity(account, role, session),
            instance_type=self.pick(INSTANCE_TYPES),
            count=1 + int(self.random() * 4),
            agent=USER_AGENTS[4],
        )
        return event

    def template_launch(self) -> Obj:
        account = self.pick(ACCOUNTS)
        event, _ = self.run_instances(
            self.pick(GOLDEN_AMIS),
            account=account,
            region=self.pick(REGIONS),
            identity=self.role_identity(account, *ASG_ROLE),
            instance_type=self.pick(INSTANCE_TYPES),
            template=True,
            agent="autoscaling.amazonaws.com",
            ip="autoscaling.amazonaws.com",
        )
        return event

    def _fp_fleet_launch(self) -> list[Line]:
        return [self.emit(self.fleet_launch())]

    def _fp_template_launch(self) -> list[Line]:
        return [self.emit(self.template_launch())]

    def _fp_in_records(self) -> list[Line]:
        return [
            self.records([self.fleet_launch() if self.random() < 0.5 else self.template_launch()])
        ]

    # -- hard negatives ----------------------------------------------------------------------

    def failed_launch(self, error: str) -> Obj:
        account = self.pick(ACCOUNTS)
        event, _ = self.run_instances(
            self.community_ami() if self.random() < 0.5 else self.pick(GOLDEN_AMIS),
            account=account,
            region="us-east-1" if self.random() < 0.5 else self.pick(REGIONS),
            identity=self.identity(account),
            instance_type=self.pick(MINER_TYPES),
            error=error,
        )
        return event

    def _hard_dry_run(self) -> list[Line]:
        return [self.emit(self.failed_launch("Client.DryRunOperation"), 0.3)]

    def _hard_denied(self) -> list[Line]:
        return [self.emit(self.failed_launch("Client.UnauthorizedOperation"), 0.3)]

    def _hard_dry_run_records(self) -> list[Line]:
        error = "Client.DryRunOperation" if self.random() < 0.5 else "Client.UnauthorizedOperation"
        return [self.records([self.failed_launch(error)])]

    def _hard_describe_community(self) -> list[Line]:
        event = self._describe_images()
        event["requestParameters"] = {"imagesSet": {"items": [{"imageId": self.community_ami()}]}}
        return [self.emit(event, 0.3)]

    def _hard_stop_only(self) -> list[Line]:
        return [self.emit(self.stop(self.instance_id()), 0.3)]
