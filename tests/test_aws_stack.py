"""deploy/aws/stack.yaml, linted, then deployed for real with moto's CloudFormation on a loopback
server and used: its outputs become the repository variables, a pull request's token gets the
pull requests' role and not the release's, the release's credentials `dvc push` to the created
bucket and a fresh clone pulls the same content, and a changed parameter updates the stack in
place.

checkov's pins clash with this environment's (it wants packaging<24, pytest 9 packaging>=24), so
it runs in its own environment through `uvx --from checkov==3.3.30`.

What moto (5.2.5) does not do, and how each part is checked instead, never skipped:
- Its CloudFormation skips AWS::S3::BucketPolicy and AWS::IAM::OIDCProvider (the stack is
  deployed with an existing provider made through moto's IAM, the ExistingOidcProviderArn
  path), and its buckets take the template's encryption and nothing else (versioning, public
  access block, lifecycle, access logging); its ECR repository takes immutable tags but not
  scan on push. Read back through boto3, these come back absent,
  which is asserted so that a moto that applies them fails here and the check moves to the read
  back; meanwhile each bucket's settings and TLS-only policy are checked in the template.
- Its STS grants AssumeRoleWithWebIdentity for any token and role, without evaluating the
  trust policy (asserted). The trust policies, read back from moto's IAM, are evaluated for
  each kind of GitHub token with moto's own IAM policy evaluator (moto.iam.access_control), the
  one its server applies to signed requests. No PyPI library evaluates IAM conditions better;
  npm's @cloud-copilot/iam-simulate 0.1.173 drops GitHub's `sub` and `aud` keys (absent from
  AWS's condition-key data) in its checked mode and fails on a resource policy in its unchecked
  one. moto's evaluator compares StringEquals and ignores other operators and Federated
  principals, so the test asserts that every trust condition is StringEquals and names the
  provider.
- A stack with TrackingDatabase=true breaks moto's DescribeStacks (HTTP 500 on the RDS
  instance's MasterUserSecret): the database is checked by cfn-lint, checkov and its
  properties in the template, deployed nowhere here.
- Its S3 enforces IAM only when told to (`/moto-api/reset-auth`): with it on, the roles'
  credentials are refused what their policies do not grant, as on AWS. Its CloudFormation
  stores a role's inline policies as parsed documents, which that enforcement cannot read
  (KeyError 'policy_document'), so each is read back (as a Python dict's repr, another moto
  quirk) and put again, unchanged, through IAM's API before.
"""

import ast
import base64
import hashlib
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from conftest import PROJECT_ENV, CloudFormationLoader, run
from moto.iam.access_control import IAMPolicy, PermissionResult
from servers import S3_CREDENTIALS, moto_server
from workflow_runs import REPOSITORY, generated_repository

pytestmark = pytest.mark.slow

STACK = "income-classifier"
TEMPLATE = Path("deploy/aws/stack.yaml")
CHECKOV = ("uvx", "--from", "checkov==3.3.30", "checkov")
CFN_LINT = Path(sys.executable).parent / "cfn-lint"  # pinned in this environment
ISSUER = "token.actions.githubusercontent.com"
ASSUME = "sts:AssumeRoleWithWebIdentity"
# The `sub` of each kind of job's token (GitHub's OIDC claims), and the role that must admit it.
TOKENS = {
    f"repo:{REPOSITORY}:pull_request": "AwsPrRoleArn",
    f"repo:{REPOSITORY}:environment:release": "AwsReleaseRoleArn",
    f"repo:{REPOSITORY}:environment:production": "AwsReleaseRoleArn",
    f"repo:{REPOSITORY}:ref:refs/heads/main": "AwsMonitorRoleArn",
    f"repo:{REPOSITORY}:ref:refs/heads/feature": None,  # a push to another branch
    f"repo:{REPOSITORY}:environment:staging": None,  # an environment the stack does not know
    "repo:someone/income-classifier:pull_request": None,  # another repository's
}
BUCKETS = ("DvcRemoteBucket", "MlflowArtifactsBucket", "InferenceLogBucket")


