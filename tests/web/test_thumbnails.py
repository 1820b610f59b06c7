"""Thumbnails decode stored blobs again: a corrupt or hostile blob is a 422, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import add_image, new_project
from tests.fuzz import nasty_images
from tests.server.asgi_client import ASGIClient
from winnow.platform.schema import Image
from winnow.platform.service import Platform

BLOBS = {
    "garbage": (b"not an image at all", "unknown or unsupported image format"),
    "truncated-jpeg": (nasty_images.truncated_jpeg(), "truncated"),
    "idat-length-bomb": (nasty_images.png_idat_length_bomb(), "PNG chunk 'IDAT' declares"),
    "dds": (nasty_images.refused_format("DDS"), "unsupported image format 'DDS'"),
    "pixel-bomb": (nasty_images.png_bomb_header(), "too large"),
}


@pytest.mark.parametrize("name", list(BLOBS))
def test_a_stored_blob_that_does_not_decode_is_a_422_naming_the_image(
    signed_in: tuple[ASGIClient, Platform], name: str
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    image_id = add_image(platform, "cars")
    with platform.db.read() as session:
        key = session.scalars(select(Image.blob_key).where(Image.id == image_id)).one()
    data, expected = BLOBS[name]
    platform.blobs.put(key, data)
    response = client.get(f"/app/images/{image_id}/thumb")
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith(f"image {image_id} cannot be shown as a thumbnail: "), message
    assert expected in message, message
    # Nothing was cached under thumbs/: a repaired blob gets a thumbnail afterwards.
    platform.blobs.put(key, nasty_images.one_pixel_png())
    assert client.get(f"/app/images/{image_id}/thumb").status_code == 200
