"""Question routing: retrieve, describe, or an attribute question.

The rule router combines regular expressions (for multi-word patterns such as
``请匹配到与 X 最相关的图片``) with jieba tokens (for search verbs, so that 搭配 does not
read as 配). Attribute cues are ranked: an explicit topic word (颜色, 面料, 场合, 风格,
性别, ...) beats a description request, which beats a category cue (什么商品, 什么样的),
which beats a bare value word (女款, 适合, 搭配). Among topic words the one nearest the
interrogative (什么, 吗, 还是, ...) wins.

``EmbeddingRouter`` classifies by nearest centroid of labelled example phrasings with an
injected sentence encoder and falls back to the rules when unsure. ``question_report``
summarises a question set (kinds, attributes, TF-IDF + k-means clusters) for the
``tuwen questions`` command.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol

import numpy as np

Kind = Literal["retrieve", "describe", "attribute"]
ATTRIBUTES: tuple[str, ...] = ("color", "category", "gender", "usage", "material", "style", "shoes")
# Chinese names of the attributes, as prompts and answers write them.
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


@dataclass(frozen=True)
class Route:
    """Where a question goes.

    Attributes:
        kind: ``retrieve`` (text → images), ``describe`` (image → description) or
            ``attribute`` (image → one attribute).
        attribute: For ``attribute``: one of :data:`ATTRIBUTES`, or ``None`` for an
            open question no cue recognises.
        product_text: For ``retrieve``: the product description to search for.
    """

    kind: Kind
    attribute: str | None = None
    product_text: str | None = None


# --- retrieve patterns -------------------------------------------------------------------

_QUOTES = "「」『』“”\"'‘’《》【】`"
_END = r"[\s。．.！!？?]*$"
_LEAD = r"^(?:请你?|麻烦你?|帮我|请帮我|帮忙|给我|请给我|我想|我要)?\s*"
_FIND = (
    r"(?:匹配|找出|找到|查找|寻找|检索|搜索|搜出|挑选|挑出|选出|选择|给出|返回|列出|找一下|找|搜)"
)
_IMG = r"(?:商品图片|商品图|图片|图像|照片|相片|图|商品|产品)"
_REL = r"(?:最为|最|更加|更)?(?:相关|匹配|相似|相近|相符|符合|接近|对应|吻合|一致|契合)"
_QTY = r"(?:一张|一幅|几张|一些|一件|一款|一双|一个|一条|所有)?"

_RETRIEVE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
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
_X_TAIL = re.compile(r"\s*(?:这[个一段条])?(?:的)?(?:描述|说明|文字|文本|要求|条件)\s*$")
_SEARCH_VERBS = frozenset(
    ("匹配", "找出", "找到", "查找", "寻找", "检索", "搜索", "搜出", "挑选", "挑出", "选出")
    + ("找", "搜", "找找", "搜搜", "搜一搜")
)
_SEARCH_LEAD = re.compile(_LEAD + _FIND + r"(?:到|出|一下)?\s*" + _QTY + r"\s*")
_SEARCH_TAIL = re.compile(r"\s*(?:的)?\s*(?:图片|图像|照片|相片|商品图|商品|产品)?" + _END)

# --- attribute and describe cues ---------------------------------------------------------

_TOPIC_CUES: dict[str, tuple[str, ...]] = {
    "color": (r"颜色|什么色|啥色|哪种色|哪个色|何色|色系|配色|色调",),
    "material": (r"面料|材质|材料|质地|布料|料子|用料|成分|什么料|(?:什么|啥)做的|什么皮",),
    "gender": (
        r"性别|男女|[男女](?:款|式|装|士|性|生|的|鞋|孩|童)?还是[男女]",
        r"适合(?:男|女)|(?:给|送)(?:男|女)",
        r"^(?!.*(?:什么|啥|哪)).*[男女](?:款|式|装|士|性|生|孩|童|鞋|用|的).{0,6}(?:吗|么|嘛)"
        + _END,
    ),
    "usage": (
        r"场合|用途|场景|什么时候(?:穿|用|戴|背)|(?:穿|戴|背|用)去哪|做什么用|干什么用|适用于?什么",
    ),
    "style": (r"风格|什么风|哪种风|调性",),
    "shoes": (
        r"(?:搭配|搭|配|穿|脚上|脚穿)[^，,。？?]{0,6}[鞋靴]|[鞋靴][^，,。？?]{0,4}(?:搭配|配)",
        r"模特[^，,。？?]{0,8}[鞋靴]",
    ),
}
_TOPIC_ORDER: tuple[str, ...] = ("color", "material", "gender", "usage", "style", "shoes")
_DESCRIBE_CUE = re.compile(
    r"描述|描绘|介绍|说说|说一说|讲讲|讲一讲|说明一下|概括|概述|总结|详细信息|详情|"
    r"什么样子|长什么样|看看这|图(?:片|像)?(?:里|中|上)有(?:什么|哪些)(?:东西)?" + _END + "|"
    r"(?:写|生成|起).{0,4}(?:文案|描述|标题)"
)
_CATEGORY_CUE = re.compile(
    r"什么类型|什么类别|哪一?类|什么品类|品类|类别|类型|什么商品|什么产品|什么东西|什么物品|"
    r"什么单品|[一这那]\s*[款件双个条只顶副]\s*什么|什么样的|什么款|属于什么|"
    r"是(?:什么|啥)(?:衣服|服装|单品|鞋|包|饰品)|"
    r"^(?:这|那|图中|图里|图片中|图片里|照片中|它)\S{0,4}是(?:什么|啥)" + _END
)
_WEAK_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gender", re.compile(r"[男女](?:款|式|装|士|性|生|孩|童|鞋|用)|儿童|童装|中性")),
    ("usage", re.compile(r"适合|适用|穿去|用来")),
    ("shoes", re.compile(r"搭配|[鞋靴]")),
)
_INTERROGATIVE = re.compile(r"什么|啥|哪|吗|么|嘛|还是|是否|是不是|多少|怎样|怎么样|如何|何|几")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """A private jieba tokenizer (built on first use, so importing this module is cheap)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for word in ("男款", "女款", "男女通用", "什么样", "什么色", "找出", "找到", "搜出"):
        tokenizer.add_word(word)
    return tokenizer