@dataclass
class Deployed:
    project: Path
    url: str
    outputs: dict[str, str]
    template: dict[str, Any]

    def client(self, service: str, credentials: dict[str, str] | None = None) -> Any:
        keys = credentials or {
            "AccessKeyId": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "SecretAccessKey": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys.get("SessionToken"),
        )

    def physical(self, logical: str) -> str:
        resources = self.client("cloudformation").describe_stack_resources(StackName=STACK)
        [found] = [r for r in resources["StackResources"] if r.get("LogicalResourceId") == logical]
        return str(found["PhysicalResourceId"])

    def env(self, credentials: dict[str, str]) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
            "AWS_DEFAULT_REGION": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
            "AWS_ENDPOINT_URL_S3": self.url,
        }


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The generated project's stack, created on moto's server with an OIDC provider that
    already exists in the account."""
    root = tmp_path_factory.mktemp("aws")
    project = generated_repository(root)
    body = (project / TEMPLATE).read_text()
    with moto_server(root) as url:
        stack = Deployed(project, url, {}, yaml.load(body, Loader=CloudFormationLoader))
        provider = stack.client("iam").create_open_id_connect_provider(
            Url=f"https://{ISSUER}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        cloudformation = stack.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=body,
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[
                {"ParameterKey": "GitHubRepository", "ParameterValue": REPOSITORY},
                {"ParameterKey": "ExistingOidcProviderArn", "ParameterValue": provider},
            ],
        )
        [described] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        assert described["StackStatus"] == "CREATE_COMPLETE", described
        stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        yield stack


def web_identity(stack: Deployed, role: str, sub: str) -> dict[str, str]:
    """Credentials for `role` from moto's STS for a GitHub token whose `sub` is `sub`."""
    claims = {"iss": f"https://{ISSUER}", "aud": "sts.amazonaws.com", "sub": sub}
    token = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "RS256", "typ": "JWT"}, claims)
    ) + ".c2lnbmF0dXJl"  # fmt: skip
    answer = stack.client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="github-actions", WebIdentityToken=token
    )
    return dict(answer["Credentials"])


def trusted(stack: Deployed, role_arn: str, sub: str, aud: str = "sts.amazonaws.com") -> bool:
    """Whether the role's trust policy, as moto's IAM holds it, admits a token from GitHub's
    provider with these claims (moto's evaluator; see the module's docstring)."""
    name = role_arn.rsplit("/", 1)[1]
    document = stack.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    provider = stack.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    for statement in document["Statement"]:
        assert set(statement.get("Condition", {})) <= {"StringEquals"}, statement
        assert statement["Principal"] == {"Federated": provider[0]["Arn"]}, statement
    context = {f"{ISSUER}:aud": aud, f"{ISSUER}:sub": sub}
    decision = IAMPolicy(json.dumps(document)).is_action_permitted(ASSUME, role_arn, None, context)
    return bool(decision == PermissionResult.PERMITTED)


