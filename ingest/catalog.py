"""The catalog: a folder of product photos joined with a caption CSV (``image,text``)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.images import is_image_name

IMAGE_COLUMNS = ("image", "image_name", "img", "file", "filename", "image_id", "path")
TEXT_COLUMNS = ("text", "caption", "title", "description", "desc")


class CatalogError(ValueError):
    """The caption file or image folder cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class CatalogItem:
    """One photo of the catalog.

    Attributes:
        rel: Path relative to the image folder, with ``/`` separators (the point's key).
        path: Absolute path of the file.
        caption: Its caption, or ``None`` when the CSV has none for it.
    """

    rel: str
    path: Path
    caption: str | None


@dataclass
class CaptionRow:
    line: int
    image: str
    text: str


@dataclass
class Catalog:
    """The joined catalog plus what the join had to say about the CSV."""

    root: Path
    items: list[CatalogItem]
    captions_file: Path | None = None
    encoding: str | None = None
    missing_images: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[str, list[int]]] = field(default_factory=list)

    @property
    def captioned(self) -> int:
        return sum(1 for it in self.items if it.caption)

    def warnings(self) -> list[str]:
        """Human-readable notes about the caption file (missing photos, duplicate rows)."""
        out = []
        name = self.captions_file.name if self.captions_file else "captions"
        for line, image in self.missing_images:
            out.append(f"{name}:{line}: caption for {image!r} but no such photo in {self.root}")
        for image, lines in self.duplicates:
            where = ", ".join(str(n) for n in lines)
            out.append(f"{name}: {image!r} appears on lines {where}; the last one is used")
        return out


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """Decode a caption file as UTF-8 (with or without BOM) or GB18030/GBK.

    Returns:
        The text and the encoding name used.

    Raises:
        CatalogError: naming the file and the first line that decodes in neither.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        try:
            return data.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    utf8_ok = sum(1 for ln in lines if not ln.isascii() and _decodes(ln, "utf-8"))
    gb_ok = sum(1 for ln in lines if not ln.isascii() and _decodes(ln, "gb18030"))
    enc = "utf-8" if utf8_ok >= gb_ok else "gb18030"
    for number, ln in enumerate(lines, 1):
        if not _decodes(ln, enc):
            raise CatalogError(
                f"{path}:{number}: cannot decode this line as {enc} (the rest of the file is "
                f"{enc}); fix or remove the line and save the file as UTF-8"
            )
    raise CatalogError(f"{path}: cannot decode as UTF-8 or GB18030")  # pragma: no cover


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def read_captions(path: Path) -> tuple[list[CaptionRow], str]:
    """Read ``image,text`` rows (header aliases accepted) from a caption CSV.

    Returns:
        The rows in file order and the encoding detected.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CatalogError(f"{path}: cannot read caption file: {e.strerror or e}") from e
    text, encoding = decode_text(data, path)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[CaptionRow] = []
    header = next(reader, None)
    if header is None:
        return rows, encoding
    names = [h.strip().lower() for h in header]
    img_col = _find_column(names, IMAGE_COLUMNS)
    txt_col = _find_column(names, TEXT_COLUMNS)
    if img_col is None or txt_col is None:
        if len(header) >= 2 and is_image_name(header[0].strip()):
            img_col, txt_col = 0, 1  # no header row: first column image, second text
            rows.append(CaptionRow(1, header[0].strip(), header[1].strip()))
        else:
            raise CatalogError(
                f"{path}:1: header {header!r} has no image column ({', '.join(IMAGE_COLUMNS)}) "
                f"or no text column ({', '.join(TEXT_COLUMNS)})"
            )
    for record in reader:
        line = reader.line_num
        if not record or all(not c.strip() for c in record):
            continue
        if len(record) <= max(img_col, txt_col):
            image = record[img_col].strip() if len(record) > img_col else ""
            if not image:
                raise CatalogError(f"{path}:{line}: expected {len(header)} fields, got {record!r}")
            rows.append(CaptionRow(line, image, ""))
            continue
        rows.append(CaptionRow(line, record[img_col].strip(), record[txt_col].strip()))
    return rows, encoding


def _find_column(names: list[str], aliases: Iterable[str]) -> int | None:
    for alias in aliases:
        if alias in names:
            return names.index(alias)
    return None


def walk_images(root: Path) -> list[str]:
    """Relative ``/``-separated paths of every allow-listed image under ``root``, sorted."""
    if not root.is_dir():
        raise CatalogError(f"{root}: image folder does not exist or is not a directory")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not is_image_name(name):
                continue
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def load_catalog(images_dir: str | Path, captions: str | Path | None = None) -> Catalog:
    """Join the photos under ``images_dir`` with the captions of ``captions``.

    Photos without a caption are kept (image vector only). A caption whose photo is not
    in the folder is reported in :attr:`Catalog.missing_images`; duplicate rows are reported
    in :attr:`Catalog.duplicates` and the last row wins. CSV names match a photo by relative
    path first, then by file name when that name is unique in the folder.
    """
    root = Path(images_dir).resolve()
    files = walk_images(root)
    by_name: dict[str, list[str]] = {}
    for rel in files:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    file_set = set(files)
    caption_of: dict[str, str] = {}
    seen_lines: dict[str, list[int]] = {}
    catalog = Catalog(root=root, items=[])
    if captions is not None:
        cpath = Path(captions)
        rows, catalog.encoding = read_captions(cpath)
        catalog.captions_file = cpath
        for row in rows:
            key = row.image.replace("\\", "/").removeprefix("./")
            if key not in file_set:
                candidates = by_name.get(key.rsplit("/", 1)[-1], [])
                key = candidates[0] if len(candidates) == 1 else ""
            if not key:
                catalog.missing_images.append((row.line, row.image))
                continue
            seen_lines.setdefault(key, []).append(row.line)
            caption_of[key] = row.text
        catalog.duplicates = [(k, v) for k, v in seen_lines.items() if len(v) > 1]
    catalog.items = [CatalogItem(rel, root / rel, caption_of.get(rel) or None) for rel in files]
    return catalog
