"""What identifies a collection's vector space: the model, its revision and its dimension.

Reading a fingerprint needs the model's config only (no weights, no torch), so the store and
planning code can check a collection against a model before anything is loaded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ingest.models.device import offline


class ModelNotFound(RuntimeError):
    """The model could not be loaded; the message says which setting to change."""


@dataclass(frozen=True)
class Fingerprint:
    """The model, its revision and the dimension of its vectors."""

    model: str
    revision: str
    dim: int

    def to_dict(self) -> dict:
        """The fingerprint as JSON-ready data (stored with the collection)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Fingerprint:
        """Read back what :meth:`to_dict` wrote."""
        return cls(model=str(d["model"]), revision=str(d["revision"]), dim=int(d["dim"]))


#: Files in a model directory that are not the model: the answer heads trained beside it
#: (:mod:`ingest.vqa.heads`), which can be retrained without changing the model's vectors,
#: and the report of the run that trained it (``tuwen finetune``'s ``training.json``: two
#: reproducible runs train the same weights but time them differently).
NOT_THE_MODEL = ("vqa_heads.", ".vqa_heads.", "training.json")
#: What a revision left out before ``training.json`` was (collections made then recorded such
#: revisions; :func:`same_model` still accepts them).
_EARLIER_NOT_THE_MODEL = ("vqa_heads.", ".vqa_heads.")


def local_revision(path: Path, left_out: tuple[str, ...] = NOT_THE_MODEL) -> str:
    """A cheap content revision of a local model directory (config + weight file samples;
    files whose names start with one of ``left_out`` are not read)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        f = path / name
        if not f.is_file() or name.startswith(left_out):
            continue
        if name.endswith(".json") or name.endswith(".txt"):
            h.update(name.encode() + f.read_bytes())
        elif name.endswith((".safetensors", ".bin", ".pt")):
            size = f.stat().st_size
            h.update(f"{name}:{size}".encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    h.update(fh.read(1 << 20))
    return "local-" + h.hexdigest()[:16]


def same_model(stored: Fingerprint, current: Fingerprint) -> bool:
    """Whether a collection's recorded fingerprint names the current model: the same, or the
    same local directory unchanged since the collection recorded its revision under the
    earlier rule (``training.json`` read too)."""
    if stored == current:
        return True
    if (stored.model, stored.dim) != (current.model, current.dim):
        return False
    local = Path(current.model)
    return local.is_dir() and stored.revision == local_revision(local, _EARLIER_NOT_THE_MODEL)


def fingerprint_from_config(name: str, config: Any, revision: str | None) -> Fingerprint:
    """The fingerprint of model ``name`` (hub id or local directory) with this config.

    A local directory is named by its resolved path and revised by its content; a hub model by
    its id and the commit the config came from.
    """
    local = Path(name).expanduser()
    if local.is_dir():
        model, rev = str(local.resolve()), local_revision(local)
    else:
        model, rev = name, getattr(config, "_commit_hash", None) or revision or "main"
    dim = int(getattr(config, "projection_dim", 0) or config.text_config.hidden_size)
    return Fingerprint(model=model, revision=rev, dim=dim)


def hub_kwargs(name: str, revision: str | None) -> tuple[str, dict]:
    """The source to load ``name`` from and the ``from_pretrained`` keywords for it: a local
    directory is read as is (no hub access), a hub id at ``revision``, offline when the hub is
    switched off."""
    local = Path(name).expanduser()
    is_local = local.is_dir()
    kw: dict = {"revision": revision} if revision and not is_local else {}
    if offline() or is_local:
        kw["local_files_only"] = True
    return (str(local.resolve()) if is_local else name), kw


def fingerprint_of(name_or_dir: str | Path, revision: str | None = None) -> Fingerprint:
    """The fingerprint :meth:`ingest.models.clip.ClipEncoder.from_pretrained` would give, from
    the config alone (no weights loaded).

    Raises:
        ModelNotFound: the config cannot be read; the message names ``TUWEN_CLIP_MODEL``.
    """
    from transformers import AutoConfig

    name = str(name_or_dir)
    source, kw = hub_kwargs(name, revision)
    try:
        config = AutoConfig.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        raise ModelNotFound(
            f"cannot read the config of CLIP model {name!r}: {str(e).splitlines()[0]}. Set "
            "TUWEN_CLIP_MODEL (or --clip-model) to a local model directory."
        ) from e
    return fingerprint_from_config(name, config, revision)
