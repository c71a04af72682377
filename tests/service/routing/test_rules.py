"""The rule router: kinds, attributes and product texts of many phrasings."""

from __future__ import annotations

import pytest

from service.routing import Route, extract_product_text, route, search_product_text

R, D, A = "retrieve", "describe", "attribute"

ROUTING = [
    # the competition's examples
    ("请对给定的图片进行描述。", D, None, None),
    (
        "请匹配到与 2019秋冬新款百搭长裙女百褶裙 最相关的图片。",
        R,
        None,
        "2019秋冬新款百搭长裙女百褶裙",
    ),
    ("这是一款什么样的连衣裙？", A, "category", None),
    ("这款衬衫的面料是什么？", A, "material", None),
    ("图中是女款服装吗？", A, "gender", None),
    ("图中服装是什么颜色？", A, "color", None),
    ("图中模特搭配了什么鞋子？", A, "shoes", None),
    # other retrieve phrasings
    (
        "请匹配到与 Levis背心 男士款 白色 休闲风格 最相关的图片。",
        R,
        None,
        "Levis背心 男士款 白色 休闲风格",
    ),
    ("找出与「白色运动鞋」最匹配的图片", R, None, "白色运动鞋"),
    ("哪张图片最符合黑色男士衬衫？", R, None, "黑色男士衬衫"),
    ("哪张图片与“蓝色牛仔裤”最相关？", R, None, "蓝色牛仔裤"),
    ("检索「女士红色手提包」的图片", R, None, "女士红色手提包"),
    ("帮我找一张女士手提包的照片", R, None, "女士手提包"),
    ("与 Nike 男士黑色运动T恤 最相似的图片是哪张？", R, None, "Nike 男士黑色运动T恤"),
    (
        "请找出与以下描述最相关的图片：Levis 男士黑色休闲三角内裤",
        R,
        None,
        "Levis 男士黑色休闲三角内裤",
    ),
    ("帮我找一件红色的连衣裙", R, None, "红色的连衣裙"),
    # a product named with a request to see it, attribute words inside
    ("我想看看男士黑色运动鞋", R, None, "男士黑色运动鞋"),
    ("给我看看红色连衣裙", R, None, "红色连衣裙"),
    ("展示一下女士休闲风格手提包", R, None, "女士休闲风格手提包"),
    ("推荐几款适合正装场合的男士皮鞋", R, None, "适合正装场合的男士皮鞋"),
    (
        "女士碎花半身裙 夏季 度假风格，请给出对应的商品图片。",
        R,
        None,
        "女士碎花半身裙 夏季 度假风格",
    ),
    ("有没有男款藏青色羽绒服的照片？", R, None, "男款藏青色羽绒服"),
    ("新款几何图案女士针织衫的图片", R, None, "新款几何图案女士针织衫"),
    ("请检索：女士银色平底鞋 休闲风格", R, None, "女士银色平底鞋 休闲风格"),
    ("帮我找一件适合运动场合的速干T恤", R, None, "适合运动场合的速干T恤"),
    # ... but a question about the photo in hand stays one
    ("我想看看这件衣服是什么颜色", A, "color", None),
    ("找一下这件衣服适合什么场合", A, "usage", None),
    ("这是什么商品的图片？", A, "category", None),
    ("它是哪种商品？", A, "category", None),
    ("这张图片里有什么？请详细说明。", D, None, None),
    # other describe phrasings
    ("描述一下这张图片", D, None, None),
    ("介绍一下图中的商品", D, None, None),
    ("说说这张图", D, None, None),
    ("图片里有什么？", D, None, None),
    # other attribute phrasings
    ("图中商品是什么颜色？", A, "color", None),
    ("这件商品是什么颜色的？", A, "color", None),
    ("这双鞋是什么颜色？", A, "color", None),
    ("请介绍这件商品的颜色", A, "color", None),
    ("这款运动风格的鞋子是什么颜色", A, "color", None),
    ("这是一款什么商品？", A, "category", None),
    ("图中是什么类型的商品？", A, "category", None),
    ("这款商品属于哪一类？", A, "category", None),
    ("这是什么？", A, "category", None),
    ("这是男款还是女款？", A, "gender", None),
    ("这件红色衬衫是男款吗？", A, "gender", None),
    ("这是给男生穿的还是给女生穿的？", A, "gender", None),
    ("这是男女通用的吗？", A, "gender", None),
    ("这款商品适合什么场合？", A, "usage", None),
    ("这款男士衬衫适合什么场合？", A, "usage", None),
    ("这件衣服适合什么时候穿？", A, "usage", None),
    ("这件衣服是什么材质的？", A, "material", None),
    ("它是用什么做的？", A, "material", None),
    ("这件衣服是什么风格？", A, "style", None),
    ("这件衣服的风格是什么", A, "style", None),
    ("模特脚上穿的是什么鞋", A, "shoes", None),
    ("这身衣服配了什么鞋", A, "shoes", None),
    ("这个包多少钱？", A, None, None),
    # audiences, kinds of garment, usage values asked about, the photo's content
    ("适用人群是？", A, "gender", None),
    ("它适合哪类人群穿戴", A, "gender", None),
    ("这属于哪种服饰", A, "category", None),
    ("这是正装还是休闲装", A, "usage", None),
    ("它是运动风的吗", A, "usage", None),
    ("这件是商务风还是休闲风", A, "usage", None),
    ("该商品呈现什么颜色", A, "color", None),
    ("这张图片展示了什么", D, None, None),
    ("请简要说明图片内容", D, None, None),
    ("这是一张什么样的商品图", D, None, None),
]


