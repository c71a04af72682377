"""``model.generate`` in a worker thread, its text streamed back piece by piece (every local
transformers backend: chat models and vision-language models alike)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from service.generation.base import GeneratorUnavailable

__all__ = ["stream_generate"]


def stream_generate(
    model: Any,
    tokenizer: Any,
    inputs: dict[str, Any],
    *,
    max_new_tokens: int,
    generation_kwargs: dict[str, Any],
    timeout: float,
    name: str,
) -> Iterator[str]:
    """Yields the decoded text of ``model.generate(**inputs)`` as it is produced.

    Closing the iterator stops generation at the next token (a stopping criterion watches for
    it) and waits for the worker thread to end.

    Args:
        model: A loaded transformers model with ``generate``.
        tokenizer: Decodes the new tokens (special tokens skipped).
        inputs: Model inputs already on the model's device (``input_ids``, ``pixel_values``...).
        max_new_tokens: Upper bound on generated tokens.
        generation_kwargs: Further ``generate`` arguments (e.g. ``do_sample``).
        timeout: Seconds to wait for the next piece before giving up.
        name: The backend in words, for error messages.

    Raises:
        GeneratorUnavailable: When generation fails or stalls for ``timeout`` seconds.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    streamer = TextIteratorStreamer(
        tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout
    )
    stop = threading.Event()

    class _StopWhenClosed(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full(
                (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
            )

    pad = getattr(tokenizer, "pad_token_id", None)
    kwargs = {
        **inputs,
        **generation_kwargs,
        "max_new_tokens": max_new_tokens,
        "streamer": streamer,
        "stopping_criteria": StoppingCriteriaList([_StopWhenClosed()]),
        "pad_token_id": pad if pad is not None else getattr(tokenizer, "eos_token_id", None),
    }
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)
            streamer.end()

    thread = threading.Thread(target=run, name="tuwen-generate", daemon=True)
    thread.start()
    try:
        for piece in streamer:
            if piece:
                yield piece
    except queue.Empty as e:
        raise GeneratorUnavailable(
            f"{name} produced no text for {timeout:.0f} s; generation gave up"
        ) from e
    finally:
        stop.set()
        thread.join(timeout=timeout)
    if errors:
        raise GeneratorUnavailable(f"generation with {name} failed: {errors[0]}") from errors[0]