_STOPWORDS = frozenset(
    ("的", "了", "是", "吗", "呢", "吧", "啊", "这", "那", "请", "个", "和", "与", "在", "有")
    + ("什么", "一", "把", "被", "对")
)


def tokens(text: str, *, stopwords: bool = True) -> list[str]:
    """Jieba tokens of ``text`` without whitespace and punctuation.

    Args:
        text: Any Chinese (or mixed) text.
        stopwords: Whether to keep function words such as 的, 是, 什么.

    Returns:
        The word tokens, lower-cased.
    """
    words = [t.lower() for t in _jieba().lcut(text) if re.search(r"[\w\u3400-\u9fff]", t)]
    return words if stopwords else [w for w in words if w not in _STOPWORDS]


def _normalise(question: str) -> str:
    text = question.replace("\u3000", " ").strip()
    return re.sub(r"\s+", " ", text)


def clean_product_text(text: str) -> str:
    """Strips quotes, whitespace and trailing punctuation from an extracted product text.

    Args:
        text: The raw product text taken from a retrieve question.

    Returns:
        The cleaned text (may be empty).
    """
    text = text.strip().strip(_QUOTES).strip()
    text = _X_TAIL.sub("", text)
    text = text.strip().strip(_QUOTES + "，,。.：:；;！!？? ").strip()
    return text


def extract_product_text(question: str) -> str | None:
    """Finds the product text of a retrieve question with the retrieve patterns.

    Args:
        question: A question such as ``请匹配到与 X 最相关的图片。``.

    Returns:
        ``X`` cleaned, or ``None`` when no retrieve pattern matches.
    """
    text = _normalise(question)
    for pattern in _RETRIEVE_PATTERNS:
        match = pattern.search(text)
        if match:
            product = clean_product_text(match.group("x"))
            if product:
                return product
    return None


def _spans(text: str, pattern: str | re.Pattern[str]) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(pattern, text)]


def _distance(span: tuple[int, int], others: Sequence[tuple[int, int]]) -> int:
    if not others:
        return 0
    return min(max(0, o[0] - span[1], span[0] - o[1]) for o in others)


