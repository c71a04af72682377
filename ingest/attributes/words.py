"""General vocabularies of Chinese product titles: attribute words and marketing words.

Nothing here comes from one catalog: these are the colour, gender, usage and product-type
words of fashion e-commerce in general, with their variant spellings (男/男款/男士/男式,
藏青/藏青色/藏青系, 休闲/日常休闲/休闲风), and the structure of marketing text (years and
seasons, bracketed promotions, common shop and hype words). What a catalog adds, its brands
and its own product words, is learned by :class:`ingest.attributes.lexicon.Lexicon`.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Colour stems written with 色 (黑色, 藏青色); the multi-character ones ending in a colour
# character are also colours without it (藏青, 米白).
_BASE_COLOURS = _words(
    "黑 白 红 蓝 绿 黄 紫 粉 灰 棕 橙 米 金 银 青 褐 咖啡 卡其 藏青 驼 杏 酒红 玫红 桃红 "
    "天蓝 宝蓝 湖蓝 海蓝 孔雀蓝 靛蓝 墨绿 军绿 草绿 果绿 橄榄 橘 橘红 枣红 砖红 铁锈 "
    "古铜 铜 香槟 裸 肉 象牙 乳白 米白 奶白 奶油 炭灰 钢灰 烟灰 浅灰 银灰 棕褐 茶 咖 "
    "洋红 品红 玫瑰 珊瑚 薰衣草 芥末 姜黄 土黄 柠檬黄 明黄 鹅黄 豆沙 藕粉 烟粉 "
    "多 彩 花 桃 透明 玫瑰金 香槟金"
)
# Colour words complete without 色 (海军蓝); 色 or 系 after them is dropped.
_EXTRA_COLOURS = _words(
    "海军蓝 橄榄绿 薰衣草紫 勃艮第红 铁锈红 宝石蓝 牛仔蓝 薄荷绿 荧光绿 荧光黄 荧光粉 "
    "象牙白 珍珠白 雪白 本白 漂白 粉红 粉蓝 粉紫 黑白 红白 蓝白 黑红 迷彩 豹纹"
)
_COLOUR_MODIFIERS = ("深", "浅", "亮", "暗", "淡", "嫩", "艳", "鲜", "纯", "雾", "哑光")
_COLOUR_CHARS = "黑白红蓝绿黄紫粉灰棕橙金银青褐"
#: What a catalog's own colour words end in (:func:`looks_like_colour`); 金, 银 and 青 end
#: materials and slang too (合金, 纯银, 文青), so a learned colour does not end in them.
_LEARNED_COLOUR_ENDS = "色黑白红蓝绿黄紫粉灰棕橙褐"
#: Words ending like a colour that name no colour: the question's 颜色, colour schemes
#: (撞色, 纯色), qualities (掉色) and products (口红, 腮红).
_NOT_COLOURS = frozenset(
    _words(
        "颜色 特色 出色 角色 成色 本色 货色 各色 同色 纯色 撞色 双色 三色 两色 杂色 原色 "
        "暖色 冷色 深色 浅色 亮色 配色 拼色 单色 素色 异色 变色 褪色 掉色 夜色 景色 脸色 "
        "美白 增白 蛋白 明白 空白 告白 小白 小黑 显黑 爆红 走红 分红 眼红 口红 腮红 唇红 发黄 泛黄 "
        "防黄 蛋黄"
    )
)
_BARE_COLOURS = ("卡其",)

_GENDER_VARIANTS: dict[str, tuple[str, ...]] = {
    "男女通用": ("男女通用", "男女同款", "男女款", "男女", "中性", "情侣"),
    "男士": ("男士", "男款", "男式", "男装", "男性", "男生", "男子", "男"),
    "女士": ("女士", "女款", "女式", "女装", "女性", "女生", "女子", "女"),
    "男童": ("男童", "男孩"),
    "女童": ("女童", "女孩"),
    "儿童": ("儿童", "童装", "孩童", "婴儿", "宝宝", "童"),
}

_USAGE_VARIANTS: dict[str, tuple[str, ...]] = {
    "智能休闲": ("智能休闲", "商务休闲"),
    "休闲": ("休闲", "日常"),
    "正装": ("正装", "正式"),
    "商务": ("商务", "职场", "通勤"),
    "运动": ("运动", "跑步", "健身"),
    "民族风": ("民族风", "民族"),
    "派对": ("派对", "聚会", "宴会", "晚宴"),
    "旅行": ("旅行", "旅游", "度假"),
    "居家": ("居家", "家居"),
    "户外": ("户外",),
    "婚礼": ("婚礼",),
}
_USAGE_SUFFIXES = ("风格", "风", "款", "场合", "型", "系")

# Product types; those that begin with a usage or colour word or with Latin letters are
# listed so that longest match keeps them whole (休闲鞋 is a type, not 休闲 + 鞋).
CATEGORY_WORDS: tuple[str, ...] = _words(
    "T恤 t恤 POLO衫 Polo衫 polo衫 T-恤 "
    "休闲鞋 运动鞋 正装鞋 跑步鞋 篮球鞋 足球鞋 登山鞋 运动裤 运动短裤 运动套装 运动衫 "
    "运动内衣 运动背心 运动包 套装 休闲裤 休闲西装 家居服 家居短裤 家居裤 旅行袋 旅行包 "
    "旅行配件 民族服装 衬衫 衬衣 上衣 夹克 外套 大衣 风衣 羽绒服 棉服 西装 西裤 马甲 "
    "卫衣 毛衣 针织衫 开衫 连衣裙 半身裙 长裙 短裙 百褶裙 牛仔裤 长裤 短裤 七分裤 "
    "阔腿裤 打底裤 紧身长裤 内裤 三角内裤 平角内裤 内衣 文胸 睡衣 泳衣 背心 吊带 袜子 "
    "长筒袜 丝袜 鞋 高跟鞋 平底鞋 凉鞋 人字拖 拖鞋 靴子 短靴 雪地靴 马丁靴 帆布鞋 板鞋 "
    "乐福鞋 手表 手提包 手拿包 单肩包 斜挎包 钱包 双肩包 背包 腰包 行李箱 腰带 皮带 "
    "太阳镜 墨镜 眼镜 领带 鸭舌帽 棒球帽 渔夫帽 帽子 围巾 丝巾 纱巾 披肩 手套 项链 耳环 "
    "耳钉 戒指 手链 手镯 胸针 袖扣 香水 止汗露 库尔塔 库尔塔长衫 短款库尔塔 纱丽 雨伞 "
    "登山包 电脑包 手机袋"
)
# Last characters of product-type words (衬衫, 冲锋衣, 收纳袋): a recurring Chinese word that
# ends in one of them names a product rather than praising it.
PRODUCT_HEADS = frozenset("衣衫裤裙鞋靴袜帽包袋表镜带巾链环戒镯钉扣露伞套服褂袍罩兜箱夹拖履囊")

FILLERS: tuple[str, ...] = ("风格", "款式", "系列", "新款", "色系", "款", "的", "系", "型")

#: Single characters of a question or request that stand before a colour without changing it
#: (是红色, 有红色的, 呈灰色): never read as part of the colour word.
GRAMMAR_CHARS = frozenset("是有呈为和与及或配要选买找看这那啥个件种偏带")

# Common words of Chinese shop titles that praise, promote or place the product.
MARKETING_WORDS: tuple[str, ...] = _words(
    "新款 新品 上新 首发 爆款 热卖 热销 畅销 人气 清仓 特价 特惠 特卖 促销 折扣 秒杀 抢购 "
    "限时 限量 限定 独家 包邮 顺丰包邮 现货 速发 现货速发 当天发货 急速发货 运费险 送运费险 "
    "七天无理由 正品 正品保证 专柜 专柜正品 官方 官方正品 官网 旗舰店 官方旗舰店 专卖店 "
    "直营 授权 代购 海外 进口 原单 外贸 尾单 断码 亏本 捡漏 福利 狂欢 双十一 年货 送礼 "
    "品牌 大牌 潮牌 明星 同款 明星同款 明星推荐 网红 网红款 网红同款 达人推荐 推荐 "
    "店长推荐 主播推荐 好评 回购 必备 必入 原创 设计感 高级感 质感 高品质 时尚 潮流 潮 "
    "百搭 洋气 气质 显瘦 显高 透气 舒适 透气舒适 柔软 亲肤 高端 轻奢 奢华 精品 经典 小众 "
    "ins风 春装 夏装 秋装 冬装 新潮 流行 火爆 超火 时髦 减龄 显白 耐穿 耐磨 不起球 "
    "抗皱 免烫 加厚 加绒 薄款 厚款 修身 宽松 韩版 简约 高档 实惠 划算 超值 特惠款"
)
# Latin words of shop titles that are not brands (ins, vintage, sizes).
LATIN_NOISE = frozenset(
    _words(
        "ins vintage oversize oversized chic ulzzang new hot sale retro basic free freesize "
        "plus ootd diy vip top hit fashion style"
    )
)
_SIZE = re.compile(r"^(?:\d*x{0,3}[sml]|\d+(?:cm|mm|ml|g|kg))$")

_SEASONS = "早春|早秋|初秋|春夏|秋冬|春秋|春|夏|秋|冬"
_NEWNESS = "新款|新品|上新|款式|款|装|新"
# Marketing recognised by its shape: years and seasons (2023秋冬新品, 夏季新款, 秋冬款),
# bracketed promotions (【清仓】; a bracket holding Latin letters is read, as in 【Puma】),
# discounts and delivery promises.
MARKETING_PATTERN = re.compile(
    rf"(?<![0-9])(?:19|20)\d{{2}}(?![0-9])年?(?:(?:{_SEASONS})季?)?(?:{_NEWNESS})?"
    rf"|(?:早春|早秋|初秋|春夏|秋冬|春秋)季?(?:{_NEWNESS})?"
    rf"|[春夏秋冬](?:季(?:{_NEWNESS})?|{_NEWNESS})"
    r"|【[^】A-Za-z]*】|〖[^〗A-Za-z]*〗|\[[^\]A-Za-z]*\]"
    r"|[0-9一二三四五六七八九十两.]+折|买[0-9一二三]+送[0-9一二三]+|满\d+减\d+"
    r"|\d+(?:小时|天)(?:发货|无理由|退换)+"
)

MATERIAL_WORDS: tuple[str, ...] = _words(
    "纯棉 棉质 全棉 棉麻 棉 涤纶 聚酯纤维 真丝 桑蚕丝 丝绸 羊毛 羊绒 毛呢 牛仔 真皮 "
    "牛皮 羊皮 皮革 人造革 PU 亚麻 雪纺 针织 尼龙 氨纶 莫代尔 麂皮 帆布 灯芯绒 "
    "天鹅绒 丝绒 蕾丝 网纱 橡胶 不锈钢 合金 金属 塑料 陶瓷"
)
STYLE_WORDS: tuple[str, ...] = _words(
    "智能休闲 休闲 正装 运动 民族风 商务 复古 简约 百搭 韩版 街头 甜美 优雅 通勤 朋克 "
    "学院 欧美 日系 波西米亚 性感 可爱 嘻哈 极简 田园 派对"
)
FOOTWEAR_SUFFIXES: tuple[str, ...] = ("鞋", "靴", "拖")

FIELDS: tuple[str, ...] = ("brand", "gender", "color", "usage", "category")
"""The fields a catalog caption states (:func:`ingest.attributes.field_coverage`)."""

ALL_FIELDS: tuple[str, ...] = (*FIELDS, "material", "style")
"""Every field of :class:`ingest.attributes.Attributes`."""

ATTRIBUTES: tuple[str, ...] = ("color", "category", "gender", "usage", "material", "style", "shoes")
"""What an attribute question can ask about the product in a photo."""

ATTRIBUTE_LABELS: dict[str | None, str] = {
    "color": "颜色",
    "category": "商品类别",
    "gender": "适用性别",
    "usage": "适用场合",
    "material": "面料或材质",
    "style": "风格",
    "shoes": "搭配的鞋子",
    None: "问题所问的信息",
}
"""Chinese names of :data:`ATTRIBUTES`, as prompts and answers write them (``None``: an
open question)."""


def is_latin_noise(word: str) -> bool:
    """Whether a Latin word of a title is a size or a hype word rather than a brand.

    Args:
        word: One space-free Latin word, e.g. ``"ins"`` or ``"XL"``.

    Returns:
        ``True`` for sizes, measures and words of :data:`LATIN_NOISE`.
    """
    folded = word.casefold()
    return folded in LATIN_NOISE or bool(_SIZE.match(folded))


def canonical_usage(term: str) -> str:
    """Maps a usage or style word to its canonical usage (``民族`` → ``民族风``).

    Args:
        term: A usage or style word.

    Returns:
        The canonical usage, or ``term`` itself when it is not a usage word.
    """
    for value, variants in _USAGE_VARIANTS.items():
        if term == value or term in variants:
            return value
    return term


def usage_of_category(category: str) -> str | None:
    """The usage a product type implies by its first word (运动鞋 → 运动), if any.

    Args:
        category: A product type.

    Returns:
        The canonical usage, or ``None``.
    """
    for value, variants in _USAGE_VARIANTS.items():
        if any(category.startswith(v) for v in variants if len(v) > 1):
            return value
    return None


def looks_like_colour(word: str) -> bool:
    """Whether a word a catalog keeps using could be one of its colours (水鸭色, 雾霾蓝).

    Args:
        word: An uncovered Chinese word of a title.

    Returns:
        ``True`` for 2–4 Chinese characters ending in 色 or a colour character other than
        金, 银 and 青, not starting with a numeral (三色), and not one of the words that only
        end like a colour (颜色, 撞色).
    """
    return (
        2 <= len(word) <= 4
        and all("\u4e00" <= c <= "\u9fff" for c in word)
        and word[-1] in _LEARNED_COLOUR_ENDS
        and word not in _NOT_COLOURS
        and word[0] not in "一二三四五六七八九十两多几百千"  # 三色, 多色: how many colours
    )


def _colour_surfaces() -> dict[str, str]:
    """Returns ``{surface: canonical colour}``: 藏青/藏青色/藏青系 → 藏青色."""
    stems: dict[str, tuple[str, bool]] = {}  # stem -> (canonical, also written bare)
    for extra in _EXTRA_COLOURS:
        stems[extra] = (extra, True)
    for base in _BASE_COLOURS:
        bare = base in _BARE_COLOURS or (len(base) > 1 and base[-1] in _COLOUR_CHARS)
        stems.setdefault(base, (base + "色", bare))
    singles = [b for b in _BASE_COLOURS if len(b) == 1 and b in _COLOUR_CHARS]
    for first in singles:  # two-colour stems: 蓝绿色, 灰褐色
        for second in singles:
            if first != second:
                stems.setdefault(first + second, (first + second + "色", False))
    for stem, (value, bare) in list(stems.items()):
        for modifier in _COLOUR_MODIFIERS:  # 深蓝, 浅灰色; not 纯金 (a material)
            plain = len(stem) == 1 and stem not in "金银"
            stems.setdefault(modifier + stem, (modifier + value, bare or plain))
    surfaces: dict[str, str] = {}
    for stem, (value, bare) in stems.items():
        for suffix in ("色系", "色", "系"):
            surfaces.setdefault(stem + suffix, value)
        if bare:
            surfaces.setdefault(stem, value)
    return surfaces


@lru_cache(maxsize=1)
def base_surfaces() -> dict[str, tuple[str, str]]:
    """The general lexicon as ``{surface: (kind, canonical value)}``.

    Kinds are ``category``, ``color``, ``usage``, ``gender``, ``style`` and ``noise``
    (marketing). Longest match over these surfaces tokenises a title.

    Returns:
        The surfaces (cached; do not modify).
    """
    lex: dict[str, tuple[str, str]] = {}
    for word in CATEGORY_WORDS:
        lex[word] = ("category", word.replace("t恤", "T恤"))
    for surface, value in _colour_surfaces().items():
        lex.setdefault(surface, ("color", value))
    for value, variants in _USAGE_VARIANTS.items():
        for variant in variants:
            for suffix in ("", *_USAGE_SUFFIXES):
                lex.setdefault(variant + suffix, ("usage", value))
    for value, variants in _GENDER_VARIANTS.items():
        for variant in variants:
            for suffix in ("", "款", "式"):
                lex.setdefault(variant + suffix, ("gender", value))
    for word in STYLE_WORDS:
        lex.setdefault(word, ("style", word))
    for word in MARKETING_WORDS:
        lex.setdefault(word, ("noise", word))
    return lex


@lru_cache(maxsize=1)
def longest_base_surface() -> int:
    """Length of the longest surface of :func:`base_surfaces`."""
    return max(len(word) for word in base_surfaces())
