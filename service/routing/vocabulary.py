"""The phrasings the rule router recognises: retrieve patterns and attribute cues.

Retrieve patterns capture the product text as the group ``x``. Attribute cues come in
ranks: topic words (颜色, 面料, 场合, 风格, 性别, ...) per attribute, a description
request, a category cue (什么商品, 什么样的), and weak value words (女款, 适合, 搭配).
"""

from __future__ import annotations

import re

QUOTES = "「」『』“”\"'‘’《》【】`"
"""Quote marks stripped from an extracted product text."""

QUESTION_WORDS: tuple[str, ...] = (
    "男款",
    "女款",
    "男女通用",
    "什么样",
    "什么色",
    "找出",
    "找到",
    "搜出",
)
"""Words added to jieba's dictionary when it splits questions."""

_END = r"[\s。．.！!？?]*$"
_LEAD = r"^(?:请你?|麻烦你?|帮我|请帮我|帮忙|给我|请给我|我想|我要)?\s*"
_FIND = (
    r"(?:匹配|找出|找到|查找|寻找|检索|搜索|搜出|挑选|挑出|选出|选择|给出|返回|列出|找一下|找|搜)"
)
_IMG = r"(?:商品图片|商品图|图片|图像|照片|相片|图|商品|产品)"
_REL = r"(?:最为|最|更加|更)?(?:相关|匹配|相似|相近|相符|符合|接近|对应|吻合|一致|契合)"
_QTY = r"(?:一张|一幅|几张|一些|一件|一款|一双|一个|一条|所有|几款|几件|几双|几个)?"
_PHOTO = r"(?:商品图片|商品图|图片|图像|照片|相片)"
_SHOW = r"(?:看看|看一看|看一下|瞧瞧|展示|显示|推荐|看)(?:一下)?"

RETRIEVE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        # 请找出与以下描述最相关的图片：X
        _LEAD + _FIND + r".*?(?:以下|下面|如下)[^:：]*[:：]\s*(?P<x>.+?)" + _END,
        # 请匹配到与 X 最相关的图片
        _LEAD
        + _FIND
        + r"(?:到|出)?\s*"
        + _QTY
        + r"\s*(?:与|和|跟|同)\s*(?P<x>.+?)\s*"
        + _REL
        + r"的?\s*"
        + _IMG,
        # 哪张图片与 X 最相关
        r"(?:哪张|哪一张|哪幅|哪一幅|哪个|哪些)\s*"
        + _IMG
        + r"\s*(?:与|和|跟)\s*(?P<x>.+?)\s*"
        + _REL,
        # 哪张图片(最)符合 X / 哪张图片是 X
        r"(?:哪张|哪一张|哪幅|哪一幅|哪个|哪些)\s*"
        + _IMG
        + r"\s*(?:最|更)?(?:符合|匹配|对应|契合|吻合|展示了?|显示了?|是)\s*(?P<x>.+?)"
        + _END,
        # 与 X 最相关的图片是哪张
        r"^(?:与|和|跟)\s*(?P<x>.+?)\s*" + _REL + r"的\s*" + _IMG + r"\s*是?(?:哪|什么)",
        # X 对应的图片是哪张
        r"^(?P<x>.+?)\s*(?:对应|相关)的\s*(?:图片|图像|照片|相片)\s*是?(?:哪|什么)",
        # 检索 X 的图片 / 帮我找一张 X 的照片
        _LEAD + _FIND + r"\s*" + _QTY + r"\s*(?P<x>.+?)\s*的\s*(?:图片|图像|照片|相片|商品图)",
    )
)
"""Retrieve phrasings, tried in order; the group ``x`` is the product text."""

NAMED_RETRIEVE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        # 我想看看 X / 给我看看 X / 展示一下 X / 推荐几款 X
        _LEAD + _SHOW + r"\s*" + _QTY + r"\s*(?P<x>.+?)\s*(?:的\s*" + _PHOTO + r")?" + _END,
        # X，请给出对应的商品图片 / X 相关的照片
        r"^(?P<x>.+?)\s*[，,：:；;]?\s*(?:请|麻烦)?你?(?:帮我|给我)?"
        + r"(?:找出|找到|给出|返回|显示|展示|列出|推荐)?\s*(?:它的|其)?"
        + r"(?:对应|相关|相应|匹配)的?\s*"
        + _PHOTO
        + _END,
        # 有没有 X 的图片
        r"^(?:请问)?(?:有没有|有无)\s*(?P<x>.+?)\s*的?\s*" + _PHOTO + r"(?:吗|么|呀|呢)?" + _END,
        # X 的图片
        r"^(?P<x>.+?)\s*的\s*" + _PHOTO + r"(?:呢)?" + _END,
    )
)
"""Retrieve phrasings whose only sign of a search is a product named with a request to see
it; each applies only when that product text neither asks (:data:`ASKING`) nor points at the
given photo (:data:`POINTS_AT_PHOTO`): 这是什么商品的图片 stays a question about the photo."""

ASKING = re.compile(r"什么|啥|哪|吗|嘛|还是|是否|是不是|多少|怎样|怎么|如何|[?？]")
"""Question words in a product text that make it a question (narrower than
:data:`INTERROGATIVE`: 几 and 何 occur in titles, as in 几何图案)."""