@contextmanager
def iam_enforced(stack: Deployed) -> Iterator[None]:
    """moto's server refuses, from here on, what a caller's IAM policies do not grant."""

    def reset(value: str) -> None:
        request = urllib.request.Request(
            f"{stack.url}/moto-api/reset-auth",
            data=value.encode(),
            headers={"Content-Type": "text/plain"},  # a form body would reach moto empty
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    reset("0")
    try:
        yield
    finally:
        reset("inf")


def refused(call: Any, **arguments: Any) -> bool:
    try:
        call(**arguments)
    except ClientError as error:
        return error.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


def dvc(project: Path, env: dict[str, str], *args: str) -> str:
    assignments = [f"{name}={value}" for name, value in env.items()]
    return run(project, "env", *assignments, "uv", "run", "--frozen", "dvc", *args).stdout


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_the_template_lints_clean(deployed: Deployed) -> None:
    project = deployed.project
    lint = subprocess.run(
        [str(CFN_LINT), "--", str(TEMPLATE)], cwd=project, capture_output=True, text=True
    )  # fmt: skip
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), "cfn-lint found something"
    for target in (("-d", "deploy"), ("-f", "Dockerfile")):
        scan = subprocess.run(
            [*CHECKOV, *target, "--skip-download", "--output", "json"],
            cwd=project, capture_output=True, text=True, env=PROJECT_ENV, timeout=600,
        )  # fmt: skip
        reports = json.loads(scan.stdout)
        for report in reports if isinstance(reports, list) else [reports]:
            failed = [(c["check_id"], c["file_path"]) for c in report["results"]["failed_checks"]]
            assert not failed, f"checkov {report['check_type']}: {failed}"
            assert report["summary"]["parsing_errors"] == 0, report["summary"]
        kinds = {r["check_type"] for r in (reports if isinstance(reports, list) else [reports])}
        assert kinds >= ({"cloudformation", "kubernetes", "dockerfile"} if "deploy" in target
                         else {"dockerfile"}), kinds  # fmt: skip
    # and every skip says why, on the object it skips
    annotations = re.findall(r"checkov\.io/skip\d+: (CKV\w+)=(.*)", "".join(
        path.read_text() for path in sorted((project / "deploy/k8s").rglob("*.yaml"))
    ))  # fmt: skip
    assert annotations and all(reason.strip() for _, reason in annotations), annotations
    for resource in deployed.template["Resources"].values():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["comment"].strip(), skip


def test_the_outputs_are_the_repository_variables_the_workflows_read(deployed: Deployed) -> None:
    project = deployed.project
    # when the make target reads the deployed stack
    env = S3_CREDENTIALS | {"AWS_ENDPOINT_URL": deployed.url}
    assignments = [f"{name}={value}" for name, value in env.items()]
    printed = run(project, "env", *assignments, "make", "aws-variables", f"STACK={STACK}").stdout
    commands = re.findall(r"^gh variable set (\w+) --body (\S+)$", printed, re.MULTILINE)
    variables = dict(commands)

    # then it sets exactly the variables the workflows read, but those of what the stack does
    # not make: the tracking server, the release App, a runner, CML, another S3 endpoint
    workflows = "".join(p.read_text() for p in (project / ".github/workflows").glob("*.yml"))
    read = set(re.findall(r"vars\.(\w+)", workflows))
    elsewhere = {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "RELEASE_APP_CLIENT_ID",
                 "TRAINING_RUNNER", "CML_PUBLISH_IMAGES", "S3_ENDPOINT_URL"}  # fmt: skip
    assert set(variables) == read - elsewhere, printed
    assert len(commands) == len(variables), "a variable is set twice"
    # and each value is the stack's
    assert variables["DVC_REMOTE_URL"] == f"s3://{deployed.physical('DvcRemoteBucket')}"
    assert variables["AWS_REGION"] == S3_CREDENTIALS["AWS_DEFAULT_REGION"]
    assert variables["AWS_PR_ROLE_ARN"] == deployed.outputs["AwsPrRoleArn"]
    assert variables["AWS_RELEASE_ROLE_ARN"] == deployed.outputs["AwsReleaseRoleArn"]
    assert variables["AWS_MONITOR_ROLE_ARN"] == deployed.outputs["AwsMonitorRoleArn"]
    log_bucket = deployed.physical("InferenceLogBucket")
    assert variables["INFERENCE_LOG_URL"] == f"s3://{log_bucket}/inference"
    assert variables["FEEDBACK_URL"] == f"s3://{log_bucket}/feedback"
    assert variables["IMAGE_REPOSITORY"] == deployed.outputs["ImageRepository"]
    assert re.fullmatch(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/.+",
                        variables["IMAGE_REPOSITORY"])  # fmt: skip
    # and the tracking server's settings come as comments, not variables
    artifacts = f"s3://{deployed.physical('MlflowArtifactsBucket')}"
    note = "# MlflowArtifactsDestination (Tracking server: MLFLOW_ARTIFACTS_DESTINATION)"
    assert f"{note}: {artifacts}" in printed, printed
    # and a stack that is not there is one line, not a traceback
    missing = subprocess.run(
        ["make", "--no-print-directory", "aws-variables", "STACK=nope"],
        cwd=project, capture_output=True, text=True, env=PROJECT_ENV | env,
    )  # fmt: skip
    # (make's own lines are "make:", or "make[N]:" when it runs under another make, as in CI)
    ours = [line for line in missing.stderr.splitlines() if not re.match(r"make(\[\d+\])?:", line)]
    [said] = ours
    assert missing.returncode != 0 and said.startswith("Can't read the stack 'nope'"), said


