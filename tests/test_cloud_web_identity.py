"""An S3 profile with an IAM role taken by web identity (``role_arn`` + ``web_identity_token_file``:
GDAL's ``AssumeRoleWithWebIdentity``), end to end against moto's STS and S3 with IAM on: GDAL
exchanges the token for session credentials at the profile's ``sts_endpoint`` and reads the bucket
with them; session credentials the store calls expired are replaced by fresh ones once, then the
502 naming the profile. The profile is docs/deploy.md's own (its file, its role ARN), with the
token file and the two loopback endpoints put in."""

from __future__ import annotations

import io
import json
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
import rasterio.errors
from PIL import Image
from rasterio.env import get_gdal_config, set_gdal_config

from oam_preview import create_app
from oam_preview.catalog.sources import load_document
from oam_preview.remote import cloud_routes
from oam_preview.remote.cloud_routes import CloudRoutes
from oam_preview.remote.gdal_safety import forget_process_credentials, set_path_options
from oam_preview.remote.profiles import Sources

from .support.cloud_stores import MotoS3, Transcript
from .support.geotiffs import centre, geographic_bounds, write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.processes import free_port
from .support.system import need_module
from .support.web_identity import StsFront

DEPLOY_DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
#: Where docs/deploy.md's profile reads its token (EKS's projected service-account token).
DOC_TOKEN_FILE = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
#: A web identity token (an OIDC JWT in real life: a secret, as a key is).
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvYW0tcHJldmlldyJ9.web-identity-signature"
BUCKET = "partner-archive"
#: A second role, reading a second bucket only.
OTHER_ROLE, OTHER_BUCKET = "arn:aws:iam::123456789012:role/other-reader", "other-archive"
IMAGES = ("w1", "w2", "w3", "w4")
ZOOM = 19  # a tile well inside the 300 m COG: every pixel its own


def deploy_doc_sources() -> str:
    """The TOML file of docs/deploy.md ("A real file for three stores"), as written there."""
    text = DEPLOY_DOC.read_text()
    block = re.search(r"```toml\n(# /etc/oam-preview/sources\.toml\n.*?)```", text, re.S)
    assert block, "docs/deploy.md has no sources.toml block"
    return block.group(1)


def bucket_policy(bucket: str) -> str:
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """moto with docs/deploy.md's role (read access to its bucket only) and a second role (to a
    second bucket only), COGs in both buckets, the STS front, and docs/deploy.md's file pointed at
    them: ``(moto, front, the file, the COG, the token file)``."""
    need_module("moto")
    directory = tmp_path_factory.mktemp("sts")
    profile = tomllib.loads(deploy_doc_sources())["profiles"]["aws-role"]
    moto = MotoS3(directory)
    iam = moto.client("iam", moto.keys["admin"])
    iam.put_user_policy(UserName="admin", PolicyName="upload", PolicyDocument=bucket_policy(BUCKET))
    iam.put_user_policy(UserName="admin", PolicyName="other", PolicyDocument=bucket_policy(OTHER_BUCKET))
    trust = {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.example"},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    for arn, bucket in ((profile["role_arn"], BUCKET), (OTHER_ROLE, OTHER_BUCKET)):
        role_name = arn.rsplit("/", 1)[-1]
        made = iam.create_role(
            RoleName=role_name,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        )
        assert made["Role"]["Arn"] == arn  # moto's account is the docs' 123456789012
        iam.put_role_policy(RoleName=role_name, PolicyName="read", PolicyDocument=bucket_policy(bucket))
    cog = write_cog(directory / "a.tif", 512, 512)
    for image_id in IMAGES:
        moto.put("admin", BUCKET, f"img/{image_id}.tif", cog.read_bytes())
    moto.put("admin", OTHER_BUCKET, "img/o.tif", cog.read_bytes())
    front = StsFront(moto.port)
    token = directory / "token"
    token.write_text(WEB_IDENTITY_TOKEN + "\n")
    sources = directory / "sources.toml"
    text = deploy_doc_sources().replace(DOC_TOKEN_FILE, str(token))
    loopback = f'endpoint = "{front.url}"\nsts_endpoint = "{front.url}"\n'
    for name in ("aws-role", "ngo-embargoed"):  # the docs' two profiles of the role
        text = text.replace(f"[profiles.{name}]\n", f"[profiles.{name}]\n{loopback}")
    sources.write_text(text)
    yield moto, front, str(sources), cog, token
    forget_process_credentials()  # GDAL's process-wide session credentials: not for later tests
    front.close()
    moto.close()


def role_app(sources: str, cog: Path, **config: Any) -> Any:
    """An app of the four images of the bucket, each with its footprint (no header is read in the
    background: every read of a test is its own, so the requests to STS and S3 can be counted)."""
    w, south, e, n = geographic_bounds(cog)
    ring = [[w, south], [e, south], [e, n], [w, n], [w, south]]
    features = [
        {
            "type": "Feature",
            "id": i,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"source_url": f"s3://{BUCKET}/img/{i}.tif"},
        }
        for i in IMAGES
    ]
    catalog = load_document({"type": "FeatureCollection", "features": features})
    settings = {"OAM_PREVIEW_UPSTREAM_ALLOW": LOOPBACK_ALLOW, "OAM_PREVIEW_SOURCES": sources}
    return create_app({**settings, "OAM_PREVIEW_BASEMAP_URL": "", **config}, catalog=catalog)


