"""One typed settings object for the whole process.

Read once from the environment (prefix ``WINNOW_``) or built directly in
tests, validated at start, and passed into ``create_app(settings)`` and every
service; nothing reads the environment anywhere else. The reference
inference server's own variables work too: ``ACTIVE_LEARNING_ENABLED``,
``ACTIVE_LEARNING_TAGS``, ``REDIS_HOST`` / ``REDIS_PORT`` / ``REDIS_SSL`` /
``REDIS_TIMEOUT`` (the limits URL when ``WINNOW_LIMITS_URL`` is unset) and
``API_BASE_URL`` (an inference node's platform URL when ``WINNOW_PLATFORM_URL``
is unset). Every field is documented in
``docs/reference/settings.md``; a test fails when one is missing there.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TAG_CHARS = r"a-zA-Z0-9\-_:/.\[\]<>{}@"


class Role(StrEnum):
    """Which parts of winnow one process runs."""

    ALL = "all"
    INFERENCE = "inference"
    PLATFORM = "platform"


class PlatformProtocol(StrEnum):
    """How a remote platform is spoken to by the delivery worker."""

    NATIVE = "native"
    REFERENCE = "reference"


def _default_data_dir() -> Path:
    return Path.home() / ".winnow"


class Settings(BaseSettings):
    """Every setting of a winnow process. Environment variable: ``WINNOW_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="WINNOW_", extra="ignore", frozen=True, populate_by_name=True
    )

    # --- where things live -------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite database, local images, the outbox and the api-key file.",
    )
    role: Role = Field(
        default=Role.ALL,
        description="Parts this process runs: all (inference and platform), inference, platform.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=9001, ge=1, le=65535, description="Port the HTTP server binds to.")
    log_level: str = Field(default="INFO", description="Python logging level name.")
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a client has to send a request's line and headers after connecting (or "
            "after its first byte on a kept-alive connection); then 408 and the connection closes."
        ),
    )
    body_timeout: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds a client has to send a request's body after its headers; then the "
            "connection closes. Time the server spends not reading does not count."
        ),
    )

    # --- platform storage --------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the platform database; default: SQLite file "
            "<data_dir>/winnow.db. PostgreSQL: postgresql+psycopg://user@host/db."
        ),
    )
    blob_url: str | None = Field(
        default=None,
        description=(
            "Where image bytes are stored: file:///path (default <data_dir>/blobs) or "
            "s3://bucket/prefix."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible server (MinIO, moto); default: AWS.",
    )
    s3_region: str = Field(default="us-east-1", description="Region name passed to the S3 client.")
    api_key: str | None = Field(
        default=None,
        description=(
            "Bootstrap API key: on first start with an empty database this value becomes the "
            "key of workspace 'default' (otherwise one is generated). For inference nodes it is "
            "also the key used to reach a remote platform for model files."
        ),
    )
    blob_sweep_grace_seconds: float = Field(
        default=900.0,
        gt=0,
        description=(
            "Age after which a blob or temp file that no row references is an orphan (left by "
            "a crash) and is deleted; younger ones may belong to a datapoint being stored."
        ),
    )
    blob_sweep_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description=(
            "How often the platform sweeps orphan blobs and temp files (also once at start); "
            "0 turns the sweep off."
        ),
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest accepted image upload, in bytes."
    )
    max_image_pixels: int = Field(
        default=100_000_000,
        ge=1,
        description="Largest accepted image, in pixels (guards against decompression bombs).",
    )
    max_import_bytes: int = Field(
        default=4 * 1024**3,
        ge=1,
        description=(
            "Largest dataset import, in bytes: the uploaded zip, and separately the sum of its "
            "files' uncompressed sizes (guards against zip bombs)."
        ),
    )

    # --- inference ----------------------------------------------------------
    platform_url: str | None = Field(
        default=None,
        description=(
            "URL of a remote platform for inference nodes; unset means the platform runs in "
            "this process and delivery needs no HTTP hop."
        ),
    )
    platform_protocol: PlatformProtocol = Field(
        default=PlatformProtocol.NATIVE,
        description=(
            "How to deliver to a remote platform: native (winnow /v1 datapoints) or reference "
            "(upload then annotate, for any platform speaking the reference API)."
        ),
    )
    platform_connect_timeout: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds an inference node waits to connect to its platform for a lookup (API key, "
            "project type, configuration, model) before serving its last known answer."
        ),
    )
    platform_read_timeout: float = Field(
        default=3.0,
        gt=0,
        description=(
            "Seconds an inference node waits for the platform to answer a lookup; no request "
            "waits on the platform longer than the connect and read timeouts together."
        ),
    )
    platform_key_stale_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "How long after the platform last confirmed an API key (and its projects' types) "
            "a node keeps serving it while the platform is unreachable; unset (default): "
            "through an outage of any length. A key the platform refuses stops at once."
        ),
    )
    platform_config_stale_seconds: float | None = Field(
        default=86400.0,
        gt=0,
        description=(
            "How long after the platform last sent a project's active learning configuration "
            "a node keeps collecting with it while the platform is unreachable (default one "
            "day); unset: no bound."
        ),
    )
    platform_retry_seconds: float = Field(
        default=1.0,
        gt=0,
        description=(
            "While the platform is unreachable, how often a node asks it again (in the "
            "background) for each answer it serves stale."
        ),
    )
    platform_refresh_wait_seconds: float = Field(
        default=0.2,
        gt=0,
        description=(
            "How long a lookup that holds an earlier answer waits for the platform's fresh one "
            "before using the earlier answer (the refresh completes in the background)."
        ),
    )
    platform_error_log_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Repeated failures of one platform lookup are logged once per this many seconds "
            "(all are counted in winnow_platform_lookup_errors)."
        ),
    )
    api_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WINNOW_API_BASE_URL", "API_BASE_URL", "api_base_url"),
        description=(
            "The reference's variable: with role inference and WINNOW_PLATFORM_URL unset, it is "
            "the platform URL, spoken to with the reference protocol unless the platform answers "
            "as a winnow platform (GET /v1/al-config/schema) and WINNOW_PLATFORM_PROTOCOL is unset."
        ),
    )
    model_cache_size: int = Field(
        default=4, ge=1, description="How many loaded models an inference node keeps (LRU)."
    )
    url_fetch_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated host names that image URLs may point to even when they resolve to "
            "loopback or private addresses."
        ),
    )
    url_fetch_allow_private: bool = Field(
        default=False,
        description="Allow image URLs that resolve to loopback, private or link-local addresses.",
    )
    url_fetch_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1, description="Largest image downloaded from a URL, in bytes."
    )
    url_fetch_timeout: float = Field(
        default=10.0, gt=0, description="Seconds allowed to download an image URL."
    )

    # --- active learning ----------------------------------------------------
    active_learning_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices(
            "WINNOW_ACTIVE_LEARNING_ENABLED", "ACTIVE_LEARNING_ENABLED", "active_learning_enabled"
        ),
        description="Master switch for collection. ACTIVE_LEARNING_ENABLED=false works too.",
    )
    active_learning_tags: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices(
            "WINNOW_ACTIVE_LEARNING_TAGS", "ACTIVE_LEARNING_TAGS", "active_learning_tags"
        ),
        description="Comma-separated tags added to every datapoint. ACTIVE_LEARNING_TAGS works too.",
    )
    active_learning_metadata_max_bytes: int = Field(
        default=4096,
        ge=2,
        description=(
            "Largest active_learning_metadata object an inference request may attach to its "
            "datapoints, in bytes of its compact JSON; larger ones are refused with a 400."
        ),
    )
    limits_url: str = Field(
        default="memory://",
        description=(
            "Limits backend: memory:// (one process), local:///path/limits.db (every process of "
            "this host; local:// is <data_dir>/limits.db) or redis://host:port/db (shared by "
            "hosts). When unset and REDIS_HOST is set: redis[s]://REDIS_HOST:REDIS_PORT/0 with "
            "REDIS_TIMEOUT."
        ),
    )
    redis_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WINNOW_REDIS_HOST", "REDIS_HOST", "redis_host"),
        description="The reference's variable: Redis host of the limits when WINNOW_LIMITS_URL is unset.",
    )
    redis_port: int = Field(
        default=6379,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("WINNOW_REDIS_PORT", "REDIS_PORT", "redis_port"),
        description="The reference's variable: Redis port, with REDIS_HOST.",
    )
    redis_ssl: bool = Field(
        default=False,
        validation_alias=AliasChoices("WINNOW_REDIS_SSL", "REDIS_SSL", "redis_ssl"),
        description="The reference's variable: connect to REDIS_HOST over TLS (rediss://).",
    )
    redis_timeout: float = Field(
        default=2.0,
        gt=0,
        validation_alias=AliasChoices("WINNOW_REDIS_TIMEOUT", "REDIS_TIMEOUT", "redis_timeout"),
        description="The reference's variable: Redis connect and socket timeout in seconds, with REDIS_HOST.",
    )
    config_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long an inference node caches a project's active learning configuration.",
    )
    collector_queue_size: int = Field(
        default=1024,
        ge=1,
        description="Most images waiting in the collector's hand-off queue; more are dropped and counted.",
    )
    collector_queue_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description=(
            "Most bytes of images (encoded, or pixels of a video frame) waiting in the "
            "collector's hand-off queue; an image that would pass it is dropped and counted."
        ),
    )
    shadow_queue_size: int = Field(
        default=4,
        ge=1,
        description="Most images waiting for a shadow model run; a shadow run that finds the queue full is skipped and counted.",
    )
    shadow_time_budget: float = Field(
        default=0.25,
        ge=0,
        le=64,
        description="Seconds of shadow model runs allowed per second of wall time (0.25: a quarter of one core); over it, shadow runs are skipped and counted. 0 skips every one.",
    )
    shadow_report_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often an inference node reports its shadow runs and disagreements per project and day to the platform.",
    )
    outbox_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1,
        description="Bound of the on-disk outbox, in bytes of stored datapoints; when full, new datapoints are refused.",
    )
    delivery_backoff_base: float = Field(
        default=1.0, gt=0, description="First retry delay of a failed delivery, in seconds."
    )
    delivery_backoff_max: float = Field(
        default=300.0, gt=0, description="Longest retry delay of a failed delivery, in seconds."
    )
    delivery_concurrency: int = Field(
        default=2, ge=1, description="Delivery loops of the delivery worker, each with its batch."
    )
    delivery_batch_size: int = Field(
        default=32,
        ge=1,
        le=64,
        description=(
            "Most outbox entries a delivery loop claims and delivers at once: one platform "
            "transaction (in-process) or one HTTP request (native platform) for all of them."
        ),
    )
    collection_process: bool = Field(
        default=False,
        description=(
            "Leave preparation and delivery to the node's collection process (`winnow collect`, "
            "which `winnow serve` starts): this process only samples, takes credits and writes "
            "captures to the outbox. `winnow serve` turns it on for roles all and inference unless "
            "set to false here (or memory:// limits are set on purpose); off, the serving "
            "process prepares and delivers in its own threads."
        ),
    )
    collection_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "Niceness the node's collection process adds to its own (0-19): under full load the "
            "serving processes get the CPU first and the outbox holds what waits; it is "
            "prepared and delivered when they leave CPU to spare."
        ),
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Serving processes of `winnow serve` (role inference; roles all and platform run 1). "
            "Default: the number of cores; limits left at memory:// then become local:// "
            "(<data_dir>/limits.db, shared by the workers); memory:// set on purpose means 1."
        ),
    )

    # --- prediction log (winnow.predlog) -------------------------------------
    node_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description=(
            "Name of this inference node in the prediction log (the record's `node` and its "
            "segment names); default: the host name, reduced to letters, digits, - and _."
        ),
    )
    predlog_enabled: bool = Field(
        default=True,
        description="Keep a pixel-free record of every prediction served (the prediction log).",
    )
    predlog_max_objects: int = Field(
        default=100,
        ge=0,
        description=(
            "Most objects (or class confidences) one prediction record keeps, the most "
            "confident first; `objects_total` keeps the count before the cap."
        ),
    )
    predlog_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description=(
            "How often the records buffered in memory are appended to the open segment on disk "
            "(a crash loses at most this much)."
        ),
    )
    predlog_segment_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Age at which an open prediction-log segment is closed into a Parquet file and "
            "shipped: records reach the platform's queries within about this time."
        ),
    )
    predlog_segment_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Size (Arrow bytes on disk) at which an open prediction-log segment is closed early.",
    )
    predlog_buffer_records: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Most records waiting in memory for the next flush; more are dropped and counted "
            '(winnow_prediction_records{state="dropped"}).'
        ),
    )
    predlog_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="The platform keeps prediction-log segments this many days (by their start time).",
    )
    predlog_retention_bytes: int = Field(
        default=50 * 1024**3,
        ge=0,
        description=(
            "Most bytes of prediction-log segments the platform keeps; the oldest are deleted "
            "first past it (0: no bound in bytes)."
        ),
    )

    @field_validator("active_learning_tags", "url_fetch_allow_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("active_learning_tags")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        import re

        pattern = re.compile(rf"^[{TAG_CHARS}]{{1,64}}$")
        bad = [tag for tag in value if not pattern.match(tag)]
        if bad:
            raise ValueError(
                f"tags must be 1-64 characters of a-z A-Z 0-9 - _ : / . [ ] < > {{ }} @: {bad}"
            )
        return value

    @model_validator(mode="after")
    def _reference_environment(self) -> Self:
        # The reference's variables fill in what winnow's own leave unset; an
        # explicit WINNOW_ setting (or argument) always wins.
        if "limits_url" not in self.model_fields_set and self.redis_host:
            host = f"[{self.redis_host}]" if ":" in self.redis_host else self.redis_host
            scheme = "rediss" if self.redis_ssl else "redis"
            timeout = self.redis_timeout
            self.__dict__["limits_url"] = (
                f"{scheme}://{host}:{self.redis_port}/0"
                f"?socket_timeout={timeout}&socket_connect_timeout={timeout}"
            )
        if (
            self.role is Role.INFERENCE
            and "platform_url" not in self.model_fields_set
            and self.api_base_url
        ):
            self.__dict__["platform_url"] = self.api_base_url
        return self

    # --- derived --------------------------------------------------------------
    @property
    def detects_platform_protocol(self) -> bool:
        """True when the platform URL came from API_BASE_URL and no protocol was chosen:
        the protocol is then the reference's unless the platform answers as winnow."""
        return (
            self.platform_url is not None
            and "platform_url" not in self.model_fields_set
            and "platform_protocol" not in self.model_fields_set
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL in force: the setting, or the SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'winnow.db'}"

    @property
    def resolved_blob_url(self) -> str:
        """The blob store URL in force: the setting, or the local folder in the data dir."""
        return self.blob_url or f"file://{self.data_dir / 'blobs'}"

    @property
    def predlog_dir(self) -> Path:
        """Where this node writes its prediction-log segments (``<data_dir>/predlog``)."""
        return self.data_dir / "predlog"

    @property
    def resolved_node_name(self) -> str:
        """The node name in force: the setting, or the host name (safe characters only)."""
        import re
        import socket

        if self.node_name:
            return self.node_name
        name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64].strip("-")
        return name or "node"

    @property
    def outbox_path(self) -> Path:
        """The SQLite file of the outbox."""
        return self.data_dir / "outbox.db"
