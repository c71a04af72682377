"""Product attributes parsed from Chinese catalog captions.

A catalog caption such as ``Levis 男士黑色休闲三角内裤`` or
``Wills Lifestyle衬衫 男士款 黑色 休闲风格`` is split into brand, gender, colour, usage
and category with general fashion lexicons (longest match first): Latin runs are the
brand, lexicon words give gender/colour/usage, and the remaining Chinese run is the
category. The same lexicons find material and style terms for questions the caption
fields do not cover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_BASE_COLOURS = _words(
    "黑 白 红 蓝 绿 黄 紫 粉 灰 棕 橙 米 金 银 青 褐 咖啡 卡其 藏青 驼 杏 酒红 玫红 桃红 "
    "天蓝 宝蓝 湖蓝 海蓝 孔雀蓝 靛蓝 墨绿 军绿 草绿 果绿 橄榄 橘 橘红 枣红 砖红 铁锈 "
    "古铜 铜 香槟 裸 肉 象牙 乳白 米白 奶白 奶油 炭灰 钢灰 烟灰 浅灰 银灰 棕褐 茶 咖 "
    "洋红 品红 玫瑰 珊瑚 薰衣草 芥末 姜黄 土黄 柠檬黄 明黄 鹅黄 驼 豆沙 藕粉 烟粉 "
    "多 彩 花 桃 透明"
)
_EXTRA_COLOURS = _words(
    "海军蓝 橄榄绿 薰衣草紫 勃艮第红 铁锈红 宝石蓝 牛仔蓝 薄荷绿 荧光绿 荧光黄 荧光粉 "
    "象牙白 珍珠白 雪白 乳白 米白 奶白 本白 漂白 酒红 玫红 桃红 粉红 粉蓝 粉紫 "
    "黑白 红白 蓝白 黑红 透明 迷彩 豹纹"
)
_COLOUR_MODIFIERS = ("深", "浅", "亮", "暗", "淡", "嫩", "艳", "鲜", "纯", "雾", "哑光")

_GENDER_VARIANTS: dict[str, tuple[str, ...]] = {
    "男女通用": ("男女通用", "男女同款", "中性", "情侣"),
    "男士": ("男士", "男款", "男式", "男装", "男性", "男生", "男子"),
    "女士": ("女士", "女款", "女式", "女装", "女性", "女生", "女子"),
    "男童": ("男童", "男孩"),
    "女童": ("女童", "女孩"),
    "儿童": ("儿童", "童装", "孩童", "婴儿", "宝宝"),
}

_USAGE_VARIANTS: dict[str, tuple[str, ...]] = {
    "智能休闲": ("智能休闲", "商务休闲"),
    "休闲": ("休闲", "日常"),
    "正装": ("正装", "正式"),
    "商务": ("商务", "职场", "通勤"),
    "运动": ("运动",),
    "民族风": ("民族风", "民族"),
    "派对": ("派对", "聚会", "宴会", "晚宴"),
    "旅行": ("旅行", "旅游", "度假"),
    "居家": ("居家",),
    "户外": ("户外",),
    "婚礼": ("婚礼",),
}
_USAGE_SUFFIXES = ("风格", "风", "款", "场合")

# Product types that begin with a usage or colour word, or with Latin letters; listed so
# that longest match keeps them whole (休闲鞋 is a type, not 休闲 + 鞋).
_CATEGORY_WORDS = _words(
    "T恤 t恤 POLO衫 Polo衫 polo衫 T-恤 "
    "休闲鞋 运动鞋 正装鞋 运动裤 运动短裤 运动套装 运动衫 运动内衣 运动背心 运动包 "
    "休闲裤 家居服 家居短裤 家居裤 旅行袋 旅行包 旅行配件 民族服装 "
    "衬衫 上衣 夹克 外套 卫衣 毛衣 针织衫 连衣裙 半身裙 长裙 短裙 百褶裙 牛仔裤 长裤 "
    "短裤 七分裤 打底裤 紧身长裤 内裤 三角内裤 平角内裤 文胸 背心 袜子 长筒袜 "
    "鞋 高跟鞋 平底鞋 凉鞋 人字拖 拖鞋 靴子 短靴 帆布鞋 板鞋 "
    "手表 手提包 手拿包 钱包 双肩包 背包 腰带 皮带 太阳镜 眼镜 领带 鸭舌帽 帽子 围巾 "
    "丝巾 纱巾 披肩 手套 项链 耳环 戒指 手链 手镯 袖扣 香水 止汗露 库尔塔 库尔塔长衫 "
    "短款库尔塔 雨伞 登山包 电脑包 手机袋"
)

_FILLERS = ("风格", "款式", "系列", "新款", "款", "的")

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

_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9&.'’+\-_ ]*")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Attributes:
    """The fields of one product caption; a field is ``None`` when the caption lacks it.

    Attributes:
        brand: Latin-script brand, e.g. ``"Levis"``.
        gender: Canonical gender: 男士, 女士, 男女通用, 男童, 女童 or 儿童.
        color: Colour word as written, e.g. ``"黑色"``, ``"海军蓝"``.
        usage: Canonical usage: 休闲, 正装, 运动, 民族风, ...
        category: Product type, e.g. ``"三角内裤"``.
    """

    brand: str | None = None
    gender: str | None = None
    color: str | None = None
    usage: str | None = None
    category: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Returns the fields as ``{brand, gender, color, usage, category}``."""
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class _Token:
    kind: str  # brand, gender, color, usage, category, rest, sep
    text: str
    value: str


