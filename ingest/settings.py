"""Settings read once at start (``TUWEN_`` environment variables), passed down explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CLIP_MODEL = "OFA-Sys/chinese-clip-vit-base-patch16"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tuwen``, else ``~/.cache/tuwen`` (``TUWEN_CACHE_DIR`` overrides it)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuwen"


#: The generation backends, the one list that settings, the CLI and the generator factory use.
LlmBackend = Literal["auto", "transformers", "openai", "extractive"]
LLM_BACKENDS: tuple[str, ...] = get_args(LlmBackend)


class Settings(BaseSettings):
    """Every setting tuwen reads, with its ``TUWEN_`` environment variable.

    Command-line flags override these; nothing reads the environment after start-up.
    """

    model_config = SettingsConfigDict(env_prefix="TUWEN_", extra="ignore")

    data_dir: Path = Field(Path("./tuwen-data"), description="Embedded Qdrant Edge storage.")
    qdrant_url: str | None = Field(
        None, description="A Qdrant server (e.g. http://localhost:6333); unset = embedded store."
    )
    qdrant_api_key: str | None = None
    collection: str = Field("tuwen", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    clip_model: str | None = Field(
        None,
        description="Hub id or local directory; unset = the model the collection was built with, "
        f"or {DEFAULT_CLIP_MODEL} for a new collection.",
    )
    clip_revision: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(32, ge=1, le=4096)
    decode_workers: int = Field(0, ge=0, le=256, description="0 = one per CPU core.")
    images_dir: Path | None = Field(None, description="Catalog photos served by the API.")

    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="per request body")
    max_upload_pixels: int = Field(40_000_000, ge=1, description="per uploaded photo")
    api_key: SecretStr | None = Field(
        None,
        description="bearer key the service requires for writes (and reads with auth_reads); "
        "`tuwen ingest --via` sends it",
    )
    auth_reads: bool = Field(
        False, description="reads (ask, search, products, images) need the key"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="a request body must arrive within this (else 408)"
    )
    decode_memory_mb: int = Field(
        0,
        ge=0,
        description="memory for concurrent photo decodes; 0 = a quarter of the "
        "available memory at start, at most 1024",
    )

    llm: LlmBackend = Field(
        "auto",
        description="auto: openai if llm_base_url is set, transformers if llm_model is set, else extractive",
    )
    llm_model: str | None = Field(
        None, description="GLM hub id or local dir; or the served model name"
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server root, e.g. http://localhost:8000/v1"
    )
    llm_api_key: str | None = None
    llm_revision: str | None = None
    llm_trust_remote_code: bool = False
    llm_vision: bool = Field(
        False,
        description="the model sees the questioned photo: openai sends it as an image_url "
        "content part, transformers loads an image-text-to-text model (Qwen2-VL, LLaVA, ...)",
    )
    llm_image_side: int = Field(
        768, ge=64, le=4096, description="longest side (pixels) of the photo a vision model gets"
    )
    llm_retry_s: float = Field(
        30.0, gt=0, description="after an LLM failure, answer extractively this long, then retry"
    )
    llm_retry_max_s: float = Field(
        600.0, gt=0, description="longest back-off (it doubles with each failure in a row)"
    )
    router_model: str | None = Field(
        None, description="sentence-transformers model (hub id or dir) for the embedding router"
    )
    top_k: int = Field(
        16, ge=1, le=100, description="neighbours used for describe/attribute answers"
    )
    token_budget: int = Field(1500, ge=200, le=100_000)
    image_int8: bool = Field(True, description="image tower in int8 on CPU (ingest and uploads)")
    text_int8: bool = Field(True, description="query-side text tower in int8 on CPU")
    int8_runtime: Literal["auto", "onnx", "torch", "openvino"] = Field(
        "auto",
        description="what runs the int8 towers: onnx (ONNX Runtime, exported once into "
        "cache_dir), torch (torch dynamic quantisation), openvino (the image tower in OpenVINO, "
        "calibrated once per model on the ingested catalog's photos; text as auto), auto = "
        "openvino for the image tower when installed, onnx otherwise when installed",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="exported int8 ONNX and OpenVINO towers; default $XDG_CACHE_HOME/tuwen or "
        "~/.cache/tuwen",
    )
    look: bool = Field(
        True, description="fuse the look vector with the CLIP image vector for image neighbours"
    )
    vqa_sources: str = Field(
        "heads,zeroshot,vote",
        pattern=r"^(heads|zeroshot|vote)(,(heads|zeroshot|vote))*$",
        description="VQA candidate sources fused for describe/attribute questions (comma list "
        "of heads, zeroshot, vote); the others are left out and the weights rescaled",
    )
    caption_model: str | None = Field(
        None,
        description="captioning model (hub id or dir) for `ingest --caption-uncaptioned`; "
        "unset = the CLIP model's answer heads",
    )
    attribute_agreement: bool = Field(
        True,
        description="text search ranks products whose attributes agree with the text's as one "
        "more fused signal",
    )
    attribute_likelihood: bool = Field(
        True,
        description="retrieve questions without an exact caption match rank the photos without "
        "a real caption by how likely the title's attributes are for them (needs "
        "`ingest --caption-uncaptioned`)",
    )
    quantization: Literal["none", "int8"] | None = Field(
        None,
        description="new collections: int8 scalar quantization of the dense vectors in RAM, "
        "rescored with the originals; unset = none (an existing collection keeps its own)",
    )
    on_disk: Literal["none", "vectors", "all"] | None = Field(
        None,
        description="new collections: dense vectors (or vectors, HNSW, payloads) on disk; "
        "unset = none",
    )
    quantization_oversampling: float = Field(
        2.0,
        ge=1.0,
        le=16.0,
        description="searches of an int8 collection score this many candidates per hit with int8 "
        "and rescore them with the original vectors",
    )
    hnsw_ef: int = Field(
        200,
        ge=0,
        le=4096,
        description="candidates an HNSW search keeps (more: higher recall, slower); 0 = Qdrant's "
        "default (the index's ef_construct, 100)",
    )
    qdrant_shards: int = Field(1, ge=1, le=1024, description="shards of a new server collection")
    qdrant_replicas: int = Field(1, ge=1, le=16, description="replicas of each server shard")
    qdrant_write_consistency: int = Field(
        1, ge=1, le=16, description="replicas that must acknowledge a write"
    )
    variant_image_min: float = Field(
        0.998,
        ge=-1.0,
        le=1.0,
        description="least CLIP image-vector cosine of two variants (collapse=true, "
        "`tuwen duplicates`); measure it per model with bench/variants.py",
    )
    variant_look_min: float = Field(
        0.99, ge=-1.0, le=1.0, description="least look-vector cosine of two variants"
    )
    query_cache: int = Field(
        1024, ge=0, le=1_000_000, description="query text vectors kept (LRU); 0 = no cache"
    )

    def llm_backend(self) -> str:
        """The backend ``auto`` resolves to."""
        if self.llm != "auto":
            return self.llm
        if self.llm_base_url:
            return "openai"
        return "transformers" if self.llm_model else "extractive"

    @field_validator("qdrant_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"TUWEN_QDRANT_URL must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        key = v.get_secret_value()
        printable = key.isascii() and key.isprintable() and not any(c.isspace() for c in key)
        if len(key) < 16 or not printable:
            raise ValueError(
                "TUWEN_API_KEY must be at least 16 printable ASCII characters without spaces "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return v