def test_the_buckets_are_private_versioned_encrypted_and_tls_only(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    resources = deployed.template["Resources"]
    for logical in BUCKETS:
        name = deployed.physical(logical)
        # encrypted at rest with KMS and a bucket key, read back from the created bucket
        encryption = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
        [rule] = encryption["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        # moto's CloudFormation does not apply the rest (module docstring): absent when read
        # back, so checked in the template
        assert "Status" not in s3.get_bucket_versioning(Bucket=name), "moto applies it now"
        properties = resources[logical]["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, logical
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}, logical
        assert len(properties["PublicAccessBlockConfiguration"]) == 4, logical
        assert properties["LoggingConfiguration"]["DestinationBucketName"] == {
            "Ref": "AccessLogBucket"
        }, logical
        assert resources[logical]["DeletionPolicy"] == "Retain", "deleting the stack deletes it"
        # a bucket policy that refuses every request without TLS
        with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=name)  # moto skips AWS::S3::BucketPolicy
        [policy] = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"
                    and r["Properties"]["Bucket"] == {"Ref": logical}]  # fmt: skip
        [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
        assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [
            {"GetAtt": f"{logical}.Arn"}, {"Sub": f"${{{logical}.Arn}}/*"}
        ]  # fmt: skip
    # and the inference log expires after the retention parameter
    [rule] = resources["InferenceLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "InferenceLogRetentionDays"}
    assert rule["Status"] == "Enabled"
    # and the registry keeps a tag to one image and scans every push
    [repository] = deployed.client("ecr").describe_repositories()["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert resources["ServingImageRepository"]["DeletionPolicy"] == "Retain"
    assert repository["imageScanningConfiguration"] == {}, "moto applies scan on push now"
    scanning = resources["ServingImageRepository"]["Properties"]["ImageScanningConfiguration"]
    assert scanning == {"ScanOnPush": True}


def test_the_tracking_database_is_optional_private_and_its_password_managed(
    deployed: Deployed,
) -> None:
    # not deployed by default, and not deployable on moto (module docstring)
    assert deployed.client("rds").describe_db_instances()["DBInstances"] == []
    database = deployed.template["Resources"]["TrackingDatabaseInstance"]
    assert database["Condition"] == "CreateTrackingDatabase"
    assert deployed.template["Conditions"]["CreateTrackingDatabase"] == {
        "Equals": [{"Ref": "TrackingDatabase"}, "true"]
    }
    properties = database["Properties"]
    assert properties["ManageMasterUserPassword"] is True and "MasterUserPassword" not in properties
    assert properties["StorageEncrypted"] is True and properties["PubliclyAccessible"] is False
    assert (properties["Engine"], properties["DBName"]) == ("postgres", "mlflow")
    outputs = deployed.template["Outputs"]
    assert outputs["TrackingDatabaseSecretArn"]["Value"] == {
        "GetAtt": "TrackingDatabaseInstance.MasterUserSecret.SecretArn"
    }


def test_each_token_gets_its_own_kind_of_role_only(deployed: Deployed) -> None:
    roles = {name: deployed.outputs[name] for name in set(TOKENS.values()) - {None}}
    pr_sub = f"repo:{REPOSITORY}:pull_request"
    # moto's STS hands a pull request's token even the release's role (module docstring) ...
    assert web_identity(deployed, roles["AwsReleaseRoleArn"], pr_sub)["AccessKeyId"]
    # ... so the trust policies themselves are evaluated: each token, each role
    for sub, expected in TOKENS.items():
        admitted = {name for name, arn in roles.items() if trusted(deployed, arn, sub)}
        assert admitted == ({expected} if expected else set()), f"{sub}: {admitted}"
    # and a token minted for another audience gets none
    assert not trusted(deployed, roles["AwsPrRoleArn"], pr_sub, aud="sigstore")


def test_the_roles_credentials_do_what_their_policies_grant(deployed: Deployed) -> None:
    project, bucket = deployed.project, deployed.physical("DvcRemoteBucket")
    log = deployed.physical("InferenceLogBucket")
    artifacts = deployed.physical("MlflowArtifactsBucket")
    outputs = deployed.outputs
    pr = web_identity(deployed, outputs["AwsPrRoleArn"], f"repo:{REPOSITORY}:pull_request")
    release = web_identity(
        deployed, outputs["AwsReleaseRoleArn"], f"repo:{REPOSITORY}:environment:release"
    )
    monitor = web_identity(
        deployed, outputs["AwsMonitorRoleArn"], f"repo:{REPOSITORY}:ref:refs/heads/main"
    )
    deployed.client("s3").put_object(Bucket=log, Key="2026/12/06/batch.csv", Body=b"a,b\n1,2\n")
    iam = deployed.client("iam")
    for arn in (
        outputs["AwsPrRoleArn"],
        outputs["AwsReleaseRoleArn"],
        outputs["AwsMonitorRoleArn"],
    ):
        role = arn.rsplit("/", 1)[1]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            document = ast.literal_eval(document)  # moto answers with the dict's repr
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    with iam_enforced(deployed):
        # given the project's default remote on the stack's bucket
        dvc(project, deployed.env(release), "remote", "add", "--default", "s3",
            outputs["DvcRemoteUrl"])  # fmt: skip
        run(project, "git", "commit", "--quiet", "--all", "--message", "Keep the data on S3")
        expected = md5(project / "data" / "raw" / "adult.csv")

        # when the release's credentials push, and a fresh clone pulls with a pull request's
        pushed = dvc(project, deployed.env(release), "push")
        clone = project.parent / "fresh-clone"
        run(project.parent, "git", "clone", "--quiet", str(project), clone.name)
        dvc(clone, deployed.env(pr), "pull", "data/raw/adult.csv.dvc")

        # then the clone has the same content, the version git names
        assert "pushed" in pushed, pushed
        assert md5(clone / "data" / "raw" / "adult.csv") == expected
        pointer = yaml.safe_load((clone / "data" / "raw" / "adult.csv.dvc").read_text())
        assert pointer["outs"][0]["md5"] == expected
        stored = f"files/md5/{expected[:2]}/{expected[2:]}"
        # and a pull request's credentials add objects and run-cache entries under
        # pull-requests/ only: nothing where releases restore from, and delete nothing
        as_pr = deployed.client("s3", pr)
        as_pr.put_object(Bucket=bucket, Key="pull-requests/files/md5/00/new", Body=b"new")
        as_pr.put_object(Bucket=bucket, Key="pull-requests/runs/00/entry/value", Body=b"new")
        for key in ("files/md5/00/new", "runs/00/entry/value", stored, "config"):
            assert refused(as_pr.put_object, Bucket=bucket, Key=key, Body=b"x"), key
        assert refused(as_pr.delete_object, Bucket=bucket, Key=stored), "a PR deleted data"
        # and the release never reads what pull requests wrote, though it reads the rest
        as_release = deployed.client("s3", release)
        assert as_release.get_object(Bucket=bucket, Key=stored)["ContentLength"] > 0
        assert refused(as_release.get_object, Bucket=bucket, Key="pull-requests/files/md5/00/new")
        assert refused(as_pr.get_object, Bucket=log, Key="2026/12/06/batch.csv")
        # and monitoring reads the inference log and the remote, and writes nothing
        as_monitor = deployed.client("s3", monitor)
        assert as_monitor.get_object(Bucket=log, Key="2026/12/06/batch.csv")["Body"].read()
        assert as_monitor.get_object(Bucket=bucket, Key=stored)["ContentLength"] > 0
        assert refused(as_monitor.put_object, Bucket=bucket, Key="files/md5/00/x", Body=b"x")
        assert refused(as_monitor.put_object, Bucket=log, Key="x", Body=b"x")
        # and none of them reaches MLflow's artifacts
        for credentials in (pr, release, monitor):
            as_role = deployed.client("s3", credentials)
            assert refused(as_role.list_objects_v2, Bucket=artifacts)


def test_the_readme_explains_the_pull_requests_trust_policy_as_deployed(deployed: Deployed) -> None:
    readme = (deployed.project / "README.md").read_text()
    blocks = re.findall(r"```json\n(\{\n  \"Effect\".*?)\n```", readme, re.DOTALL)
    [statement] = [json.loads(block) for block in blocks]
    role = deployed.outputs["AwsPrRoleArn"].rsplit("/", 1)[1]
    iam = deployed.client("iam")
    [deployed_statement] = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    account = deployed.outputs["AwsPrRoleArn"].split(":")[4]
    owner, _ = REPOSITORY.split("/")
    shown = json.loads(
        json.dumps(statement).replace("ACCOUNT_ID", account).replace("OWNER/", f"{owner}/")
    )
    assert shown == deployed_statement
    # and its one deploy command gives the template every parameter without a default
    joined = readme.replace("\\\n", " ")  # the shell's line continuations
    [command] = re.findall(r"^aws cloudformation deploy .*$", joined, re.MULTILINE)
    arguments = command.split()
    assert arguments[arguments.index("--template-file") + 1] == str(TEMPLATE)
    assert arguments[arguments.index("--capabilities") + 1] == "CAPABILITY_IAM"
    overrides = arguments[arguments.index("--parameter-overrides") + 1 :]
    required = {name for name, parameter in deployed.template["Parameters"].items()
                if "Default" not in parameter}  # fmt: skip
    assert {override.split("=")[0] for override in overrides} == required, command
    stack = arguments[arguments.index("--stack-name") + 1]
    assert f"make aws-variables STACK={stack}" in readme


def test_a_changed_parameter_updates_the_stack_without_replacing_the_buckets(
    deployed: Deployed,
) -> None:
    s3, cloudformation = deployed.client("s3"), deployed.client("cloudformation")
    names = {logical: deployed.physical(logical) for logical in BUCKETS}
    s3.put_object(Bucket=names["DvcRemoteBucket"], Key="files/md5/00/kept", Body=b"kept")
    before = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    parameters = [
        {"ParameterKey": key, "UsePreviousValue": True}
        for key in ("GitHubRepository", "ExistingOidcProviderArn")
    ]

    # when the inference log's retention changes and the stack is deployed again
    cloudformation.update_stack(
        StackName=STACK,
        TemplateBody=(deployed.project / TEMPLATE).read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[*parameters, {"ParameterKey": "InferenceLogRetentionDays",
                                  "ParameterValue": "90"}],
    )  # fmt: skip

    # then it is an update: the same buckets, created when they were, with their data
    [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack["StackStatus"]
    given = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert given["InferenceLogRetentionDays"] == "90"
    assert {logical: deployed.physical(logical) for logical in BUCKETS} == names
    after = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    assert after == before, "a bucket was replaced"
    kept = s3.get_object(Bucket=names["DvcRemoteBucket"], Key="files/md5/00/kept")
    assert kept["Body"].read() == b"kept", "the data did not survive the update"