def _colour_words() -> set[str]:
    words = {base + "色" for base in _BASE_COLOURS} | set(_EXTRA_COLOURS)
    return words | {mod + word for word in words for mod in _COLOUR_MODIFIERS}


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, tuple[str, str]], int]:
    """Returns ``{surface: (kind, canonical value)}`` and the longest surface length."""
    lex: dict[str, tuple[str, str]] = {}
    for word in _CATEGORY_WORDS:
        lex[word] = ("category", word.replace("t恤", "T恤"))
    for word in _colour_words():
        lex.setdefault(word, ("color", word))
    for value, variants in _USAGE_VARIANTS.items():
        for variant in variants:
            for suffix in ("", *_USAGE_SUFFIXES):
                lex.setdefault(variant + suffix, ("usage", value))
    for value, variants in _GENDER_VARIANTS.items():
        for variant in variants:
            for suffix in ("", "款", "式"):
                lex.setdefault(variant + suffix, ("gender", value))
    return lex, max(len(w) for w in lex)


def _tokenize(caption: str) -> list[_Token]:
    lex, longest = _lexicon()
    tokens: list[_Token] = []
    i, n = 0, len(caption)
    while i < n:
        match = None
        for length in range(min(longest, n - i), 0, -1):
            hit = lex.get(caption[i : i + length])
            if hit is not None:
                match = (length, hit)
                break
        if match is not None:
            length, (kind, value) = match
            tokens.append(_Token(kind, caption[i : i + length], value))
            i += length
            continue
        char = caption[i]
        if _CJK.match(char):
            if tokens and tokens[-1].kind == "rest":
                prev = tokens.pop()
                tokens.append(_Token("rest", prev.text + char, prev.text + char))
            else:
                tokens.append(_Token("rest", char, char))
            i += 1
            continue
        latin = _LATIN.match(caption, i)
        if latin is not None:
            text = latin.group(0)
            # A Latin run may end where a lexicon word such as T恤 begins ("NikeT恤").
            for cut in range(1, len(text)):
                if lex.get(caption[i + cut : i + cut + 2], ("",))[0] == "category":
                    text = text[:cut]
                    break
            tokens.append(_Token("brand", text, text.strip()))
            i += len(text)
            continue
        tokens.append(_Token("sep", char, char))
        i += 1
    return tokens


def _strip_fillers(text: str) -> str:
    changed = True
    while changed and text:
        changed = False
        for filler in _FILLERS:
            if text.startswith(filler) and len(text) > len(filler):
                text, changed = text[len(filler) :], True
            if text.endswith(filler) and len(text) > len(filler):
                text, changed = text[: -len(filler)], True
    return "" if text in _FILLERS else text


def _category(tokens: list[_Token]) -> str | None:
    phrases: list[tuple[bool, str]] = []
    current: list[_Token] = []
    for token in [*tokens, _Token("sep", "", "")]:
        if token.kind in ("rest", "category"):
            current.append(token)
            continue
        if current:
            text = _strip_fillers("".join(t.value for t in current))
            if text:
                phrases.append((any(t.kind == "category" for t in current), text))
            current = []
    if not phrases:
        return None
    with_lexicon = [p for p in phrases if p[0]]
    pool = with_lexicon or phrases
    return max(reversed(pool), key=lambda p: len(p[1]))[1]


def parse_caption(caption: str) -> Attributes:
    """Parses a Chinese product caption into brand, gender, colour, usage and category.

    Args:
        caption: A caption such as ``"Levis 男士黑色休闲三角内裤"``.

    Returns:
        The parsed :class:`Attributes`; fields the caption does not mention are ``None``.
    """
    tokens = _tokenize(caption.strip())
    # A single unknown character right before a colour word is its modifier (姜 + 黄色).
    merged: list[_Token] = []
    for token in tokens:
        if (
            token.kind == "color"
            and merged
            and merged[-1].kind == "rest"
            and len(merged[-1].text) == 1
            and merged[-1].text not in _FILLERS
        ):
            prev = merged.pop()
            token = _Token("color", prev.text + token.text, prev.text + token.value)
        merged.append(token)

    def first(kind: str) -> str | None:
        return next((t.value for t in merged if t.kind == kind and t.value), None)

    brands = [t.value for t in merged if t.kind == "brand" and t.value]
    brand = next((b for b in brands if re.search(r"[A-Za-z]", b)), brands[0] if brands else None)
    category = _category(merged)
    usage = first("usage")
    if usage is None and category:
        usage = next(
            (
                value
                for value, variants in _USAGE_VARIANTS.items()
                if any(category.startswith(v) for v in variants)
            ),
            None,
        )
    return Attributes(
        brand=brand, gender=first("gender"), color=first("color"), usage=usage, category=category
    )


def find_terms(text: str, vocabulary: Iterable[str]) -> list[str]:
    """Finds vocabulary terms in ``text``, longest match first, without overlaps.

    Args:
        text: Free text, e.g. a caption.
        vocabulary: Candidate terms, e.g. :data:`MATERIAL_WORDS`.

    Returns:
        The terms found, in order of appearance.
    """
    words = sorted(set(vocabulary), key=len, reverse=True)
    found: list[str] = []
    i = 0
    while i < len(text):
        word = next((w for w in words if text.startswith(w, i)), None)
        if word is None:
            i += 1
            continue
        found.append(word)
        i += len(word)
    return found


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


def field_coverage(captions: Iterable[str]) -> Mapping[str, float]:
    """Returns the share of captions where each field parses (a quick data-quality check).

    Args:
        captions: Caption strings.

    Returns:
        ``{field: share in [0, 1]}`` for each of :data:`FIELDS`.
    """
    parsed = [parse_caption(c) for c in captions]
    if not parsed:
        return dict.fromkeys(FIELDS, 0.0)
    return {f: sum(getattr(p, f) is not None for p in parsed) / len(parsed) for f in FIELDS}
