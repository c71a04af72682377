"""The VQA+LLM prompt: files in ``prompts/`` rendered with langchain-core templates.

Retrieved captions go inside a ``<data>`` block as quoted data: newlines, angle
brackets, square brackets and corner quotes in them are replaced by look-alike
characters, so no caption can close the block, open a new line posing as an
instruction, or forge a citation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate, PromptTemplate

import prompts
from ingest.attributes import ATTRIBUTE_LABELS
from ingest.hits import Hit
from service.routing import Route

#: The prompt files shipped in the ``prompts`` package (package data, found when installed).
DEFAULT_PROMPTS_DIR = prompts.directory()

_INSTRUCTION_FILES = {"describe": "describe.txt", "attribute": "attribute.txt"}
_ESCAPES = str.maketrans(
    {
        "<": "＜",
        ">": "＞",
        "[": "［",
        "]": "］",
        "「": "『",
        "」": "』",
        "\r": " ",
        "\n": " ",
        "\t": " ",
        "\u2028": " ",
        "\u2029": " ",
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt.

    Attributes:
        messages: Chat messages (``{"role", "content"}``) for a chat template or an
            OpenAI-compatible server.
        candidates: The candidates that fit the token budget, best first.
        text: A flat rendering of all messages (what the budget counts).
    """

    messages: list[dict[str, str]]
    candidates: list[Hit] = field(default_factory=list)
    text: str = ""


def quote_data(text: str) -> str:
    """Neutralises text placed inside the data block.

    Replaces ``< > [ ] 「 」`` with full-width look-alikes, line breaks and tabs with
    spaces, and drops other control characters.

    Args:
        text: A caption or file name.

    Returns:
        Text that cannot end the data block, start a new line, or form a citation.
    """
    return _CONTROL.sub("", text.translate(_ESCAPES)).strip()


def _neutralise_tags(text: str) -> str:
    return re.sub(r"<\s*(/?)\s*data\s*>", lambda m: f"＜{m.group(1)}data＞", text, flags=re.I)


def _read(prompts_dir: Path, name: str) -> str:
    path = prompts_dir / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"prompt file {path} is missing: restore it from the repository's prompts/ "
            "directory or pass prompts_dir= pointing at a directory that has it"
        ) from e


def _instruction(prompts_dir: Path, route: Route) -> str:
    name = _INSTRUCTION_FILES[route.kind]
    template = PromptTemplate.from_template(_read(prompts_dir, name))
    label = ATTRIBUTE_LABELS.get(route.attribute, route.attribute or "")
    values = {"attribute_label": label} if "attribute_label" in template.input_variables else {}
    return template.format(**values)


def _candidate_lines(candidates: Sequence[Hit]) -> str:
    if not candidates:
        return "（无）"
    lines = []
    for i, hit in enumerate(candidates, 1):
        caption = quote_data(hit.caption) if hit.caption else "（无说明）"
        lines.append(f"{i}. [{quote_data(hit.file)}] 相似度 {hit.score:.3f} 说明：「{caption}」")
    return "\n".join(lines)


def vqa_lines(vqa: Mapping[str, Sequence[tuple[str, float]] | None]) -> str:
    """The VQA candidates as the data block lists them, VLE's way
    (``VQA 候选答案：黑色 0.71、藏青色 0.18``), one line per field when there are several.

    Args:
        vqa: Field → ``(value, probability)`` candidates, best first; ``None``: no caption of
            the catalog states the field.

    Returns:
        The lines (empty without candidates), starting with a line break.
    """

    def one(name: str, cands: Sequence[tuple[str, float]] | None) -> str:
        if cands is None:
            return f"目录中没有关于{_field_label(name)}的信息"
        return "、".join(f"{quote_data(v)} {p:.2f}" for v, p in cands)

    if not vqa:
        return ""
    if len(vqa) == 1:
        ((name, cands),) = vqa.items()
        return f"\nVQA 候选答案：{one(name, cands)}"
    rows = [f"- {_field_label(n)}：{one(n, c)}" for n, c in vqa.items()]
    return "\nVQA 候选答案：\n" + "\n".join(rows)