#: Every response body and header of this module's tests, for the no-secret grep at the end.
SEEN = Transcript()
get = SEEN.get


def test_the_docs_role_profile_is_the_one_tested_and_gdal_sees_its_options(stores):
    _, front, sources, _, _ = stores
    doc = tomllib.loads(deploy_doc_sources())["profiles"]["aws-role"]
    tested = Sources.load(sources).profiles
    role = next(p for p in tested if p.name == "aws-role")
    # The docs' keys and values, plus only the two loopback endpoints.
    assert {k: v for k, v in role.settings.items() if k not in ("endpoint", "sts_endpoint")} == {
        **doc,
        "web_identity_token_file": role.settings["web_identity_token_file"],
    }
    options = dict(Sources.load(sources).path_options())[f"/vsis3/{BUCKET}"]
    assert options["AWS_ROLE_ARN"] == doc["role_arn"]
    assert options["CPL_AWS_STS_ROOT_URL"] == front.url
    assert options["AWS_ACCESS_KEY_ID"] == options["AWS_SECRET_ACCESS_KEY"] == ""
    # The server user's ~/.aws files would come before the role in GDAL's chain: none is read.
    assert options["CPL_AWS_CREDENTIALS_FILE"] == options["AWS_CONFIG_FILE"] == ""
    assert role.process_credentials


def test_a_tile_is_read_with_session_credentials_from_sts(stores):
    moto, front, sources, cog, _ = stores
    forget_process_credentials()  # whatever GDAL holds from earlier tests of the session
    before, carried = len(front.assumed), dict(front.carried)
    client = role_app(sources, cog).test_client()
    x, y, z = morecantile.tms.get("WebMercatorQuad").tile(*centre(cog), ZOOM)
    response = get(client, f"/api/images/w1/tiles/{z}/{x}/{y}.png")
    assert response.status_code == 200, response.data
    pixels = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGBA"))
    assert pixels[..., 3].min() == 255 and pixels[..., :3].std() > 10  # the COG's texture, opaque
    # GDAL asked the profile's STS once (the app's reads and the tile's; GDAL holds its lock while
    # it asks, so concurrent reads wait for that one answer), with the docs' role and token...
    assert len(front.assumed) == before + 1
    asked = front.assumed[-1]
    assert asked["RoleArn"] == "arn:aws:iam::123456789012:role/oam-preview-reader"
    assert asked["WebIdentityToken"] == WEB_IDENTITY_TOKEN
    assert asked["RoleSessionName"] == "gdal"  # GDAL 3.10 names every web-identity session so
    # ...and signed every S3 request with the session token moto issued, which moto's S3 checked.
    signed = {token for token, n in front.carried.items() if n > carried.get(token, 0)}
    assert signed == {front.issued[-1]["SessionToken"]}


