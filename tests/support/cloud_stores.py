"""Real object stores on loopback for the cloud-source tests: moto's S3 server with IAM on, a
requester-pays front before it, and Azurite (Azure Blob Storage, from tests/services/'s npm package).

moto enforces IAM (``INITIAL_NO_AUTH_ACTION_COUNT``): after the setup's own requests every
request must be signed by a known key whose policy allows it, so two users with one bucket each
are two identities, and a deleted access key is refused as a rotated key is by S3.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .loopback import LoopbackServer, forwarded, request_body, send_answer
from .processes import free_port, stop_process

REGION = "us-east-1"
#: The setup's unauthenticated IAM requests: 3 users x (user, policy, access key).
SETUP_ACTIONS = 9
SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (``process`` still running)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.1)


def _policy(resources: list[str], actions: str = "s3:*") -> str:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class MotoS3:
    """moto's server on a free port with IAM on: ``keys[user] = (access key id, secret)`` for
    ``alice`` (bucket ``alpha``), ``bob`` (bucket ``bravo``) and ``admin`` (IAM, to rotate keys)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS), "MOTO_PORT": str(self.port)}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(name, None)
        self.log = directory / "moto.log"
        with self.log.open("wb") as log:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        self.keys: dict[str, tuple[str, str]] = {}
        self.handed_out: list[str] = []  # every secret key, rotated ones too
        iam = self.client("iam", ("setup", "setup"))
        for user, resources, actions in (
            ("alice", ["arn:aws:s3:::alpha", "arn:aws:s3:::alpha/*"], "s3:*"),
            ("bob", ["arn:aws:s3:::bravo", "arn:aws:s3:::bravo/*"], "s3:*"),
            ("admin", ["*"], "iam:*"),
        ):
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user, PolicyName="access", PolicyDocument=_policy(resources, actions)
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            self.handed_out.append(key["SecretAccessKey"])

    def client(self, service: str, key: tuple[str, str]) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
        )

    def put(self, user: str, bucket: str, key: str, body: bytes) -> None:
        """``body`` as ``bucket/key``, the bucket made first if need be, as ``user``."""
        s3 = self.client("s3", self.keys[user])
        try:
            s3.head_bucket(Bucket=bucket)
        except s3.exceptions.ClientError:
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    def rotate(self, user: str) -> tuple[str, str]:
        """Delete ``user``'s access key and make a new one (the old one is refused from now on)."""
        iam = self.client("iam", self.keys["admin"])
        iam.delete_access_key(UserName=user, AccessKeyId=self.keys[user][0])
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        self.handed_out.append(key["SecretAccessKey"])
        return self.keys[user]

    def secrets(self) -> list[str]:
        """Every secret key moto handed out, rotated ones too (for the no-secret-anywhere grep)."""
        return list(self.handed_out)

    def close(self) -> None:
        stop_process(self.process)


class Transcript:
    """Every response body (but PNG tiles') and header a module's tests got through :meth:`get`,
    in ``texts``: what the no-secret-anywhere grep at the end of a cloud test module reads."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def get(self, client: Any, path: str) -> Any:
        """``client.get(path)``, its body and headers kept."""
        response = client.get(path)
        self.texts.append(response.get_data(as_text=True) if response.mimetype != "image/png" else "")
        self.texts.append(str(response.headers))
        return response


class RequesterPaysFront:
    """A reverse proxy before ``upstream`` (path-style S3) that refuses, as S3 does, a request for
    a bucket in ``paying`` without ``x-amz-request-payer: requester``; ``seen[bucket]`` counts the
    requests that carried the header. Headers pass unchanged (the signature covers ``Host``)."""

    def __init__(self, upstream_port: int, paying: set[str]) -> None:
        self.seen: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                bucket = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
                pays = self.headers.get("x-amz-request-payer", "").lower() == "requester"
                front.requests[bucket] = front.requests.get(bucket, 0) + 1
                front.seen[bucket] = front.seen.get(bucket, 0) + int(pays)
                if bucket in paying and not pays:
                    body = b"<Error><Code>AccessDenied</Code><Message>Requester pays</Message></Error>"
                    send_answer(self, 403, [("Content-Type", "application/xml")], body)
                    return
                data = request_body(self)
                send_answer(
                    self, *forwarded(upstream_port, self.command, self.path, data, dict(self.headers))
                )

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


#: Azurite's well-known development account (public: Azurite's own documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> str | None:
    """tests/services/node_modules' azurite-blob (``npm ci`` there installs it), else one on PATH."""
    local = SERVICES_DIR / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return shutil.which("azurite-blob")


class Azurite:
    """Azurite's blob service on a free port, its data in ``directory``."""

    def __init__(self, directory: Path, binary: str) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        command = [
            binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(directory),
            "--skipApiVersionCheck", "--silent",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def close(self) -> None:
        stop_process(self.process)