def _field_label(name: str) -> str:
    return "品牌" if name == "brand" else ATTRIBUTE_LABELS.get(name, name)


def _render(
    template: ChatPromptTemplate,
    question: str,
    candidates: Sequence[Hit],
    own_caption: str | None,
    instruction: str,
    photo_note: str = "",
    vqa: str = "",
) -> tuple[list[dict[str, str]], str]:
    own = f"提问图片自身的目录说明：「{quote_data(own_caption)}」\n" if own_caption else ""
    own = photo_note + own
    messages = template.format_messages(
        own_caption=own,
        candidates=_candidate_lines(candidates) + vqa,
        question=_neutralise_tags(question.strip()),
        instruction=instruction,
    )
    dicts = [{"role": _ROLES.get(m.type, m.type), "content": str(m.content)} for m in messages]
    text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in dicts)
    return dicts, text


def build_prompt(
    question: str,
    route: Route,
    candidates: list[Hit],
    own_caption: str | None = None,
    token_budget: int = 1500,
    count_tokens: Callable[[str], int] | None = None,
    prompts_dir: Path | None = None,
    *,
    photo_attached: bool = False,
    photo_file: str | None = None,
    vqa: Mapping[str, Sequence[tuple[str, float]] | None] | None = None,
) -> Prompt:
    """Renders the answer prompt and fits it into a token budget.

    Candidates are listed best first; while the prompt is over budget the candidate with
    the lowest score is dropped. When even no candidates fit, the prompt is returned
    without candidates (over budget).

    Args:
        question: The user's question (placed outside the data block).
        route: The routed question (``describe`` or ``attribute``); selects the
            instruction file.
        candidates: Retrieved products.
        own_caption: The questioned image's own caption, when the catalog has one.
        token_budget: Maximum size of :attr:`Prompt.text` in tokens.
        count_tokens: Token counter; default: number of characters.
        prompts_dir: Directory holding ``system.txt``, ``answer.txt`` and the
            instruction files; default: the bundled ``prompts`` package.
        photo_attached: The questioned photo goes with the message (a vision model): the
            data block names it (``photo_file``, a catalog file it may cite) and
            ``vision.txt`` is added to the instruction.
        photo_file: The photo's catalog file, or ``None`` for an upload.
        vqa: The VQA stage's candidates (:meth:`service.answering.vqa.Vqa.prompt_candidates`):
            listed after the candidate products (:func:`vqa_lines`), and ``vqa.txt`` is added
            to the instruction. They are kept whatever the budget.

    Returns:
        The :class:`Prompt`.

    Raises:
        ValueError: When ``token_budget`` is not positive, or for a ``retrieve`` question
            (retrieval answers those: the best file, with the ranking as citations).
        FileNotFoundError: When a prompt file is missing.
    """
    if token_budget <= 0:
        raise ValueError(f"token_budget must be positive, got {token_budget}")
    if route.kind not in _INSTRUCTION_FILES:
        raise ValueError(
            f"no prompt for a {route.kind!r} question: retrieval answers it without a model"
        )
    directory = Path(prompts_dir) if prompts_dir is not None else DEFAULT_PROMPTS_DIR
    count = count_tokens or len
    template = ChatPromptTemplate.from_messages(
        [("system", _read(directory, "system.txt")), ("human", _read(directory, "answer.txt"))]
    )
    instruction = _instruction(directory, route)
    photo_note = ""
    if photo_attached:
        instruction += "\n" + _read(directory, "vision.txt")
        name = f"[{quote_data(photo_file)}]" if photo_file else "上传的照片，没有文件名"
        photo_note = f"提问图片：{name}（附在本消息中）\n"
    vqa_text = vqa_lines(vqa or {})
    if vqa_text:
        instruction += "\n" + _read(directory, "vqa.txt")
    kept = sorted(candidates, key=lambda h: -h.score)
    while True:
        messages, text = _render(
            template, question, kept, own_caption, instruction, photo_note=photo_note, vqa=vqa_text
        )
        if count(text) <= token_budget or not kept:
            return Prompt(messages=messages, candidates=list(kept), text=text)
        kept = kept[:-1]
