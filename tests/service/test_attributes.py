from __future__ import annotations

import csv

import pytest

from service.attributes import (
    MATERIAL_WORDS,
    Attributes,
    canonical_usage,
    field_coverage,
    find_terms,
    parse_caption,
)

CAPTIONS = [
    # brand first, fields fused
    ("Levis 男士黑色休闲三角内裤", ("Levis", "男士", "黑色", "休闲", "三角内裤")),
    ("Peter England 男士紫色正装衬衫", ("Peter England", "男士", "紫色", "正装", "衬衫")),
    ("Flying Machine 男士米色休闲休闲鞋", ("Flying Machine", "男士", "米色", "休闲", "休闲鞋")),
    ("Skechers 女士银色运动运动鞋", ("Skechers", "女士", "银色", "运动", "运动鞋")),
    ("U.S. Polo Assn. 男士红色休闲T恤", ("U.S. Polo Assn.", "男士", "红色", "休闲", "T恤")),
    ("Genesis 米白色正装衬衫", ("Genesis", None, "米白色", "正装", "衬衫")),
    ("W 女士奶油色民族风短款库尔塔", ("W", "女士", "奶油色", "民族风", "短款库尔塔")),
    # brand + type, then spaced fields
    (
        "Wills Lifestyle衬衫 男士款 黑色 休闲风格",
        ("Wills Lifestyle", "男士", "黑色", "休闲", "衬衫"),
    ),
    ("TantraT恤 男女通用款 黑色 休闲风格", ("Tantra", "男女通用", "黑色", "休闲", "T恤")),
    (
        "Aurelia库尔塔长衫 女士款 黑色 民族风风格",
        ("Aurelia", "女士", "黑色", "民族风", "库尔塔长衫"),
    ),
    ("Doodle上衣 女童款 黑色 休闲风格", ("Doodle", "女童", "黑色", "休闲", "上衣")),
    (
        "United Colors of Benetton上衣 女士款 橄榄绿 休闲风格",
        ("United Colors of Benetton", "女士", "橄榄绿", "休闲", "上衣"),
    ),
    # gender + type first, brand in the middle
    ("男士衬衫 Reid & Taylor 棕色 休闲", ("Reid & Taylor", "男士", "棕色", "休闲", "衬衫")),
    ("男士休闲鞋 Numero Uno 黑色 休闲", ("Numero Uno", "男士", "黑色", "休闲", "休闲鞋")),
    ("男士家居短裤 Crusoe 灰色 休闲", ("Crusoe", "男士", "灰色", "休闲", "家居短裤")),
    # other wordings and unseen words
    ("4711 男士银色休闲止汗露", ("4711", "男士", "银色", "休闲", "止汗露")),
    ("女士姜黄色休闲束腰长上衣", (None, "女士", "姜黄色", "休闲", "束腰长上衣")),
    ("Nike 男款深蓝色运动鞋", ("Nike", "男士", "深蓝色", "运动", "运动鞋")),
    # an unknown Chinese brand stays out of the category when a known type is present
    ("李宁 女款 海军蓝 派对 连衣裙", (None, "女士", "海军蓝", "派对", "连衣裙")),
]


@pytest.mark.parametrize(("caption", "expected"), CAPTIONS)
def test_parse_caption(caption, expected):
    brand, gender, color, usage, category = expected
    assert parse_caption(caption) == Attributes(brand, gender, color, usage, category)


def test_parse_caption_handles_empty_and_latin_only_text():
    assert parse_caption("") == Attributes()
    assert parse_caption("Nike").brand == "Nike"
    assert parse_caption("Nike").category is None


def test_usage_inferred_from_a_typed_category_when_missing():
    attrs = parse_caption("Nike 男士黑色运动鞋")
    assert (attrs.category, attrs.usage) == ("运动鞋", "运动")


def test_find_terms_longest_first_without_overlap():
    assert find_terms("纯棉混纺，棉麻内衬", MATERIAL_WORDS) == ["纯棉", "棉麻"]
    assert find_terms("Levis 男士牛仔裤", MATERIAL_WORDS) == ["牛仔"]
    assert find_terms("黑色", MATERIAL_WORDS) == []


def test_canonical_usage():
    assert canonical_usage("民族") == "民族风"
    assert canonical_usage("正式") == "正装"
    assert canonical_usage("复古") == "复古"


@pytest.mark.data
def test_parser_covers_the_real_catalog(catalog_dev):
    with (catalog_dev / "train_annotation.csv").open(encoding="utf-8") as fh:
        captions = [row["text"] for row in csv.DictReader(fh)]
    coverage = field_coverage(captions)
    assert coverage["color"] >= 0.98
    assert coverage["gender"] >= 0.98
    assert coverage["category"] >= 0.98
    assert coverage["usage"] >= 0.98
