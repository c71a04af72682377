"""Scores answers against a ground truth in the catalog-dev format.

Metrics (see the data set's README):

- ``retrieve_r1/5/10``: the ranked list is the answer followed by the cited images;
  recall@k is the share of retrieve questions whose first accepted image ranks ≤ k.
- ``acc_<type>`` for color, category, gender, usage: the answer states an accepted value
  (:func:`states`: as written, or a variant spelling of the same canonical value).
- ``describe_coverage``: share of the truth's attribute words the answer states.
- ``describe_rouge_l``: character-level ROUGE-L F1 of answer vs truth (whitespace ignored).
- ``citation_valid``: share of answers with at least one citation, all of them non-empty
  image file names (and, with ``catalog_files``, files of the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.attributes.tokens import tokenize
from ingest.attributes.words import base_surfaces, longest_base_surface
from ingest.images import IMAGE_EXTENSIONS
from service.answering.citations import extract_citations

#: Attribute kinds whose words have canonical values (男/男款/男士 → 男士).
_CANONICAL_KINDS = frozenset({"gender", "color", "usage", "category"})

ATTRIBUTE_TYPES: tuple[str, ...] = ("color", "category", "gender", "usage")
METRIC_KEYS: tuple[str, ...] = (
    "n",
    "retrieve_r1",
    "retrieve_r5",
    "retrieve_r10",
    "acc_color",
    "acc_category",
    "acc_gender",
    "acc_usage",
    "describe_coverage",
    "describe_rouge_l",
    "citation_valid",
)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence of two strings.

    Args:
        a: First string.
        b: Second string.

    Returns:
        The LCS length.
    """
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for char in a:
        current = [0]
        for j, other in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if char == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """Character-level ROUGE-L F1, ignoring whitespace.

    Args:
        candidate: The generated text.
        reference: The reference text.

    Returns:
        ``2PR / (P + R)`` over characters, 0.0 when either side is empty.
    """
    c = "".join(candidate.split())
    r = "".join(reference.split())
    if not c or not r:
        return 0.0
    lcs = lcs_length(c, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def states(answer: str, word: str) -> bool:
    """Whether an answer states an accepted attribute value.

    A word the general attribute vocabulary knows (:mod:`ingest.attributes.words`) is compared
    by canonical value: truth ``男`` accepts ``男士``/``男款``, ``蓝色`` accepts ``蓝色系`` and
    ``深蓝色`` (a value that contains it), but ``女`` does not accept ``男女通用`` (another
    value of the same field). Other words must occur in the answer as written.

    Args:
        answer: The answer text.
        word: An accepted value from the truth, e.g. ``"男"`` or ``"藏青色"``.

    Returns:
        Whether the answer states it.
    """
    known = base_surfaces().get(word)
    if known is None or known[0] not in _CANONICAL_KINDS:
        return word in answer
    kind, value = known
    spans: list[tuple[int, int, str]] = []
    start = 0
    for token in tokenize(answer, base_surfaces(), longest_base_surface()):
        if token.kind == kind:
            if value in token.value:
                return True
            spans.append((start, start + len(token.text), token.value))
        start += len(token.text)
    for i in range(len(answer) - len(word) + 1):
        if answer.startswith(word, i):
            inside = any(a <= i and i + len(word) <= b for a, b, _ in spans)
            if not inside:  # written outside a word of the same field (e.g. in a longer name)
                return True
    return False


def _citation_images(citations: Any) -> list[Any]:
    if not isinstance(citations, list):
        return [None]
    return [c.get("image") if isinstance(c, Mapping) else c for c in citations]


def _names_image(value: Any, catalog_files: set[str] | None) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    if not value.lower().endswith(tuple(f".{e}" for e in IMAGE_EXTENSIONS)):
        return False
    return catalog_files is None or value in catalog_files


def _answer_file(answer: str) -> str:
    answer = answer.strip()
    found = extract_citations(answer)
    return found[0] if found else answer


def _retrieve_rank(output: Mapping[str, Any], accept: set[str]) -> int | None:
    ranked: list[str] = []
    for item in [_answer_file(str(output.get("answer") or ""))] + _citation_images(
        output.get("citations") or []
    ):
        if isinstance(item, str) and item and item not in ranked:
            ranked.append(item)
    return next((i for i, f in enumerate(ranked, 1) if f in accept), None)


def evaluate(outputs: list[dict], truth: list[dict], catalog_files: set[str] | None = None) -> dict:
    """Scores answered questions against the ground truth, aligned by position.

    Args:
        outputs: ``query.json`` entries with ``answer`` filled and ``citations``
            (``[{"image", "caption", "score"}]``; for retrieve, the ranked candidates).
        truth: ``answers.json`` entries (``type``, ``answer``, ``accept``/``attributes``).
        catalog_files: When given, a citation is valid only if it names one of these.

    Returns:
        The metrics, keys in the order of :data:`METRIC_KEYS` (``None`` where the truth
        has no question of that kind), followed by ``count_<type>`` per truth type and
        ``acc_<type>`` for other attribute types found in the truth.

    Raises:
        ValueError: When the lists differ in length.
    """
    if len(outputs) != len(truth):
        raise ValueError(
            f"outputs has {len(outputs)} entries but truth has {len(truth)}; they are "
            "aligned by position, so pass the answers for every question of query.json"
        )
    ranks: list[int | None] = []
    correct: dict[str, list[float]] = {}
    coverage: list[float] = []
    rouge: list[float] = []
    valid: list[float] = []
    counts: dict[str, int] = {}
    for output, expected in zip(outputs, truth, strict=True):
        kind = str(expected.get("type", ""))
        counts[kind] = counts.get(kind, 0) + 1
        answer = str(output.get("answer") or "")
        images = _citation_images(output.get("citations") or [])
        valid.append(float(bool(images) and all(_names_image(i, catalog_files) for i in images)))
        if kind == "retrieve":
            accept = set(expected.get("accept") or [expected.get("answer")])
            ranks.append(_retrieve_rank(output, accept))
        elif kind == "describe":
            words = list(expected.get("attributes") or [])
            if words:
                coverage.append(sum(states(answer, w) for w in words) / len(words))
            rouge.append(rouge_l(answer, str(expected.get("answer") or "")))
        elif kind:
            accept = [w for w in expected.get("accept") or [expected.get("answer")] if w]
            correct.setdefault(kind, []).append(float(any(states(answer, w) for w in accept)))

    def recall(k: int) -> float | None:
        return _mean([float(r is not None and r <= k) for r in ranks])

    metrics: dict[str, Any] = {
        "n": len(outputs),
        "retrieve_r1": recall(1),
        "retrieve_r5": recall(5),
        "retrieve_r10": recall(10),
        **{f"acc_{t}": _mean(correct.get(t, [])) for t in ATTRIBUTE_TYPES},
        "describe_coverage": _mean(coverage),
        "describe_rouge_l": _mean(rouge) if counts.get("describe") else None,
        "citation_valid": _mean(valid),
    }
    for kind, values in correct.items():
        if kind not in ATTRIBUTE_TYPES:
            metrics[f"acc_{kind}"] = _mean(values)
    for kind, count in sorted(counts.items()):
        metrics[f"count_{kind or 'untyped'}"] = count
    return metrics


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """Renders metrics as an aligned two-column table.

    Args:
        metrics: The dictionary :func:`evaluate` returned.

    Returns:
        One line per metric: name, then the value (shares with three decimals,
        ``n/a`` for ``None``).
    """
    width = max((len(k) for k in metrics), default=0)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    for key, value in metrics.items():
        if value is None:
            shown = "n/a"
        elif isinstance(value, int):
            shown = str(value)
        elif isinstance(value, float):
            shown = f"{value:.3f}"
        else:
            shown = str(value)
        lines.append(f"{key:<{width}}  {shown:>5}")
    return "\n".join(lines)
