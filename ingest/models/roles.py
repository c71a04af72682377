"""The two roles a CLIP model plays: embedding documents and embedding queries.

Documents (catalog photos and captions, at ``tuwen ingest`` and at HTTP upload) are stored, so
their caption vectors always come from the float text tower: a caption gets the same vector
whichever way it enters the catalog. Queries are embedded per request and may run the text
tower in int8 (faster on a CPU, within cosine 0.999 of float's). Both roles use the same image
tower (int8 on the CPU when ``image_int8`` is set), and the query role shares every float weight
of the document role: only its int8 text tower is extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ingest.models.clip import ClipEncoder
from ingest.models.fingerprint import Fingerprint
from ingest.models.lazy import LazyClipEncoder
from ingest.settings import DEFAULT_CLIP_MODEL, Settings

if TYPE_CHECKING:
    from ingest.store import Store


@dataclass(frozen=True)
class Encoders:
    """One CLIP model in its two roles.

    Attributes:
        document: Embeds what is stored: photos and captions (float text tower).
        query: Embeds questions and query photos (text tower possibly int8); the same object as
            ``document`` when nothing differs.
    """

    document: ClipEncoder
    query: ClipEncoder

    @property
    def fingerprint(self) -> Fingerprint:
        """The model's fingerprint (the same for both roles)."""
        return self.document.fingerprint


def load_encoders(
    name_or_dir: str | Path,
    *,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    image_int8: bool = True,
    text_int8: bool = True,
    int8_runtime: str = "auto",
    cache_dir: str | Path | None = None,
    calibration: Sequence[str | Path] = (),
    lazy: bool = False,
) -> Encoders:
    """Load a CLIP model as :class:`Encoders`.

    Args:
        name_or_dir: Hub id or local directory (``TUWEN_CLIP_MODEL``).
        revision, device, dtype, int8_runtime, cache_dir, calibration: As
            :meth:`ClipEncoder.from_pretrained` takes them.
        image_int8: Run the image tower in int8 on the CPU, for both roles.
        text_int8: Run the query role's text tower in int8 on the CPU.
        lazy: Load the weights on first use; the fingerprint is read at once (from the config).

    Raises:
        ModelNotFound: the model cannot be loaded (or, with ``lazy``, its config read).
    """
    options: dict[str, Any] = {
        "revision": revision,
        "device": device,
        "dtype": dtype,
        "int8": ("vision",) if image_int8 else (),
        "int8_runtime": int8_runtime,
        "cache_dir": cache_dir,
        "calibration": calibration,
    }
    if lazy:
        # A stand-in with the same methods, loading when first used.
        document = cast(ClipEncoder, LazyClipEncoder(name_or_dir, **options))
    else:
        document = ClipEncoder.from_pretrained(name_or_dir, **options)
    query = document.with_int8(("text",), int8_runtime, cache_dir) if text_int8 else document
    return Encoders(document=document, query=query)


def encoders_for(
    settings: Settings,
    store: Store | None,
    *,
    lazy: bool = False,
    calibration: Sequence[str | Path] = (),
) -> Encoders:
    """The CLIP model to use with ``store``, in its document and query roles.

    The model is the one set (``clip_model``), else the one the collection was built with,
    else the default for a new collection. Documents get the float text tower; queries get the
    int8 one when ``text_int8`` is set (on a CPU). ``lazy`` defers loading the weights until
    they are needed (the fingerprint is known at once). ``calibration``: the catalog's photos,
    when an int8 image tower may need calibrating (OpenVINO).

    Args:
        settings: The model, device, dtype and int8 settings.
        store: The store whose collection names the model when ``clip_model`` is unset (may be
            ``None`` when it is set).
        lazy: Load on first use.

    Raises:
        ModelNotFound: the model cannot be loaded.
    """
    name = settings.clip_model
    if not name:
        fp = store.stored_fingerprint() if store is not None else None
        name = fp.model if fp else DEFAULT_CLIP_MODEL
    return load_encoders(
        name,
        revision=settings.clip_revision,
        device=settings.device,
        dtype=settings.dtype,
        image_int8=settings.image_int8,
        text_int8=settings.text_int8,
        int8_runtime=settings.int8_runtime,
        cache_dir=settings.cache_dir,
        calibration=calibration,
        lazy=lazy,
    )
