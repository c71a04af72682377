"""Shared fixtures: tiny real-class models built in a temp dir, small photo catalogs."""

from __future__ import annotations

import colorsys
import csv
import os
from pathlib import Path

import pytest
from PIL import Image

# Tests never reach a model hub: anything not built in a temp dir must fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "catalog-dev"

CAPTIONS = [
    "Peter England 男士紫色正装衬衫",
    "ASICS运动鞋 男士款 白色 运动风格",
    "Levis 男士黑色休闲三角内裤",
    "女士连衣裙 Vero Moda 红色 休闲",
    "Wills Lifestyle衬衫 男士款 黑色 休闲风格",
    "Nike 女士蓝色运动T恤",
    "Titan 男士银色正装手表",
    "Baggit女士手提包 棕色 休闲风格",
]


def photo(
    color: tuple[int, int, int], size: tuple[int, int] = (48, 40), seed: int = 0
) -> Image.Image:
    """A small photo-like image: a colour field with a darker block whose place depends on seed."""
    img = Image.new("RGB", size, color)
    w, h = size
    x0, y0 = (seed * 7) % (w // 2), (seed * 5) % (h // 2)
    block = Image.new("RGB", (w // 3, h // 3), tuple(c // 3 for c in color))
    img.paste(block, (x0, y0))
    return img


def make_catalog(
    root: Path, n: int = 12, captioned: int | None = None, sub: bool = True
) -> tuple[Path, Path]:
    """Write ``n`` JPEG photos (some in a subfolder) and a caption CSV for the first ``captioned``."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    captioned = n if captioned is None else captioned
    rows = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb((i * 0.137) % 1.0, 0.8, 0.9)
        rel = f"sub/{1000 + i}.jpg" if sub and i % 4 == 3 else f"{1000 + i}.jpg"
        path = images / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        photo((int(r * 255), int(g * 255), int(b * 255)), seed=i).save(path, quality=92)
        if i < captioned:
            rows.append((rel, CAPTIONS[i % len(CAPTIONS)] + f" {i}号"))
    csv_path = root / "train_annotation.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "text"])
        w.writerows(rows)
    return images, csv_path


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Exported int8 towers go to a temp cache, never the user's ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A 2-layer Chinese-CLIP with a character vocabulary, saved with save_pretrained."""
    from tests.tiny_models import tiny_chinese_clip

    return tiny_chinese_clip(tmp_path_factory.mktemp("tiny-clip"), CAPTIONS)


@pytest.fixture(scope="session")
def tiny_encoder(tiny_clip_dir):
    from ingest.models.clip import ClipEncoder

    return ClipEncoder.from_pretrained(tiny_clip_dir, dtype="float32")


@pytest.fixture(scope="session")
def catalog_dev() -> Path:
    if not (SHARED_DATA / "train_annotation.csv").exists():
        pytest.skip(f"real catalog not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    """A 2-layer LLaVA chat model with its processor and chat template, saved."""
    from tests.tiny_models import tiny_llava

    return tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory) -> Path:
    """A BLIP captioning model with its processor, saved."""
    from tests.tiny_models import tiny_blip

    return tiny_blip(tmp_path_factory.mktemp("tiny-blip"))


@pytest.fixture(scope="session")
def catalog_photos() -> list[Image.Image]:
    """Three real catalog photos when the shared catalog is there, else generated ones."""
    files = sorted((SHARED_DATA / "images").glob("*.jpg"))[:3]
    if len(files) == 3:
        out = []
        for f in files:
            with Image.open(f) as im:
                out.append(im.convert("RGB"))
        return out
    return [
        photo(c, size=(120, 90), seed=i)
        for i, c in enumerate(((200, 30, 30), (30, 40, 200), (30, 190, 60)))
    ]
