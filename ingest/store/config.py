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
- ``oversampling``, ``hnsw_ef``: how searches run (``TUWEN_QUANTIZATION_OVERSAMPLING``,
  ``TUWEN_HNSW_EF``); not recorded, the settings' apply to any collection.

The ``caption`` payload index (:data:`ON_DISK_INDEXES`) is memory-mapped from disk whatever
the settings: it holds one value per product and serves only exact-caption lookups, and
building it in RAM cost 2 s of every open and 0.1 GiB at 100k points (bench/README.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger("tuwen")

LAYOUT = "layout"  # the key of the settings in the collection's metadata
QUANTILE = 0.99  # int8 range: the 0.5–99.5 % quantiles of each vector component
OVERSAMPLING = 2.0  # candidates scored with int8 per hit, rescored with the originals
HNSW_EF = 200  # candidates an HNSW search keeps: recall@10 0.986 at 1M int8, 0.94 at Qdrant's 100
ON_DISK_INDEXES = frozenset({"caption"})  # payload indexes memory-mapped, not built in RAM

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
        oversampling: Candidates a quantized search scores with int8 per hit, rescored with
            the original vectors (``TUWEN_QUANTIZATION_OVERSAMPLING``); not recorded.
        hnsw_ef: Candidates an HNSW search keeps (``TUWEN_HNSW_EF``), ``None`` for Qdrant's
            default (the index's ``ef_construct``); not recorded.
    """

    quantization: Quantization = "none"
    on_disk: OnDisk = "none"
    shards: int = 1
    replicas: int = 1
    write_consistency: int = 1
    explicit: bool = field(default=True, compare=False)
    oversampling: float = field(default=OVERSAMPLING, compare=False)
    hnsw_ef: int | None = field(default=HNSW_EF, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectionConfig:
        """The settings' ``quantization``, ``on_disk``, ``qdrant_shards``, ``qdrant_replicas``,
        ``qdrant_write_consistency``, ``quantization_oversampling`` and ``hnsw_ef``."""
        return cls(
            quantization=settings.quantization or "none",
            on_disk=settings.on_disk or "none",
            explicit=settings.quantization is not None or settings.on_disk is not None,
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            write_consistency=settings.qdrant_write_consistency,
            oversampling=settings.quantization_oversampling,
            hnsw_ef=settings.hnsw_ef or None,
        )

    @classmethod
    def from_metadata(cls, meta: dict) -> CollectionConfig:
        """The settings recorded with a collection; a collection made before they were
        recorded is unquantized and in RAM."""
        stored = meta.get(LAYOUT) or {}
        recorded = ("quantization", "on_disk", "shards", "replicas", "write_consistency")
        return cls(**{k: v for k, v in stored.items() if k in recorded})

    def searching_as(self, other: CollectionConfig) -> CollectionConfig:
        """These settings with ``other``'s search settings (``oversampling``, ``hnsw_ef``): a
        collection's stored settings, searched as the settings say."""
        return replace(self, oversampling=other.oversampling, hnsw_ef=other.hnsw_ef)

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


def search_params(models: Any, cfg: CollectionConfig, *, rescore: bool = True) -> Any:
    """``SearchParams`` of a dense nearest query: ``hnsw_ef``, and oversample and rescore when
    quantized (``None``: Qdrant's defaults). Both backends' model modules (``qdrant_edge`` and
    ``qdrant_client.models``) name these classes and fields alike.

    ``rescore=False`` scores by the int8 vectors alone, for the legs of a rank fusion: RRF
    reads only each leg's order (and an agreement formula's similarity term moves by the int8
    error, about 0.005), while rescoring reads every candidate's original vector from disk (at
    1M, hundreds of random reads per hybrid query: store p50 36-38 ms against 18 ms without).
    A single-leg search, whose scores are returned, is rescored."""
    quant = None
    if cfg.quantized:
        quant = models.QuantizationSearchParams(
            rescore=rescore, oversampling=cfg.oversampling if rescore else None
        )
    if quant is None and cfg.hnsw_ef is None:
        return None
    return models.SearchParams(hnsw_ef=cfg.hnsw_ef, quantization=quant)


def edge_index_schema(qe: Any, key: str, kind: str) -> Any:
    """The ``create_field_index`` schema of a payload index (:data:`ON_DISK_INDEXES` on disk)."""
    if kind == "bool":
        return qe.PayloadSchemaType.Bool
    if key in ON_DISK_INDEXES:
        return qe.KeywordIndexParams(memory=qe.Memory.Cold)
    return qe.PayloadSchemaType.Keyword


def index_in_place(key: str, params: Any) -> bool:
    """Whether a payload index with these stored params (``None``: the defaults, in RAM) is
    where :data:`ON_DISK_INDEXES` says; one that is not is made again by ``ensure_indexes``."""
    memory = str(getattr(params, "memory", None) or "").lower()
    on_disk = bool(getattr(params, "on_disk", None)) or memory.endswith("cold")
    return on_disk == (key in ON_DISK_INDEXES)


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


def server_index_schema(m: Any, key: str, kind: str) -> Any:
    """The ``create_payload_index`` schema of a payload index (:data:`ON_DISK_INDEXES` on disk;
    ``on_disk``, which Qdrant servers from 1.11 read)."""
    if kind == "bool":
        return m.PayloadSchemaType.BOOL
    if key in ON_DISK_INDEXES:
        return m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, on_disk=True)
    return m.PayloadSchemaType.KEYWORD
