"""Settings read once at start (``TUWEN_`` environment variables), passed down explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CLIP_MODEL = "OFA-Sys/chinese-clip-vit-base-patch16"


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
    clip_model: str = Field(DEFAULT_CLIP_MODEL, description="Hub id or local directory.")
    clip_revision: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(32, ge=1, le=4096)
    decode_workers: int = Field(0, ge=0, le=256, description="0 = one per CPU core.")
    images_dir: Path | None = Field(None, description="Catalog photos served by the API.")

    @field_validator("qdrant_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"TUWEN_QDRANT_URL must start with http:// or https://, got {v!r}")
        return v.rstrip("/")
