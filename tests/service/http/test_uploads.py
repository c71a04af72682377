"""Upload checks, and the one list of image extensions that catalogs, uploads and citations share."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.images import IMAGE_EXTENSIONS, is_image_name
from service.answering.citations import extract_citations
from service.http.uploads import UploadRejected, check_photo, safe_name


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("ext", IMAGE_EXTENSIONS)
def test_every_image_extension_is_a_catalog_name_an_upload_and_a_citation(ext):
    name = f"sub/p1.{ext.upper()}"
    assert is_image_name(name)
    assert check_photo(name, png_bytes(), max_pixels=1_000).size == (8, 6)
    assert extract_citations(f"答案见 [{name}]。") == [name]


@pytest.mark.parametrize("name", ["scan.tif", "scan.tiff", "notes.txt"])
def test_other_extensions_are_neither_uploads_nor_citations(name):
    with pytest.raises(UploadRejected) as e:
        check_photo(name, png_bytes(), max_pixels=1_000)
    assert e.value.status == 415 and name in str(e.value)
    assert all(ext in str(e.value) for ext in IMAGE_EXTENSIONS)
    assert extract_citations(f"答案见 [{name}]。") == []


@pytest.mark.parametrize("name", ["", "/etc/passwd", "a/../b.jpg", ".hidden.jpg", "a\\b.jpg"])
def test_unsafe_names_are_400_naming_the_field(name):
    with pytest.raises(UploadRejected) as e:
        safe_name(name, "images")
    assert e.value.status == 400 and str(e.value).startswith("images: ")
