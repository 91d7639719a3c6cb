"""Capture dates (JOSM's X-VE-TILEMETA-CaptureDatesRange) and providers on tiles."""

from __future__ import annotations

from datetime import UTC, datetime

from oam_preview.catalog import Image
from oam_preview.tiler.capture import capture_headers


def image(image_id: str, start: str | None, end: str | None, provider: str | None) -> Image:
    def when(s: str | None) -> datetime | None:
        return datetime.fromisoformat(s).replace(tzinfo=UTC) if s else None

    return Image(
        id=image_id, source_url=f"http://x/{image_id}.tif", acquisition_start=when(start),
        acquisition_end=when(end), provider=provider,
    )  # fmt: skip


def test_the_range_spans_every_image_that_gave_pixels():
    headers = dict(
        capture_headers(
            [
                image("a", "2023-02-06", "2023-02-08", "Maxar"),
                image("b", "2019-11-30", None, "Drone Nepal — Équipe"),
                image("c", None, None, "Maxar"),
            ]
        )
    )
    assert headers["X-VE-TILEMETA-CaptureDatesRange"] == "11/30/2019-2/8/2023"
    assert headers["X-OIN-Provider"] == "Maxar, Drone Nepal  Equipe"


def test_nothing_is_said_of_what_is_not_known():
    assert capture_headers([image("a", None, None, None)]) == ()


def test_a_single_image_tile_carries_its_capture_date_and_provider(client):
    r = client.get("/api/images/cogeo/tiles/18/224757/101422.png")
    assert r.status_code == 200
    assert r.headers["X-VE-TILEMETA-CaptureDatesRange"] == "1/1/2020-1/1/2020"
    assert r.headers["X-OIN-Provider"] == "tests"
    exposed = r.headers["Access-Control-Expose-Headers"]
    assert "X-VE-TILEMETA-CaptureDatesRange" in exposed and "X-OIN-Provider" in exposed
