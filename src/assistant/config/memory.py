"""The [memory] and [scheduler] sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from assistant.config.base import Section, blank_to_none, http_url


class MemoryEmbeddings(Section):
    """An OpenAI-compatible ``/embeddings`` endpoint, used when ``embedder = "openai"``."""

    base_url: str = ""
    api_key: SecretStr | None = None
    model: str = Field("text-embedding-3-small", min_length=1)
    timeout: float = Field(30.0, gt=0)

    _blank_key = field_validator("api_key", mode="before")(blank_to_none)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value) if value else value


class MemoryServer(Section):
    """A Chroma server, used when ``mode = "server"``."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    token: SecretStr | None = None

    _blank_token = field_validator("token", mode="before")(blank_to_none)


class MemorySection(Section):
    enabled: bool = True
    mode: Literal["embedded", "server"] = "embedded"
    embedder: Literal["local", "openai"] = "local"
    embeddings: MemoryEmbeddings = MemoryEmbeddings()
    server: MemoryServer = MemoryServer()
    recall_top_k: int = Field(5, ge=0, le=50)
    min_similarity: float = Field(0.35, ge=-1, le=1)
    recall_tokens: int = Field(400, ge=0, le=20000)
    dedupe_similarity: float = Field(0.95, gt=0, le=1)
    shared: bool = False
    summaries: bool = True

    @model_validator(mode="after")
    def _embedder_endpoint(self) -> MemorySection:
        if self.enabled and self.embedder == "openai" and not self.embeddings.base_url:
            raise ValueError(
                "embedder = 'openai' needs [memory.embeddings] base_url (and usually api_key); "
                "or use embedder = 'local'"
            )
        return self


class SchedulerSection(Section):
    enabled: bool = True
    misfire_grace: float = Field(3600.0, ge=0)
    min_interval: float = Field(60.0, gt=0)
    check_cooldown: float = Field(600.0, ge=0)
    max_jobs_per_user: int = Field(50, ge=1, le=10000)
