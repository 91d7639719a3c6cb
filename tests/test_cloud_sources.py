"""s3:// hrefs read through GDAL's /vsis3/ with the operator's profiles (OAM_PREVIEW_SOURCES),
against moto's S3 server on loopback with IAM on: two buckets under two identities, one of them
requester-pays behind a front that refuses unpaid requests as S3 does; keys rotated for real."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from oam_preview import create_app
from oam_preview.catalog.sources import load_document
from oam_preview.config import Settings
from oam_preview.remote.cloud import parse
from oam_preview.remote.cloud_routes import CloudRoutes
from oam_preview.remote.profiles import Sources

from .support.cloud_stores import MotoS3, RequesterPaysFront, Transcript
from .support.geotiffs import write_cog
from .support.loopback import LOOPBACK_ALLOW
from .support.system import need_module

OBJECTS = {"a": "alpha/img/a.tif", "b": "bravo/img/b.tif", "c": "alpha/img/c.tif", "d": "alpha/img/d.tif"}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Any:
    need_module("moto")
    directory = tmp_path_factory.mktemp("moto")
    cog = write_cog(directory / "a.tif", 1024, 1024).read_bytes()
    moto = MotoS3(directory)
    for path in OBJECTS.values():
        bucket, key = path.split("/", 1)
        moto.put("bob" if bucket == "bravo" else "alice", bucket, key, cog)
    front = RequesterPaysFront(moto.port, {"bravo"})
    yield moto, front
    front.close()
    moto.close()


def profile_file(
    path: Path, front: RequesterPaysFront, keys: dict[str, tuple[str, str]], paying: bool = True
) -> str:
    """A profile file: alice's keys for bucket alpha, bob's for bravo's img/ prefix."""
    path.write_text(
        ('requester_pays = ["bravo"]\n' if paying else "")
        + f"""
[profiles.alice-profile]
prefixes = ["s3://alpha"]
endpoint = "{front.url}"
access_key_id = "{keys["alice"][0]}"
secret_access_key = "{keys["alice"][1]}"

[profiles.bob-profile]
prefixes = ["s3://bravo/img/"]
endpoint = "{front.url}"
access_key_id = "{keys["bob"][0]}"
secret_access_key = "{keys["bob"][1]}"
"""
    )
    return str(path)


def cloud_app(sources: str, allow: str = LOOPBACK_ALLOW, **config: Any) -> Any:
    features = [
        {"type": "Feature", "id": image_id, "geometry": None, "properties": {"source_url": f"s3://{path}"}}
        for image_id, path in OBJECTS.items()
    ]
    catalog = load_document({"type": "FeatureCollection", "features": features})
    settings = {
        "OAM_PREVIEW_UPSTREAM_ALLOW": allow,
        "OAM_PREVIEW_SOURCES": sources,
        "OAM_PREVIEW_BASEMAP_URL": "",
    }
    return create_app({**settings, **config}, catalog=catalog)


#: Every response body and header of this module's tests, for the no-secret grep at the end.
SEEN = Transcript()
get = SEEN.get


