"""The lexicon a catalog teaches the parser: brands, product words, filler words."""

from __future__ import annotations

import csv
import json

import pytest

from ingest.attributes import FIELDS, Attributes, Lexicon, parse_caption
from ingest.attributes.words import MARKETING_WORDS


def _fields(attrs: Attributes) -> tuple[str | None, ...]:
    return tuple(getattr(attrs, f) for f in FIELDS)


INVENTED = ["闭眼入", "宝藏好物"]
CATALOG = [
    "闭眼入Tommy Hilfiger男藏青色休闲毛衣宝藏好物",
    "宝藏好物Marks & Spencer女黑色正装连衣裙",
    "闭眼入The North Face男黑色户外冲锋衣",
    "Muji白色居家收纳盒宝藏好物",
    "闭眼入Muji米色居家收纳盒",
    "the north face女红色户外冲锋衣",
    "Marks & Spencer 男士灰色休闲开衫",
    "Tommy Hilfiger 女士白色休闲衬衫",
    "C Vox 男士黑色休闲夹克",
    "Solo 女士红色休闲手提包",
]


def test_lexicon_learns_brands_categories_and_noise_from_the_catalog():
    assert not set(INVENTED) & set(MARKETING_WORDS)
    lexicon = Lexicon.learn(CATALOG)
    assert set(lexicon.brands) == {"Marks & Spencer", "Muji", "The North Face", "Tommy Hilfiger"}
    assert set(lexicon.categories) == {"冲锋衣", "收纳盒"}  # 收纳盒: no product character
    assert set(lexicon.noise) == set(INVENTED)


def test_parse_with_the_lexicon_uses_its_words():
    lexicon = Lexicon.learn(CATALOG)
    attrs = parse_caption("闭眼入Muji米色居家收纳盒宝藏好物", lexicon)
    assert _fields(attrs) == ("Muji", None, "米色", "居家", "收纳盒")
    # The catalog's spelling of a brand, and unexplained text dropped from the category.
    attrs = parse_caption("2024新款THE NORTH FACE男黑色加长版冲锋衣闭眼入", lexicon)
    assert (attrs.brand, attrs.category) == ("The North Face", "冲锋衣")
    assert parse_caption("男黑色加长版冲锋衣").category == "加长版冲锋衣"  # no lexicon
    # A known brand inside a longer Latin run.
    assert parse_caption("ins Muji 白色收纳盒", lexicon).brand == "Muji"


def test_a_known_brand_is_found_with_a_short_latin_word_glued_on():
    lexicon = Lexicon.learn(CATALOG)
    attrs = parse_caption("潮牌Tommy Hilfigerins风男藏青色休闲毛衣", lexicon)
    assert (attrs.brand, attrs.gender, attrs.color) == ("Tommy Hilfiger", "男士", "藏青色")
    assert parse_caption("闭眼入vipMuji米色收纳盒", lexicon).brand == "Muji"
    assert parse_caption("THE NORTH FACEplus男黑色冲锋衣", lexicon).brand == "The North Face"
    # a longer word is another brand, and a short brand is never read out of a longer run
    assert lexicon.brand("Mujistudio") is None
    lexicon = Lexicon(brands=("Cat", "Catwalk"))
    assert lexicon.brand("Catwalkins") == "Catwalk"
    assert lexicon.brand("Cats") is None


def test_lexicon_treats_a_modifier_of_many_products_as_noise():
    titles = ["爆改牛仔裤", "爆改衬衫", "男士爆改连衣裙", "束腰长上衣 女士", "束腰长上衣 女款"]
    lexicon = Lexicon.learn(titles)
    assert lexicon.noise == ("爆改",)
    assert lexicon.categories == ("束腰长上衣",)  # one product word only: part of its name
    assert parse_caption("爆改长裤", lexicon).category == "长裤"
    assert parse_caption("爆改长裤").category == "爆改长裤"


