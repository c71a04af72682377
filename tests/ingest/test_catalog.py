"""The catalog: caption CSV decoding (UTF-8/BOM/GB18030/GBK), header aliases, the photo join."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.catalog import (
    Catalog,
    CatalogError,
    decode_text,
    load_catalog,
    read_captions,
    walk_images,
)

ROWS = [
    ("1001.jpg", "Peter England 男士紫色正装衬衫"),
    ("1002.jpg", "ASICS运动鞋 男士款 白色 运动风格"),
    ("1003.jpg", "女士连衣裙, Vero Moda, 红色 休闲"),  # commas inside the caption: quoted
    ("1004.jpg", 'Nike 女士蓝色运动T恤 "经典款"'),  # quotes inside the caption: doubled
]


def csv_text(rows=ROWS, header: str = "image,text", newline: str = "\n") -> str:
    def q(s: str) -> str:
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"') else s

    lines = [header] + [f"{q(a)},{q(b)}" for a, b in rows]
    return newline.join(lines) + newline


def touch_images(root: Path, *rels: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"not decoded by the catalog")
    return root


def captions_of(cat: Catalog) -> dict[str, str | None]:
    return {it.rel: it.caption for it in cat.items}


# --- decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected_name"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("gb18030", b"", "gb18030"),
        ("gbk", b"", "gb18030"),
    ],
    ids=["utf8", "utf8-bom", "gb18030", "gbk"],
)
def test_same_captions_in_every_encoding_read_identically(
    tmp_path, encoding, prefix, expected_name
):
    path = tmp_path / "captions.csv"
    raw = prefix + csv_text(newline="\r\n").encode(encoding)
    path.write_bytes(raw)
    # the encodings really differ on disk (so the test would notice a wrong guess)
    if encoding != "utf-8":
        assert raw != csv_text(newline="\r\n").encode("utf-8")

    rows, enc = read_captions(path)

    assert enc == expected_name
    assert [(r.image, r.text) for r in rows] == ROWS
    assert [r.line for r in rows] == [2, 3, 4, 5]


def test_bom_does_not_leak_into_the_header(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "image,caption\nx.jpg,白色\n".encode())
    rows, enc = read_captions(path)
    assert enc == "utf-8-sig"
    assert [(r.image, r.text) for r in rows] == [("x.jpg", "白色")]


def test_decode_text_returns_text_and_encoding():
    text = "图片,说明\n男士紫色正装衬衫\n"
    assert decode_text(text.encode("utf-8"), Path("a.csv")) == (text, "utf-8")
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8"), Path("a.csv")) == (
        text,
        "utf-8-sig",
    )
    assert decode_text(text.encode("gb18030"), Path("a.csv")) == (text, "gb18030")


def test_undecodable_line_names_file_and_line(tmp_path):
    lines = [line.encode("utf-8") for line in csv_text().splitlines()]
    lines.insert(3, b"1009.jpg,\xff\xfe\xfa broken")  # becomes line 4
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    with pytest.raises(CatalogError) as exc:
        read_captions(path)

    msg = str(exc.value)
    assert f"{path}:4:" in msg
    assert "utf-8" in msg
    # load_catalog surfaces the same error
    root = touch_images(tmp_path / "img", "1001.jpg")
    with pytest.raises(CatalogError, match=r"broken\.csv:4:"):
        load_catalog(root, path)


def test_undecodable_line_in_a_gb18030_file_names_that_line(tmp_path):
    lines = [line.encode("gb18030") for line in csv_text().splitlines()]
    lines.insert(2, b"1009.jpg,\xff\xff")  # line 3, invalid in both encodings
    path = tmp_path / "gb.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(CatalogError) as exc:
        read_captions(path)
    assert f"{path}:3:" in str(exc.value)
    assert "gb18030" in str(exc.value)


def test_missing_caption_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="nope.csv"):
        read_captions(tmp_path / "nope.csv")


# --- header aliases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "image,text",
        "image_name,caption",
        "img,title",
        "file,description",
        "Image , Caption",  # case and spaces
        "text,image",  # column order swapped
        "id,caption,price,image_name,brand",  # extra columns around
    ],
)
def test_header_aliases_and_column_order(tmp_path, header):
    names = [h.strip().lower() for h in header.split(",")]
    img_alias = next(n for n in names if n in {"image", "image_name", "img", "file"})
    txt_alias = next(n for n in names if n in {"text", "caption", "title", "description"})
    lines = [header]
    for i, (image, text) in enumerate(ROWS):
        cells = []
        for n in names:
            if n == img_alias:
                cells.append(image)
            elif n == txt_alias:
                cells.append('"' + text.replace('"', '""') + '"')
            else:
                cells.append(f"{n}-{i}")
        lines.append(",".join(cells))
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    rows, _ = read_captions(path)

    assert [(r.image, r.text) for r in rows] == ROWS


def test_header_without_known_columns_names_file_and_line_1(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,comment\n1001.jpg,男士衬衫\n", encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        read_captions(path)
    msg = str(exc.value)
    assert f"{path}:1:" in msg
    assert "name" in msg and "comment" in msg


def test_header_with_image_but_no_text_column_is_an_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("image,price\n1001.jpg,12\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"bad\.csv:1:"):
        read_captions(path)


def test_headerless_file_uses_first_two_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("1001.jpg,男士衬衫\n1002.jpg,白色运动鞋\n", encoding="utf-8")
    rows, _ = read_captions(path)
    assert [(r.line, r.image, r.text) for r in rows] == [
        (1, "1001.jpg", "男士衬衫"),
        (2, "1002.jpg", "白色运动鞋"),
    ]


def test_tab_separated_file(tmp_path):
    path = tmp_path / "c.tsv"
    text = "image\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in ROWS)
    path.write_text(text, encoding="utf-8")
    rows, _ = read_captions(path)
    assert [(r.image, r.text) for r in rows] == ROWS


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("image,text\n\na.jpg,红色\n,\nb.jpg,\n", encoding="utf-8")
    rows, _ = read_captions(path)
    assert [(r.line, r.image, r.text) for r in rows] == [(3, "a.jpg", "红色"), (5, "b.jpg", "")]


def test_empty_caption_file_has_no_rows(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"")
    assert read_captions(path)[0] == []


# --- the join -----------------------------------------------------------------------------


def test_join_reports_missing_images_duplicates_and_keeps_uncaptioned(tmp_path):
    root = touch_images(tmp_path / "images", "1001.jpg", "1002.jpg", "1003.jpg", "1004.jpg")
    path = tmp_path / "captions.csv"
    path.write_text(
        "image,text\n"
        "1001.jpg,Peter England 男士紫色正装衬衫\n"  # 2
        "9999.jpg,没有这张图\n"  # 3: missing
        "1002.jpg,旧的说明\n"  # 4: duplicate, overridden
        '1003.jpg,"女士连衣裙, 红色"\n'  # 5
        "1002.jpg,ASICS运动鞋 男士款 白色 运动风格\n"  # 6: last wins
        "1004.jpg,\n",  # 7: empty caption
        encoding="utf-8",
    )

    cat = load_catalog(root, path)

    assert cat.root == root.resolve()
    assert cat.captions_file == path
    assert cat.encoding == "utf-8"
    assert captions_of(cat) == {
        "1001.jpg": "Peter England 男士紫色正装衬衫",
        "1002.jpg": "ASICS运动鞋 男士款 白色 运动风格",
        "1003.jpg": "女士连衣裙, 红色",
        "1004.jpg": None,
    }
    assert cat.missing_images == [(3, "9999.jpg")]
    assert cat.duplicates == [("1002.jpg", [4, 6])]
    assert cat.captioned == 3
    assert all(it.path == root.resolve() / it.rel for it in cat.items)
    warnings = cat.warnings()
    assert any("captions.csv:3" in w and "9999.jpg" in w for w in warnings)
    assert any("1002.jpg" in w and "4, 6" in w for w in warnings)


def test_images_without_captions_file_are_all_uncaptioned(tmp_path):
    root = touch_images(tmp_path / "images", "b.png", "a.jpg")
    cat = load_catalog(root)
    assert captions_of(cat) == {"a.jpg": None, "b.png": None}
    assert cat.captioned == 0
    assert cat.missing_images == [] and cat.duplicates == []
    assert cat.captions_file is None and cat.encoding is None


def test_subfolders_and_basename_join(tmp_path):
    root = touch_images(
        tmp_path / "images",
        "top.jpg",
        "sub/x.jpg",
        "sub/deeper/y.webp",
        "a/same.jpg",
        "b/same.jpg",
    )
    path = tmp_path / "c.csv"
    path.write_text(
        "image,text\n"
        "top.jpg,顶层\n"  # 2
        "sub/x.jpg,子目录路径\n"  # 3: relative path
        "y.webp,只有文件名\n"  # 4: unique basename
        "same.jpg,两个同名文件\n"  # 5: ambiguous basename -> missing
        "b/same.jpg,明确路径\n"  # 6
        ".\\sub\\x.jpg,反斜杠路径\n",  # 7: Windows-style path, same file as line 3
        encoding="utf-8",
    )

    cat = load_catalog(root, path)

    assert [it.rel for it in cat.items] == sorted(
        ["top.jpg", "sub/x.jpg", "sub/deeper/y.webp", "a/same.jpg", "b/same.jpg"]
    )
    assert captions_of(cat) == {
        "a/same.jpg": None,
        "b/same.jpg": "明确路径",
        "sub/deeper/y.webp": "只有文件名",
        "sub/x.jpg": "反斜杠路径",
        "top.jpg": "顶层",
    }
    assert cat.missing_images == [(5, "same.jpg")]
    assert cat.duplicates == [("sub/x.jpg", [3, 7])]


def test_basename_join_for_a_row_naming_a_path(tmp_path):
    root = touch_images(tmp_path / "images", "sub/x.jpg")
    path = tmp_path / "c.csv"
    path.write_text("image,text\nx.jpg,文件名\n", encoding="utf-8")
    assert captions_of(load_catalog(root, path)) == {"sub/x.jpg": "文件名"}


def test_walk_ignores_non_images_and_hidden(tmp_path):
    root = touch_images(
        tmp_path / "images",
        "a.jpg",
        "B.JPEG",
        "c.Png",
        "d.gif",
        "e.bmp",
        "f.webp",
        "g.jpe",
        "notes.txt",
        "data.csv",
        "scan.tiff",
        "icon.ico",
        "noext",
        ".hidden.jpg",
        ".cache/h.jpg",
        "sub/.x.png",
        "sub/ok.jpg",
    )
    assert walk_images(root) == sorted(
        ["a.jpg", "B.JPEG", "c.Png", "d.gif", "e.bmp", "f.webp", "g.jpe", "sub/ok.jpg"]
    )


def test_caption_for_hidden_or_non_image_file_is_missing(tmp_path):
    root = touch_images(tmp_path / "images", "a.jpg", ".h.jpg", "n.txt")
    path = tmp_path / "c.csv"
    path.write_text("image,text\n.h.jpg,隐藏\nn.txt,文本\na.jpg,好\n", encoding="utf-8")
    cat = load_catalog(root, path)
    assert captions_of(cat) == {"a.jpg": "好"}
    assert cat.missing_images == [(2, ".h.jpg"), (3, "n.txt")]


def test_missing_image_folder_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="does-not-exist"):
        load_catalog(tmp_path / "does-not-exist")
    file = tmp_path / "file.jpg"
    file.write_bytes(b"x")
    with pytest.raises(CatalogError, match="not a directory"):
        walk_images(file)


def test_gbk_catalog_end_to_end(tmp_path):
    root = touch_images(tmp_path / "images", *(a for a, _ in ROWS))
    path = tmp_path / "c.csv"
    path.write_bytes(csv_text().encode("gbk"))
    cat = load_catalog(root, path)
    assert cat.encoding == "gb18030"
    assert captions_of(cat) == dict(ROWS)
