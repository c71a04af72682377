"""Collection settings for large catalogs: quantization, on-disk storage, shards and replicas.

A collection's settings are fixed when it is created and recorded in its metadata (under
``layout``). An existing collection keeps its own: settings that ask for something else are
reported (:func:`report_mismatch`) and the stored ones are used.

- ``quantization="int8"``: Qdrant scalar quantization of the dense vectors, the int8 copy kept
  in RAM (``always_ram``); searches score with it, oversample and rescore the best candidates
  with the original vectors.
- ``on_disk="vectors"``: the original dense vectors are memory-mapped from disk (with int8 in
  RAM, only the rescoring reads them); ``"all"``: the HNSW graph and the payloads too.
- ``shards``, ``replicas``, ``write_consistency``: a Qdrant server's collection layout (a
  cluster); Qdrant Edge has one shard and ignores them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger("tuwen")

LAYOUT = "layout"  # the key of the settings in the collection's metadata
QUANTILE = 0.99  # int8 range: the 0.5–99.5 % quantiles of each vector component
OVERSAMPLING = 2.0  # candidates scored with int8 per hit, rescored with the originals

Quantization = Literal["none", "int8"]
OnDisk = Literal["none", "vectors", "all"]


@dataclass(frozen=True)
class CollectionConfig:
    """How a collection stores its vectors.

    Attributes:
        quantization: ``"int8"`` (scalar quantization, in RAM, rescored) or ``"none"``.
        on_disk: ``"none"``, ``"vectors"`` (original dense vectors on disk) or ``"all"``
            (vectors, HNSW graph and payloads on disk).
        shards: Shards of a server collection (``TUWEN_QDRANT_SHARDS``).
        replicas: Copies of each shard (``TUWEN_QDRANT_REPLICAS``).
        write_consistency: Replicas that must acknowledge a write
            (``TUWEN_QDRANT_WRITE_CONSISTENCY``).
        explicit: Whether the storage was asked for (``TUWEN_QUANTIZATION`` or
            ``TUWEN_ON_DISK`` set): only then does a collection with other storage warn.
    """

    quantization: Quantization = "none"
    on_disk: OnDisk = "none"
    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    explicit: bool = field(default=True, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectionConfig:
        """The settings' ``quantization``, ``on_disk``, ``qdrant_shards``, ``qdrant_replicas``
        and ``qdrant_write_consistency``."""
        return cls(
            quantization=settings.quantization or "none",
            on_disk=settings.on_disk or "none",
            explicit=settings.quantization is not None or settings.on_disk is not None,
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            write_consistency=settings.qdrant_write_consistency,
        )

    @classmethod
    def from_metadata(cls, meta: dict) -> CollectionConfig:
        """The settings recorded with a collection; a collection made before they were
        recorded is unquantized and in RAM."""
        stored = meta.get(LAYOUT) or {}
        known = {
            k: v for k, v in stored.items() if k in cls.__dataclass_fields__ and k != "explicit"
        }
        return cls(**known)

    def to_metadata(self) -> dict:
        """The settings as recorded in the collection's metadata."""
        return {
            LAYOUT: {
                "quantization": self.quantization,
                "on_disk": self.on_disk,
                "shards": self.shards,
                "replicas": self.replicas,
                "write_consistency": self.write_consistency,
            }
        }

    @property
    def quantized(self) -> bool:
        """Whether searches score with int8 and rescore."""
        return self.quantization == "int8"

    def storage(self) -> tuple[str, str]:
        """What two configs must share to be the same collection (not the cluster layout,
        which a server may change on its own)."""
        return self.quantization, self.on_disk


def report_mismatch(stored: CollectionConfig, wanted: CollectionConfig, where: str) -> bool:
    """Log when the settings ask for other storage than the collection has.

    Args:
        stored: The collection's settings.
        wanted: The settings' (``TUWEN_QUANTIZATION``, ``TUWEN_ON_DISK``).
        where: The collection and its location, for the message.

    Returns:
        Whether they differ (settings that name no storage never do); the stored settings
        are used either way.
    """
    if not wanted.explicit or stored.storage() == wanted.storage():
        return False
    log.warning(
        "collection %s was created with TUWEN_QUANTIZATION=%s TUWEN_ON_DISK=%s; the settings "
        "ask for %s/%s. The collection's own settings are used: to change them, ingest into a "
        "new collection (TUWEN_COLLECTION) and switch to it.",
        where,
        stored.quantization,
        stored.on_disk,
        wanted.quantization,
        wanted.on_disk,
    )
    return True


# ---------------------------------------------------------------- Qdrant Edge (qdrant-edge-py)


def edge_collection(qe: Any, cfg: CollectionConfig) -> dict:
    """``EdgeConfig`` keyword arguments beside the vectors."""
    out: dict = {}
    if cfg.quantized:
        out["quantization_config"] = qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=QUANTILE, always_ram=True
        )
    if cfg.on_disk == "all":
        out["hnsw_config"] = qe.HnswIndexConfig(
            m=16, ef_construct=100, full_scan_threshold=10_000, on_disk=True
        )
        out["on_disk_payload"] = True
    return out


def edge_vector(qe: Any, dim: int, cfg: CollectionConfig) -> Any:
    """``EdgeVectorParams`` of a dense cosine vector."""
    on_disk = True if cfg.on_disk != "none" else None
    return qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, on_disk=on_disk)


def edge_search_params(qe: Any, cfg: CollectionConfig) -> Any:
    """``SearchParams`` of a dense nearest query: oversample and rescore when quantized."""
    if not cfg.quantized:
        return None
    quant = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
    return qe.SearchParams(quantization=quant)


# ---------------------------------------------------------------- Qdrant server (qdrant-client)


def server_collection(m: Any, cfg: CollectionConfig) -> dict:
    """``create_collection`` keyword arguments beside the vectors."""
    out: dict = {
        "shard_number": cfg.shards,
        "replication_factor": cfg.replicas,
        "write_consistency_factor": cfg.write_consistency,
    }
    if cfg.quantized:
        out["quantization_config"] = m.ScalarQuantization(
            scalar=m.ScalarQuantizationConfig(
                type=m.ScalarType.INT8, quantile=QUANTILE, always_ram=True
            )
        )
    if cfg.on_disk == "all":
        out["hnsw_config"] = m.HnswConfigDiff(on_disk=True)
        out["on_disk_payload"] = True
    return out


def server_vector(m: Any, dim: int, cfg: CollectionConfig) -> Any:
    """``VectorParams`` of a dense cosine vector."""
    on_disk = True if cfg.on_disk != "none" else None
    return m.VectorParams(size=dim, distance=m.Distance.COSINE, on_disk=on_disk)


def server_search_params(m: Any, cfg: CollectionConfig) -> Any:
    """``SearchParams`` of a dense nearest query: oversample and rescore when quantized."""
    if not cfg.quantized:
        return None
    quant = m.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
    return m.SearchParams(quantization=quant)