# Colour names the general list does not hold, alone, glued to the product word and after
# it, beside words that only end like a colour (撞色, 三色) or are a brand glued to one.
COLOURED = [
    "Solo 女士 雾霾蓝 手提包",
    "Solo女士雾霾蓝双肩包",
    "Tommy Hilfiger 男士 蘑菇棕 休闲鞋",
    "Tommy Hilfiger男士蘑菇棕休闲鞋",
    "男士水鸭色卫衣 撞色",
    "女款 水鸭色 运动鞋 撞色",
    "三色拼接卫衣 男士",
    "三色拼接长裤 女士",
    "回力小白鞋燕麦色 男女同款",
    "回力帆布鞋燕麦色 女款",
]


def test_lexicon_learns_the_catalog_s_own_colour_names():
    lexicon = Lexicon.learn(COLOURED)
    assert lexicon.colours == ("水鸭色", "燕麦色", "蘑菇棕", "雾霾蓝")
    assert parse_caption("Solo 女士 雾霾蓝 手提包", lexicon).color == "雾霾蓝"
    attrs = parse_caption("2025新款Tommy Hilfiger男蘑菇棕休闲鞋", lexicon)
    assert (attrs.color, attrs.category) == ("蘑菇棕", "休闲鞋")
    assert parse_caption("这款卫衣是水鸭色的吗", lexicon).color == "水鸭色"
    # Without the lexicon the colour is part of the product word or left out.
    assert parse_caption("Tommy Hilfiger男士蘑菇棕休闲鞋").color is None
    # A colour the catalog names once is not learned.
    assert "撞色" not in lexicon.colours and "三色" not in lexicon.colours
    assert Lexicon.learn(COLOURED[:1] + COLOURED[2:]).colours == ("水鸭色", "燕麦色", "蘑菇棕")


def test_lexicon_round_trips_through_json():
    lexicon = Lexicon.learn(CATALOG)
    again = Lexicon.from_dict(json.loads(json.dumps(lexicon.to_dict(), ensure_ascii=False)))
    assert again == lexicon
    for title in CATALOG:
        assert parse_caption(title, again) == parse_caption(title, lexicon)
    assert "colours" not in lexicon.to_dict()  # a lexicon without them is written as before
    coloured = Lexicon.learn(COLOURED)
    assert Lexicon.from_dict(json.loads(json.dumps(coloured.to_dict()))) == coloured


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 99}, "format"),
        ({"format": 1, "brands": "Nike"}, "'brands'"),
        ({"format": 1, "colours": ["水鸭色", 3]}, "'colours'"),
    ],
)
def test_lexicon_from_dict_names_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        Lexicon.from_dict(data)


def test_empty_lexicon_learns_nothing():
    assert Lexicon.learn([]) == Lexicon()
    assert Lexicon.learn(["Solo 女士红色休闲手提包"]) == Lexicon()  # nothing recurs


@pytest.mark.data
def test_shop_titles_parse_like_the_plain_captions_of_the_same_photos(catalog_dev):
    titles_csv = catalog_dev.parent / "catalog-dev-taobao" / "train_annotation.csv"
    if not titles_csv.exists():
        pytest.skip(f"shop-title catalog not available at {titles_csv}")
    catalogs = []
    for path in (catalog_dev / "train_annotation.csv", titles_csv):
        with path.open(encoding="utf-8") as fh:
            rows = {row["image"]: row["text"] for row in csv.DictReader(fh)}
        catalogs.append((rows, Lexicon.learn(rows.values())))
    (plain, plain_lexicon), (titles, titles_lexicon) = catalogs
    shared = sorted(set(plain) & set(titles))
    agree = dict.fromkeys(FIELDS, 0)
    for image in shared:
        a = parse_caption(plain[image], plain_lexicon)
        b = parse_caption(titles[image], titles_lexicon)
        for f in FIELDS:
            agree[f] += getattr(a, f) == getattr(b, f)
    assert all(count / len(shared) >= 0.95 for count in agree.values()), agree