def test_profiles_are_checked_and_keep_their_secrets(tmp_path):
    text = """
requester_pays = ["paid"]
[profiles.p]
prefixes = ["s3://paid", "s3://free/imagery/"]
access_key_id = "AKIDEXAMPLE"
secret_access_key = "very-secret"
[profiles.q]
prefixes = "s3://free/imagery/2024/"
anonymous = true
"""
    (tmp_path / "s.toml").write_text(text)
    sources = Sources.load(str(tmp_path / "s.toml"))
    assert "very-secret" not in repr(sources) and "AKIDEXAMPLE" not in repr(sources)
    # The longest prefix wins; a bucket outside every prefix has no profile.
    assert sources.profile_for(parse("s3://free/imagery/2024/x.tif")).name == "q"
    assert sources.profile_for(parse("s3://free/imagery/2023/x.tif")).name == "p"
    assert sources.profile_for(parse("s3://free/other/x.tif")) is None
    options = dict(sources.path_options())
    # Requester-pays only on the listed bucket, explicitly off elsewhere (not the environment's).
    assert options["/vsis3/paid/"]["AWS_REQUEST_PAYER"] == "requester"
    assert options["/vsis3/free/imagery/"]["AWS_REQUEST_PAYER"] == ""
    assert options["/vsis3/free/imagery/2024/"]["AWS_NO_SIGN_REQUEST"] == "YES"
    assert sources.redact("key very-secret of AKIDEXAMPLE") == "key [secret] of [secret]"
    for bad, says in (
        ('requester_pays = ["nobody"]', "has no s3 profile"),
        ("[profiles.x]\nprefixes = ['http://x/']", "not an s3://"),
        ("[profiles.x]\nprefixes = ['s3://aaa', 'gs://bbb']", "one scheme"),
        ("[profiles.x]\nprefixes = ['s3://aaa']\nsas = 'x'", "not s3 profile keys"),
        ("[profiles.x]\nprefixes = ['az://aaa']", "account"),
        ("[profiles.x]\nprefixes = ['s3://aaa']\nendpoint = '127.0.0.1:9000'", "http(s) URL"),
    ):
        (tmp_path / "bad.toml").write_text(bad)
        with pytest.raises(ValueError, match="OAM_PREVIEW_SOURCES") as raised:
            Sources.load(str(tmp_path / "bad.toml"))
        assert says in str(raised.value)


def test_unprofiled_objects_are_read_from_their_public_urls():
    routes = CloudRoutes("")
    assert routes.route("s3://oin-hotosm/a/b.tif") == "https://oin-hotosm.s3.amazonaws.com/a/b.tif"
    assert routes.route("gs://bucket/k.tif") == "https://storage.googleapis.com/bucket/k.tif"
    assert routes.route("az://container/k.tif") == "az://container/k.tif"  # refused: no account
    app = create_app(
        {"OAM_PREVIEW_BASEMAP_URL": ""},
        catalog=load_document(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "id": "z", "properties": {"source_url": "az://box/k.tif"}}],
            }
        ),
    )
    response = app.test_client().get("/api/images/z/thumbnail.png")
    assert response.status_code == 403 and response.json["error"]["code"] == "upstream_forbidden"


def test_two_buckets_two_identities_one_process(stores, tmp_path):
    moto, front = stores
    client = cloud_app(profile_file(tmp_path / "sources.toml", front, moto.keys)).test_client()
    before_alpha = front.requests.get("alpha", 0)
    for image_id in ("a", "b"):
        response = get(client, f"/api/images/{image_id}/thumbnail.png")
        assert response.status_code == 200, response.data
        feature = get(client, f"/api/images/{image_id}").json
        assert "?v=" in feature["properties"]["tiles"]  # the version token, from the object's ETag
    # bob's bucket is requester-pays and listed: every request to it said so; alice's never did.
    assert front.requests["bravo"] > 0 and front.seen["bravo"] == front.requests["bravo"]
    assert front.requests["alpha"] > before_alpha and front.seen.get("alpha", 0) == 0


def test_requester_pays_only_for_the_buckets_listed(stores, tmp_path):
    moto, front = stores
    sources = profile_file(tmp_path / "sources.toml", front, moto.keys, paying=False)
    client = cloud_app(sources).test_client()
    paid_before = front.seen.get("bravo", 0)
    response = get(client, "/api/images/b/thumbnail.png")
    assert response.status_code == 502
    assert "source profile 'bob-profile' (Requester pays)" in response.json["error"]["message"]
    assert front.seen.get("bravo", 0) == paid_before  # never billed to the reader unasked


def test_a_private_endpoint_is_read_only_when_allowed(stores, tmp_path):
    moto, front = stores
    client = cloud_app(profile_file(tmp_path / "sources.toml", front, moto.keys), allow="").test_client()
    before = dict(front.requests)
    response = get(client, "/api/images/a/thumbnail.png")
    assert response.status_code == 403 and response.json["error"]["code"] == "upstream_forbidden"
    assert "127.0.0.1" in response.json["error"]["message"]  # the entry that would allow it
    assert front.requests == before  # nothing was sent