def _topic_attribute(text: str) -> str | None:
    found: dict[str, list[tuple[int, int]]] = {}
    for attribute in _TOPIC_ORDER:
        spans = [s for p in _TOPIC_CUES[attribute] for s in _spans(text, p)]
        if spans:
            found[attribute] = spans
    if not found:
        return None
    questions = _spans(text, _INTERROGATIVE)

    def rank(attribute: str) -> tuple[int, int]:
        nearest = min(_distance(s, questions) for s in found[attribute])
        return nearest, _TOPIC_ORDER.index(attribute)

    return min(found, key=rank)


def _search_verb_product(text: str) -> str | None:
    if not _SEARCH_VERBS.intersection(_jieba().lcut(text)):
        return None
    product = _SEARCH_TAIL.sub("", _SEARCH_LEAD.sub("", text, count=1))
    product = clean_product_text(product)
    return product or None


def route(question: str) -> Route:
    """Routes a question by rules (regular expressions and jieba tokens).

    Args:
        question: The user's question, any phrasing.

    Returns:
        The :class:`Route`. Questions no cue recognises become
        ``Route("attribute", None, None)`` (an open question about the image).
    """
    text = _normalise(question)
    product = extract_product_text(text)
    if product is not None:
        return Route("retrieve", None, product)
    topic = _topic_attribute(text)
    if topic is not None:
        return Route("attribute", topic)
    if _DESCRIBE_CUE.search(text):
        return Route("describe")
    product = _search_verb_product(text)
    if product is not None:
        return Route("retrieve", None, product)
    if _CATEGORY_CUE.search(text):
        return Route("attribute", "category")
    for attribute, pattern in _WEAK_CUES:
        if pattern.search(text):
            return Route("attribute", attribute)
    return Route("attribute", None)


# --- embedding router --------------------------------------------------------------------


class SentenceEncoder(Protocol):
    """What :class:`EmbeddingRouter` needs: a sentence-transformers style ``encode``."""

    def encode(self, sentences: list[str]) -> Any:
        """Returns one embedding row per sentence."""
        ...


DEFAULT_EXAMPLES: Mapping[str, tuple[str, ...]] = {
    "retrieve": (
        "请匹配到与 黑色男士衬衫 最相关的图片。",
        "找出与白色运动鞋最匹配的图片",
        "哪张图片最符合红色连衣裙",
        "检索蓝色牛仔裤的图片",
        "帮我找一张女士手提包的照片",
    ),
    "describe": (
        "请对给定的图片进行描述。",
        "描述一下这张图片",
        "介绍一下图中的商品",
        "说说这张图里是什么",
        "请为这件商品写一段描述",
    ),
    "attribute:color": ("图中商品是什么颜色？", "这件衣服是什么色的", "这双鞋的颜色是？"),
    "attribute:category": ("这是一款什么商品？", "图中是什么类型的商品？", "这属于哪一类商品"),
    "attribute:gender": ("这是男款还是女款？", "图中是女款服装吗？", "这件适合男生还是女生"),
    "attribute:usage": ("这款商品适合什么场合？", "这件衣服适合什么时候穿", "它的用途是什么"),
    "attribute:material": ("这款衬衫的面料是什么？", "这件衣服是什么材质", "它是用什么做的"),
    "attribute:style": ("这件衣服是什么风格？", "这款包属于哪种风格", "图中服装的风格是"),
    "attribute:shoes": ("图中模特搭配了什么鞋子？", "模特脚上穿的是什么鞋", "这身衣服配了什么鞋"),
}


def _label_route(label: str, question: str) -> Route:
    if label == "retrieve":
        product = extract_product_text(question) or _search_verb_product(_normalise(question))
        return Route("retrieve", None, product or clean_product_text(question))
    if label == "describe":
        return Route("describe")
    if label.startswith("attribute:"):
        attribute = label.split(":", 1)[1]
        return Route("attribute", attribute if attribute in ATTRIBUTES else None)
    raise ValueError(
        f"unknown example label {label!r}: use 'retrieve', 'describe' or 'attribute:<name>' "
        f"with <name> in {ATTRIBUTES}"
    )