POINTS_AT_PHOTO = re.compile(r"这|那|图中|图里|图上|图片|照片|它|该|此")
"""Words that refer to the photo a question is about rather than name a product."""

PRODUCT_TEXT_TAIL = re.compile(r"\s*(?:这[个一段条])?(?:的)?(?:描述|说明|文字|文本|要求|条件)\s*$")
"""A trailing 的描述 / 这段文字 after a product text."""

SEARCH_VERBS = frozenset(
    ("匹配", "找出", "找到", "查找", "寻找", "检索", "搜索", "搜出", "挑选", "挑出", "选出")
    + ("找", "搜", "找找", "搜搜", "搜一搜")
)
"""jieba words that make a question a search (so that 搭配 does not read as 配)."""

SEARCH_LEAD = re.compile(_LEAD + _FIND + r"(?:到|出|一下)?\s*" + _QTY + r"\s*")
"""The request and search verb before the product text of a bare search (帮我找一件 X)."""

SEARCH_TAIL = re.compile(r"\s*(?:的)?\s*(?:图片|图像|照片|相片|商品图|商品|产品)?" + _END)
"""The trailing 的图片 / punctuation after the product text of a bare search."""

TOPIC_CUES: dict[str, tuple[str, ...]] = {
    "color": (r"颜色|什么色|啥色|哪种色|哪个色|何色|色系|配色|色调",),
    "material": (r"面料|材质|材料|质地|布料|料子|用料|成分|什么料|(?:什么|啥)做的|什么皮",),
    "gender": (
        r"性别|男女|[男女](?:款|式|装|士|性|生|的|鞋|孩|童)?还是[男女]",
        r"适合(?:男|女)|(?:给|送)(?:男|女)|人群|受众",
        r"^(?!.*(?:什么|啥|哪)).*[男女](?:款|式|装|士|性|生|孩|童|鞋|用|的).{0,6}(?:吗|么|嘛)"
        + _END,
    ),
    "usage": (
        r"场合|用途|场景|什么时候(?:穿|用|戴|背)|(?:穿|戴|背|用)去哪|做什么用|干什么用|适用于?什么",
        r"(?:正装|休闲|运动|商务|民族)(?:风|装|款)?还是|还是(?:正装|休闲|运动|商务|民族)",
        r"(?:正装|休闲|运动|商务|民族|户外|派对|度假)(?:风|装|款)的?(?:吗|么|嘛)",
    ),
    "style": (r"风格|什么风|哪种风|调性",),
    "shoes": (
        r"(?:搭配|搭|配|穿|脚上|脚穿)[^，,。？?]{0,6}[鞋靴]|[鞋靴][^，,。？?]{0,4}(?:搭配|配)",
        r"模特[^，,。？?]{0,8}[鞋靴]",
    ),
}
"""Topic words per attribute (regular expressions)."""

TOPIC_ORDER: tuple[str, ...] = ("color", "material", "gender", "usage", "style", "shoes")
"""Tie-break among topics equally near the interrogative: earlier wins."""

DESCRIBE_CUE = re.compile(
    r"描述|描绘|介绍|说说|说一说|讲讲|讲一讲|说明一下|概括|概述|总结|详细信息|详情|"
    r"什么样子|长什么样|看看这|图(?:片|像)?(?:里|中|上)有(?:什么|哪些)(?:东西)?(?:[\s。．.！!？?，,]|$)|"
    r"(?:写|生成|起).{0,4}(?:文案|描述|标题)|(?:图片|图像|画面|照片)(?:的|中的|里的)?内容|"
    r"(?:展示|呈现|显示)了(?:什么|哪些)|什么样的商品图"
)
"""A request to describe the photo."""

CATEGORY_CUE = re.compile(
    r"什么类型|什么类别|哪一?类|什么品类|品类|类别|类型|什么商品|什么产品|什么东西|什么物品|"
    r"什么单品|(?:哪种|哪一种|哪类|啥|什么)(?:商品|产品|东西|物品|单品|服饰|服装|衣物|配饰)|[一这那]\s*[款件双个条只顶副]\s*什么|什么样的|什么款|属于什么|"
    r"是(?:什么|啥)(?:衣服|服装|单品|鞋|包|饰品)|"
    r"^(?:这|那|图中|图里|图片中|图片里|照片中|它)\S{0,4}是(?:什么|啥)" + _END
)
"""A question about what kind of product the photo shows."""

WEAK_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gender", re.compile(r"[男女](?:款|式|装|士|性|生|孩|童|鞋|用)|儿童|童装|中性")),
    ("usage", re.compile(r"适合|适用|穿去|用来")),
    ("shoes", re.compile(r"搭配|[鞋靴]")),
)
"""Value words that hint at an attribute when no stronger cue is present, in order."""

INTERROGATIVE = re.compile(r"什么|啥|哪|吗|么|嘛|还是|是否|是不是|多少|怎样|怎么样|如何|何|几")
"""Question words; the topic word nearest one of them is the one asked about."""