def test_expired_session_credentials_are_renewed_once_then_502_naming_the_profile(
    stores, monkeypatch, caplog
):
    moto, front, sources, cog, _ = stores
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(cloud_routes, "RELOAD_INTERVAL", 0.0)  # each refusal may reload: counted below
    client = role_app(sources, cog).test_client()
    assert get(client, "/api/images/w2/thumbnail.png?max_size=64").status_code == 200
    # The store now calls every session token issued so far expired (GDAL would keep sending its
    # own for an hour, its Expiration): the refusal makes the server drop it; GDAL asks STS once
    # more and the read succeeds with the fresh credentials.
    front.expire_issued()
    assumed, refused = len(front.assumed), front.refused
    response = get(client, "/api/images/w3/thumbnail.png?max_size=64")
    assert response.status_code == 200, response.data
    assert front.refused > refused and len(front.assumed) == assumed + 1
    # Every token expired, fresh ones too: one renewal, then the 502 naming the profile.
    front.expire_every_token = True
    try:
        assumed = len(front.assumed)
        response = get(client, "/api/images/w4/thumbnail.png?max_size=64")
        assert response.status_code == 502
        assert "refused source profile 'aws-role'" in response.json["error"]["message"]
        assert len(front.assumed) == assumed + 1
    finally:
        front.expire_every_token = False
    # No secret in any response, header, log line, /healthz or /metrics of this module: not the
    # web identity token, nor a session's secret key or token, nor moto's users' keys.
    SEEN.texts.extend(
        r.getMessage() for r in caplog.records if not r.name.startswith(("botocore", "boto3", "urllib3"))
    )
    for path in ("/healthz", "/metrics"):
        SEEN.texts.append(get(client, path).get_data(as_text=True))
    everything = "\n".join(SEEN.texts)
    for secret in [WEB_IDENTITY_TOKEN, *front.secrets(), *moto.secrets()]:
        assert secret not in everything


def test_gdal_renews_session_credentials_about_to_expire_by_itself(stores):
    """Credentials moto issues for 60 s are within GDAL's minute of margin from the start: GDAL
    asks STS again before each request it signs, open handles included (no reload is needed for
    an expiry GDAL can see; the refusals above are for the ones it cannot)."""
    _, front, sources, cog, _ = stores
    forget_process_credentials()
    front.duration_seconds = 60
    try:
        issued, carried = len(front.issued), dict(front.carried)
        client = role_app(sources, cog).test_client()
        assert get(client, "/api/images/w1/thumbnail.png?max_size=64").status_code == 200
        fresh = {c["SessionToken"] for c in front.issued[issued:]}
        signed = {token for token, n in front.carried.items() if n > carried.get(token, 0)}
        # The S3 requests of one read were signed with two or more sessions, each just issued.
        assert signed <= fresh and len(signed) >= 2
    finally:
        front.duration_seconds = 0
        forget_process_credentials()


def test_gdal_debug_messages_are_turned_off_as_they_would_print_the_token(stores, capfd, caplog):
    """GDAL's ``HTTP: Fetch(…&WebIdentityToken=…)`` debug line goes to stderr past every handler
    of the server's (GDAL quiets its STS request's errors, not its debug messages)."""
    _, _, sources, cog, _ = stores
    forget_process_credentials()  # GDAL asks STS during this test
    set_gdal_config("CPL_DEBUG", "ON")
    capfd.readouterr()
    client = role_app(sources, cog).test_client()
    assert get(client, "/api/images/w2/thumbnail.png?max_size=64").status_code == 200
    printed = capfd.readouterr()
    assert WEB_IDENTITY_TOKEN not in printed.out + printed.err
    assert get_gdal_config("CPL_DEBUG") is False  # OFF
    assert any("CPL_DEBUG turned off" in r.getMessage() for r in caplog.records)


