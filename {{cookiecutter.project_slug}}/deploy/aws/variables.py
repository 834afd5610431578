"""Print the `gh variable set` commands that point the workflows at a deployed stack.

`make aws-variables STACK=<name>` runs it with the usual AWS credentials and region. Each of
the stack's outputs described as a repository variable becomes one command, its name the
output's in upper snake case (DvcRemoteUrl: DVC_REMOTE_URL); the other outputs, settings for
the tracking server and the image, are printed as comments. botocore comes with dvc-s3.
"""

import re
import shlex
import sys

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

REPOSITORY_VARIABLE = "Repository variable"


def variable_name(output_key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", output_key).upper()


def commands(outputs: list[dict[str, str]]) -> list[str]:
    lines, notes = [], []
    for output in outputs:
        key, value = output["OutputKey"], output["OutputValue"]
        description = output.get("Description", "")
        if description.startswith(REPOSITORY_VARIABLE):
            lines.append(f"gh variable set {variable_name(key)} --body {shlex.quote(value)}")
        else:
            notes.append(f"# {key} ({description}): {value}")
    return lines + notes


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: variables.py STACK (make aws-variables STACK=<name>)", file=sys.stderr)
        return 2
    try:
        client = botocore.session.get_session().create_client("cloudformation")
        stacks = client.describe_stacks(StackName=argv[0])["Stacks"]
    except (BotoCoreError, ClientError) as error:
        print(f"Can't read the stack {argv[0]!r}: {error}", file=sys.stderr)
        return 1
    print("\n".join(commands(stacks[0].get("Outputs", []))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
