"""The attribute parser: plain captions, shop titles and variant spellings."""

from __future__ import annotations

import csv

import pytest

from ingest.attributes import (
    FIELDS,
    MATERIAL_WORDS,
    Attributes,
    Lexicon,
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
    # a question's grammar is not part of the colour word
    ("卫衣是红色的", (None, None, "红色", None, "卫衣")),
    ("有藏青色的男士衬衫吗", (None, "男士", "藏青色", None, "衬衫")),
    ("玫瑰金女士手表", (None, "女士", "玫瑰金色", None, "手表")),
    # an unknown Chinese brand stays out of the category when a known type is present
    ("李宁 女款 海军蓝 派对 连衣裙", (None, "女士", "海军蓝", "派对", "连衣裙")),
]


@pytest.mark.parametrize(("caption", "expected"), CAPTIONS)
def test_parse_caption(caption, expected):
    assert _fields(parse_caption(caption)) == expected


def _fields(attrs: Attributes) -> tuple[str | None, ...]:
    return tuple(getattr(attrs, f) for f in FIELDS)


# Shop titles written for this test: years, seasons, promotions and shop words around the
# attributes, in any order, glued together, with variant spellings.
TITLES = [
    ("2024春夏新款ZARA女士藏青色系通勤衬衫百搭", ("ZARA", "女士", "藏青色", "商务", "衬衫")),
    ("官方旗舰店 Nike男款黑色跑步鞋 透气", ("Nike", "男士", "黑色", "运动", "跑步鞋")),
    ("H&M 女式米白色休闲连衣裙 2022新品", ("H&M", "女士", "米白色", "休闲", "连衣裙")),
    ("【限时特惠】Uniqlo男藏青休闲风针织衫", ("Uniqlo", "男士", "藏青色", "休闲", "针织衫")),
    (
        "秋冬款 Tommy Hilfiger 男式深蓝色系商务正装西装 顺丰包邮",
        ("Tommy Hilfiger", "男士", "深蓝色", "正装", "西装"),
    ),
    (
        "买一送一 Marks & Spencer女款酒红休闲开衫",
        ("Marks & Spencer", "女士", "酒红色", "休闲", "开衫"),
    ),
    ("夏季新款 Crocs 儿童粉色系洞洞鞋 度假", ("Crocs", "儿童", "粉色", "旅行", "洞洞鞋")),
    ("Levi's 男士浅灰色日常休闲牛仔裤 店长推荐", ("Levi's", "男士", "浅灰色", "休闲", "牛仔裤")),
    ("Mango 女 姜黄色 休闲 半身裙 高级感显瘦", ("Mango", "女士", "姜黄色", "休闲", "半身裙")),
    (
        "2021年冬季 The North Face 男士黑色户外羽绒服 7天无理由",
        ("The North Face", "男士", "黑色", "户外", "羽绒服"),
    ),
    ("2023新品 男士黑色T恤 5折", (None, "男士", "黑色", None, "T恤")),
    ("Lee2023秋冬新款 男款黑色直筒牛仔裤", ("Lee", "男士", "黑色", None, "直筒牛仔裤")),
    ("ins风 XL 男童军绿色系户外冲锋衣", (None, "男童", "军绿色", "户外", "冲锋衣")),
    # a bracket names the brand, or promotes the product
    ("【Asics】女子粉色跑步鞋 【包邮】", ("Asics", "女士", "粉色", "运动", "跑步鞋")),
    ("[Superdry]男款 卡其色 休闲夹克", ("Superdry", "男士", "卡其色", "休闲", "夹克")),
]


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_parse_shop_title(title, expected):
    assert _fields(parse_caption(title)) == expected


def test_material_and_style_are_parsed_but_not_from_the_brand():
    attrs = parse_caption("纯棉复古风Champion女生白色运动卫衣ins风")
    assert (attrs.material, attrs.style) == ("纯棉", "复古")
    assert (attrs.brand, attrs.gender, attrs.usage, attrs.category) == (
        "Champion",
        "女士",
        "运动",
        "卫衣",
    )
    assert parse_caption("PUMA 男士黑色运动T恤").material is None  # not PU


@pytest.mark.parametrize(
    ("field", "variants", "value"),
    [
        ("gender", ["男", "男款", "男士", "男式"], "男士"),
        ("gender", ["女", "女款", "女士", "女式"], "女士"),
        ("gender", ["男女同款", "情侣款", "男女通用"], "男女通用"),
        ("color", ["藏青", "藏青色", "藏青系", "藏青色系"], "藏青色"),
        ("color", ["海军蓝", "海军蓝色"], "海军蓝"),
        ("usage", ["休闲", "日常休闲", "休闲风", "休闲风格"], "休闲"),
        ("usage", ["正装", "商务正装", "正式"], "正装"),
    ],
)
def test_variant_spellings_share_one_value(field, variants, value):
    for variant in variants:
        assert getattr(parse_caption(f"Gap{variant}夹克"), field) == value, variant


PAIRS = [  # the same product, captioned plainly and as a shop title
    ("Uniqlo 男士藏青色休闲针织衫", "【限时特惠】Uniqlo男藏青系日常休闲针织衫百搭"),
    ("ZARA 女士黑色正装西装", "2024新款ZARA商务正装女式黑色西装显瘦"),
    ("女士连衣裙 Vero Moda 红色 派对", "夏季新款Vero Moda派对风女款红色系连衣裙高级感"),
    ("Peter England 男士紫色正装衬衫", "2023秋冬新品Peter England男紫色系正装衬衫简约"),
]


@pytest.mark.parametrize(("plain", "title"), PAIRS)
def test_a_title_parses_like_the_plain_caption(plain, title):
    assert _fields(parse_caption(title)) == _fields(parse_caption(plain))
    assert None not in _fields(parse_caption(title))


# A small catalog of shop titles whose marketing words no general vocabulary lists.
def test_parse_caption_handles_empty_and_latin_only_text():
    assert parse_caption("") == Attributes()
    assert parse_caption("", Lexicon()) == Attributes()
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