def role_profile(name: str, bucket: str, role_arn: str, front: StsFront, token: Path, sts: str = "") -> str:
    return f"""
[profiles.{name}]
prefixes = ["s3://{bucket}"]
role_arn = "{role_arn}"
web_identity_token_file = "{token}"
endpoint = "{front.url}"
sts_endpoint = "{sts or front.url}"
"""


def test_gdal_keeps_one_roles_credentials_per_process_so_a_file_names_one_role(stores):
    _, front, sources, _, token = stores
    ours = tomllib.loads(deploy_doc_sources())["profiles"]["aws-role"]["role_arn"]
    one = Sources.parse(tomllib.loads(role_profile("ours", BUCKET, ours, front, token)))
    other = Sources.parse(tomllib.loads(role_profile("other", OTHER_BUCKET, OTHER_ROLE, front, token)))
    with pytest.raises(ValueError, match="one role per server") as raised:
        Sources.parse(
            tomllib.loads(
                role_profile("ours", BUCKET, ours, front, token)
                + role_profile("other", OTHER_BUCKET, OTHER_ROLE, front, token)
            )
        )
    assert "['other', 'ours']" in str(raised.value)
    # Why, with GDAL itself: both roles set on their buckets, the first role's credentials read
    # the second role's bucket, and STS is never asked for the second role.
    forget_process_credentials()
    set_path_options(Sources(one.profiles + other.profiles).path_options())
    try:
        with rasterio.open(f"/vsis3/{BUCKET}/img/w1.tif") as dataset:
            assert dataset.width == 512
        asked = len(front.assumed)
        with pytest.raises(rasterio.errors.RasterioIOError, match="Access Denied"):
            rasterio.open(f"/vsis3/{OTHER_BUCKET}/img/o.tif")
        assert len(front.assumed) == asked and front.assumed[-1]["RoleArn"] == ours
    finally:
        set_path_options([])
        forget_process_credentials()


def test_an_sts_that_does_not_answer_is_a_502_naming_the_profile(stores, tmp_path, caplog):
    _, front, _, cog, token = stores
    caplog.set_level(logging.DEBUG)
    forget_process_credentials()
    ours = tomllib.loads(deploy_doc_sources())["profiles"]["aws-role"]["role_arn"]
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: no credentials from it
    (tmp_path / "sources.toml").write_text(role_profile("aws-role", BUCKET, ours, front, token, sts=closed))
    client = role_app(str(tmp_path / "sources.toml"), cog).test_client()
    carried = sum(front.carried.values())
    response = get(client, "/api/images/w1/thumbnail.png?max_size=64")
    assert response.status_code == 502
    assert "refused source profile 'aws-role'" in response.json["error"]["message"]
    assert sum(front.carried.values()) == carried  # nothing signed with any session reached S3
    SEEN.texts.extend(
        r.getMessage() for r in caplog.records if not r.name.startswith(("botocore", "boto3", "urllib3"))
    )
    assert WEB_IDENTITY_TOKEN not in "\n".join(SEEN.texts)


def test_an_s3_stores_bare_400_is_a_refusal_of_the_profile(stores):
    """S3 answers a HEAD signed with an expired session token 400 without a body, and GDAL then
    says only this (seen when a background header read met the expiry first): a refusal too."""
    _, _, sources, _, _ = stores
    routes = CloudRoutes(sources)
    url = f"s3://{BUCKET}/img/w1.tif"
    refused = routes.refused(url, rasterio.errors.RasterioIOError("HTTP response code: 400"))
    assert refused is not None and "refused source profile 'aws-role'" in refused.message
    assert routes.refused(url, rasterio.errors.RasterioIOError("HTTP response code: 404")) is None