def test_an_identity_without_access_is_a_plain_403(stores, tmp_path):
    moto, front = stores
    keys = {"alice": moto.keys["bob"], "bob": moto.keys["bob"]}  # bob's keys on alice's bucket
    client = cloud_app(profile_file(tmp_path / "sources.toml", front, keys)).test_client()
    response = get(client, "/api/images/a/thumbnail.png")
    assert response.status_code == 502
    assert "source profile 'alice-profile' (Access Denied)" in response.json["error"]["message"]


def test_a_changed_object_gets_a_new_version_token(stores, tmp_path):
    moto, front = stores
    app = cloud_app(
        profile_file(tmp_path / "sources.toml", front, moto.keys), OAM_PREVIEW_UPSTREAM_RECHECK=0.05
    )
    client = app.test_client()
    first = get(client, "/api/images/d").json["properties"]["tiles"]
    moto.put("alice", "alpha", "img/d.tif", write_cog(tmp_path / "d.tif", 512, 512, seed=3).read_bytes())
    time.sleep(0.2)  # past the recheck interval: the next use asks the store again
    assert get(client, "/api/images/d/thumbnail.png").status_code == 200
    assert get(client, "/api/images/d").json["properties"]["tiles"] != first


def test_rotated_keys_reopen_once_then_502_naming_the_profile(stores, tmp_path, caplog):
    moto, front = stores
    caplog.set_level(logging.DEBUG)
    sources = tmp_path / "sources.toml"
    client = cloud_app(profile_file(sources, front, moto.keys)).test_client()
    assert get(client, "/api/images/a/thumbnail.png").status_code == 200
    # The operator rotates the key and writes the new one into the file: the next read that the
    # store refuses loads it and succeeds, without a restart.
    moto.rotate("alice")
    profile_file(sources, front, moto.keys)
    response = get(client, "/api/images/c/thumbnail.png")
    assert response.status_code == 200, response.data
    # Rotated again, the file left as it was: one reload, then the 502 naming the profile.
    moto.rotate("alice")
    response = get(client, "/api/images/d/thumbnail.png?max_size=64")
    assert response.status_code == 502
    message = response.json["error"]["message"]
    assert "refused source profile 'alice-profile'" in message
    # The server's log lines (GDAL's through rasterio's); the test's own boto3 client logs its keys.
    SEEN.texts.extend(
        r.getMessage() for r in caplog.records if not r.name.startswith(("botocore", "boto3", "urllib3"))
    )
    for path in ("/healthz", "/metrics"):
        SEEN.texts.append(get(client, path).get_data(as_text=True))
    # No secret in any response, header, log line, /healthz or /metrics of this module's tests.
    everything = "\n".join(SEEN.texts)
    for secret in moto.secrets() + [moto.keys["alice"][1]]:
        assert secret not in everything
    assert "very-secret" not in everything


def test_a_named_aws_profile(stores, tmp_path):
    """A profile naming a profile of an AWS credentials file (GDAL reads the file itself)."""
    moto, front = stores
    alice_id, alice_secret = moto.keys["alice"]
    (tmp_path / "credentials").write_text(
        f"[imagery]\naws_access_key_id = {alice_id}\naws_secret_access_key = {alice_secret}\n"
    )
    (tmp_path / "sources.toml").write_text(
        f"""
[profiles.named]
prefixes = ["s3://alpha"]
endpoint = "{front.url}"
aws_profile = "imagery"
credentials_file = "{tmp_path / "credentials"}"
config_file = "{tmp_path / "config"}"
"""
    )
    client = cloud_app(str(tmp_path / "sources.toml")).test_client()
    response = get(client, "/api/images/a/thumbnail.png?max_size=64")
    assert response.status_code == 200, response.data


def test_settings_carry_the_sources_file():
    assert (
        Settings.from_mapping({"OAM_PREVIEW_SOURCES": "/etc/oam/sources.toml"}).sources
        == "/etc/oam/sources.toml"
    )