class EmbeddingRouter:
    """Routes by the nearest centroid of labelled example phrasings.

    Args:
        model: A sentence encoder, e.g. a ``sentence_transformers.SentenceTransformer``
            (anything with ``encode(list[str])`` returning one row per sentence).
        examples: ``{label: phrasings}`` with labels ``retrieve``, ``describe`` or
            ``attribute:<name>``; defaults to :data:`DEFAULT_EXAMPLES`.
        min_similarity: Below this cosine similarity to the best centroid the rule
            router decides.
        min_margin: Below this gap between the best and second-best centroid the rule
            router decides.

    Raises:
        ValueError: When a label is unknown or has no phrasings.
    """

    def __init__(
        self,
        model: SentenceEncoder,
        examples: Mapping[str, Sequence[str]] | None = None,
        *,
        min_similarity: float = 0.5,
        min_margin: float = 0.05,
    ) -> None:
        examples = DEFAULT_EXAMPLES if examples is None else examples
        for label, phrasings in examples.items():
            _label_route(label, "")
            if not phrasings:
                raise ValueError(f"example label {label!r} has no phrasings; give at least one")
        self.model = model
        self.labels = list(examples)
        self.min_similarity = min_similarity
        self.min_margin = min_margin
        centroids = []
        for label in self.labels:
            vectors = self._embed(list(examples[label]))
            centroids.append(vectors.mean(axis=0))
        self.centroids = _normalise_rows(np.stack(centroids))

    def _embed(self, sentences: list[str]) -> np.ndarray:
        vectors = np.asarray(self.model.encode(sentences), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(sentences):
            raise ValueError(
                f"the encoder returned shape {vectors.shape} for {len(sentences)} sentences; "
                "it must return one embedding row per sentence"
            )
        return _normalise_rows(vectors)

    def classify(self, question: str) -> tuple[str, float, float]:
        """Returns ``(best label, its cosine similarity, margin over the runner-up)``."""
        sims = self.centroids @ self._embed([question])[0]
        order = np.argsort(-sims)
        best = float(sims[order[0]])
        second = float(sims[order[1]]) if len(order) > 1 else -1.0
        return self.labels[int(order[0])], best, best - second

    def route(self, question: str) -> Route:
        """Routes ``question``; the rule router decides when the centroids are unsure.

        Args:
            question: The user's question.

        Returns:
            The :class:`Route`.
        """
        label, similarity, margin = self.classify(question)
        if similarity < self.min_similarity or margin < self.min_margin:
            return route(question)
        return _label_route(label, question)


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


# --- question report ---------------------------------------------------------------------


def tfidf(documents: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """TF-IDF matrix of tokenised documents, rows L2-normalised.

    Uses raw term counts and the smoothed IDF ``log((1 + n) / (1 + df)) + 1``.

    Args:
        documents: One token list per document.

    Returns:
        ``(matrix of shape (n_documents, n_terms), terms)``.
    """
    terms = sorted({t for doc in documents for t in doc})
    index = {t: i for i, t in enumerate(terms)}
    counts = np.zeros((len(documents), len(terms)))
    for row, doc in enumerate(documents):
        for term in doc:
            counts[row, index[term]] += 1
    df = (counts > 0).sum(axis=0)
    idf = np.log((1 + len(documents)) / (1 + df)) + 1
    return _normalise_rows(counts * idf), terms


def kmeans(
    points: np.ndarray, k: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """K-means with k-means++ seeding; deterministic for a given ``seed``.

    Args:
        points: ``(n, d)`` data.
        k: Number of clusters, ``1 <= k <= n``.
        seed: Random seed.
        n_init: Restarts; the run with the lowest inertia wins.
        max_iter: Iterations per restart.

    Returns:
        ``(labels of shape (n,), centres of shape (k, d))``.

    Raises:
        ValueError: When ``k`` is out of range.
    """
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = points[[int(rng.integers(n))]]
        while len(centres) < k:
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1).min(axis=1)
            total = d2.sum()
            probs = d2 / total if total > 0 else np.full(n, 1 / n)
            centres = np.vstack([centres, points[int(rng.choice(n, p=probs))]])
        labels = np.zeros(n, dtype=int)
        for iteration in range(max_iter):
            d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
            new_labels = d2.argmin(axis=1)
            if iteration > 0 and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for c in range(k):
                members = points[labels == c]
                if len(members):
                    centres[c] = members.mean(axis=0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0] - 1e-12:
            best = (inertia, labels.copy(), centres.copy())
    return best[1], best[2]  # type: ignore[index]


def choose_k(n_distinct: int) -> int:
    """The default cluster count: ``round(sqrt(n_distinct / 2))`` clamped to [2, 12].

    Args:
        n_distinct: Number of distinct questions.

    Returns:
        A cluster count no larger than ``n_distinct`` (and at least 1).
    """
    return max(1, min(n_distinct, max(2, min(12, round(math.sqrt(n_distinct / 2))))))


def question_report(questions: list[str], k: int | None = None, *, seed: int = 0) -> dict:
    """Summarises a question set: kinds, attributes, and clusters of similar phrasings.

    Args:
        questions: The questions, e.g. the ``question`` fields of a ``query.json``.
        k: Number of clusters; ``None`` chooses with :func:`choose_k`.
        seed: Seed for k-means.

    Returns:
        ``{"n", "kinds", "attributes", "k", "clusters"}``: ``kinds`` and
        ``attributes`` count the rule router's decisions (an open attribute question
        counts as ``"open"``); each cluster has ``size``, ``examples`` (up to three
        distinct questions nearest its centre), ``top_terms`` and ``kinds``; clusters
        are sorted by size, largest first.

    Raises:
        ValueError: When ``k`` is less than 1.
    """
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    routes = [route(q) for q in questions]
    kinds = Counter(r.kind for r in routes)
    attributes = Counter(r.attribute or "open" for r in routes if r.kind == "attribute")
    report: dict[str, Any] = {
        "n": len(questions),
        "kinds": dict(kinds.most_common()),
        "attributes": dict(attributes.most_common()),
        "k": 0,
        "clusters": [],
    }
    if not questions:
        return report
    docs = [tokens(q, stopwords=False) or [q.strip() or "∅"] for q in questions]
    matrix, terms = tfidf(docs)
    n_distinct = len({tuple(d) for d in docs})
    k = choose_k(n_distinct) if k is None else min(k, n_distinct)
    labels, centres = kmeans(matrix, k, seed=seed)
    clusters = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        distance = ((matrix[members] - centres[c]) ** 2).sum(axis=1)
        examples: list[str] = []
        for i in members[np.argsort(distance, kind="stable")]:
            if questions[i] not in examples:
                examples.append(questions[i])
            if len(examples) == 3:
                break
        top = [terms[j] for j in np.argsort(-centres[c], kind="stable")[:5] if centres[c][j] > 0]
        member_kinds = Counter(
            routes[i].kind if routes[i].kind != "attribute" else f"attribute:{routes[i].attribute}"
            for i in members
        )
        clusters.append(
            {
                "size": len(members),
                "examples": examples,
                "top_terms": top,
                "kinds": dict(member_kinds.most_common()),
            }
        )
    clusters.sort(key=lambda c: -c["size"])
    report["k"] = k
    report["clusters"] = clusters
    return report


def format_question_report(report: Mapping[str, Any]) -> str:
    """Renders :func:`question_report` output as plain text for the terminal.

    Args:
        report: The dictionary :func:`question_report` returned.

    Returns:
        A multi-line string.
    """
    n = report["n"]

    def share(count: int) -> str:
        return f"{count:>5}  {count / n:6.1%}" if n else f"{count:>5}"

    lines = [f"questions: {n}", "", "kinds (rule router):"]
    lines += [f"  {kind:<10}{share(count)}" for kind, count in report["kinds"].items()]
    lines += ["", "attributes:"]
    lines += [f"  {name:<10}{share(count)}" for name, count in report["attributes"].items()]
    lines += ["", f"clusters (TF-IDF over jieba tokens, k-means, k={report['k']}):"]
    for i, cluster in enumerate(report["clusters"], 1):
        kinds = ", ".join(f"{k} {v}" for k, v in cluster["kinds"].items())
        lines.append(f"  #{i}  size {cluster['size']}  terms: {' '.join(cluster['top_terms'])}")
        lines.append(f"      routes: {kinds}")
        lines += [f"      - {q}" for q in cluster["examples"]]
    return "\n".join(lines)