@pytest.mark.parametrize(("question", "kind", "attribute", "product"), ROUTING)
def test_route_table(question, kind, attribute, product):
    assert route(question) == Route(kind, attribute, product)


def test_routing_table_is_broad():
    assert len(ROUTING) >= 25
    assert {row[1] for row in ROUTING} == {R, D, A}
    assert {row[2] for row in ROUTING if row[1] == A} >= {
        "color",
        "category",
        "gender",
        "usage",
        "material",
        "style",
        "shoes",
    }


def test_product_text_strips_quotes_and_whitespace():
    assert (
        extract_product_text("请匹配到与 「  女士 红色 连衣裙 」 最相关的图片。")
        == "女士 红色 连衣裙"
    )
    assert extract_product_text("图中服装是什么颜色？") is None


def test_attribute_words_inside_a_retrieve_question_do_not_change_its_kind():
    r = route("请匹配到与 男士衬衫 颜色 黑色 场合 正装 最相关的图片。")
    assert r.kind == R
    assert r.product_text == "男士衬衫 颜色 黑色 场合 正装"


def test_a_bare_search_takes_the_text_after_the_search_verb():
    assert search_product_text("帮我找一件红色的连衣裙") == "红色的连衣裙"
    assert search_product_text("搜出白色T恤的图片") == "白色T恤"  # 搜出 is one jieba word
    assert search_product_text("这件衣服搭配什么鞋") is None  # 搭配 holds 配, not a search verb
    assert route("这件衣服搭配什么鞋") == Route(A, "shoes")


TITLES = [
    "2024春季新品男士纯棉休闲衬衫 商务风格",
    "女款藏青色牛仔外套 日常场合",
    "几何图案真丝围巾女 送礼",
]
WRAPPERS = [
    "请匹配到与 {t} 最相关的图片。",
    "我想看看{t}",
    "{t}，请给出对应的商品图片。",
    "有没有{t}的照片？",
    "{t}的图片",
    "请检索：{t}",
    "帮我找一张{t}的图片",
    "哪张图片最符合“{t}”？",
]


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("title", TITLES)
def test_a_search_finds_its_title_whatever_the_wording(wrapper, title):
    # the titles hold attribute words (风格, 场合, 女款) that alone would make a question
    # about the photo
    assert route(wrapper.format(t=title)) == Route(R, None, title)
