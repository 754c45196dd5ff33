"""Every environment variable the app reads, in one typed place."""

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
ARTICLES_DIR = DATA_DIR / "articles"
SUPPORTED_DATABASES = ("sqlite", "postgresql+psycopg")  # SQLAlchemy driver names


class Settings(BaseSettings):
    """Runtime configuration; the defaults run everything embedded on one laptop."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    media_demo_db: Path = Field(
        default=DATA_DIR / "media_demo.db",
        description="SQLite file holding the event log (git-ignored), when `database_url` is not set.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the database holding the event log, checkpoints, definitions, accounts "
        "and stories: `sqlite:///<file>` or `postgresql+psycopg://user:password@host/db` (`postgresql://` "
        "means the same: psycopg 3 is the driver shipped). Unset: `sqlite:///<media_demo_db>`.",
    )
    articles_dir: Path = Field(
        default=ARTICLES_DIR,
        description="Folder of Markdown articles with front matter.",
    )
    page_shell: Path | None = Field(
        default=None,
        description="The built frontend's page shell (its `__spa-fallback.html`), which the backend serves at "
        "/article/<slug> and /category/<section> with the story's title, description and cover in the head, "
        "for link previews and search engines. Unset: `data/page_shell.html` (put in backend.zip by "
        "`make export`), else `.web/build/client/__spa-fallback.html` after a production build; with neither, "
        "those addresses are left to the frontend.",
    )
    schemas_dir: Path = Field(
        default=DATA_DIR / "schemas",
        description="Iglu-style folder of the JSON Schemas for self-describing data.",
    )
    experiments_dir: Path = Field(
        default=DATA_DIR / "experiments",
        description="Folder of the A/B experiments (TOML), validated at start; see data/experiments/README.md.",
    )
    snowplow_collector_url: str | None = Field(
        default=None,
        description="When set, events go over HTTP to this Snowplow collector "
        "instead of straight into the embedded engine. In remote mode it defaults to the origin of "
        "`signals_api_url` (this app's own server hosts the collector there).",
    )
    snowplow_app_id: str = Field(default="daily-current", description="Tracker app_id.")
    checkpoint_interval_seconds: float = Field(
        default=5.0,
        description="How often changed attribute state is checkpointed to SQLite (restarts replay only the tail).",
    )
    flush_interval_seconds: float = Field(
        default=0.05,
        description="Longest time an accepted event waits before its group commit.",
    )
    signals_api_token: str | None = Field(
        default=None,
        description="Bearer token of the Signals-compatible API under /api/v1/. When unset, one is "
        "generated at first start and kept in `signals_token_path`.",
    )
    signals_api_url: str | None = Field(
        default=None,
        description="Remote mode: read the reader's attributes from the Signals API at this base URL "
        "(without /api/v1, e.g. http://host:8000) through the official SDK, with `signals_api_token` "
        "as the sandbox token, instead of from the embedded engine.",
    )
    signals_token_file: Path | None = Field(
        default=None,
        description="Where the generated API token is kept (mode 0600); by default `signals_token` "
        "in `data_folder` (beside the SQLite file), i.e. data/signals_token.",
    )

    consent_policies: dict[str, Literal["require_consent", "profile"]] = Field(
        default_factory=dict,
        description="Per app id, whether its events need the reader's behavioural consent before they "
        'build a profile, as JSON, e.g. {"partner-site": "require_consent"}. Unlisted app ids are profiled '
        "as Signals does; the newsroom's own app id (`snowplow_app_id`) always requires consent, and its e-mail "
        "app id (`<snowplow_app_id>-email`, events of confirmed digest subscribers) is profiled unless listed.",
    )
    cookie_secret: str | None = Field(
        default=None,
        description="Key that signs the reader's id cookie, so a forged id is not accepted. When unset, "
        "one is generated at first start and kept in `cookie_secret` in `data_folder` (mode 0600).",
    )
    assistant_llm_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible chat endpoint for the reading assistant (e.g. "
        "http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM or llama.cpp's server). "
        "When set, a model writes the answers from the retrieved passages; the built-in answer replaces "
        "any that cites no story, fails or is late.",
    )
    assistant_llm_model: str | None = Field(
        default=None,
        description="Name of the model `assistant_llm_url` serves (e.g. smollm2:135m, gpt-4o-mini).",
    )
    assistant_llm_api_key: str | None = Field(
        default=None,
        description="Bearer key for `assistant_llm_url`, if it wants one (local servers usually do not).",
    )
    assistant_llm_tool_calls: bool = Field(
        default=True,
        description="Whether the model at `assistant_llm_url` is offered the reader tool by function calling. "
        "Turn off for a server or model without function calling: the assistant then reads the reader's "
        "attributes itself and sends them, without identifiers, as data in the prompt.",
    )
    assistant_llm_tool_choice: Literal["auto", "required"] = Field(
        default="auto",
        description="`auto`: the model decides whether to call the reader tool; `required`: the first request "
        "names the tool, so the model reads the reader before answering (small models rarely decide to; "
        "llama-cpp-python's server only honours a named tool).",
    )
    assistant_model_path: Path | None = Field(
        default=None,
        description="A GGUF model file the assistant runs in process with llama.cpp (needs the [llm] extra: "
        "`make llm`). Used when `assistant_llm_url` is not set.",
    )
    assistant_llm_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a model may take to finish an answer (also the longest silence between its "
        "tokens); past it the built-in answer is shown instead.",
    )

    feed_urls: str = Field(
        default="",
        description="Atom or RSS feeds (http or https URLs, comma-separated) whose new and changed entries the "
        "newsroom publishes by itself, polled every `feed_poll_seconds`. Empty: no feed is polled.",
    )
    feed_poll_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Seconds between two polls of the `feed_urls`.",
    )
    recency_window: int = Field(
        default=100,
        ge=1,
        description='"More in <Section>" picks among each section\'s newest `recency_window` stories (the '
        "work per recommendation stays bounded as the archive grows); older stories still come as similar "
        "stories and in search.",
    )
    feed_category: str | None = Field(
        default=None,
        description="The section a feed entry goes to when none of its tags names one; unset, such entries "
        "are skipped (with the reason logged).",
    )

    site_url: str = Field(
        default="http://localhost:3000",
        validation_alias=AliasChoices("SITE_URL", "REFLEX_DEPLOY_URL"),
        description="The public address of the newspaper's pages (Reflex's own `REFLEX_DEPLOY_URL` when set): "
        "e-mails link to stories there, and the collector's click redirect goes only to it or to `public_api_url`.",
    )
    public_api_url: str = Field(
        default="http://localhost:8000",
        validation_alias=AliasChoices("PUBLIC_API_URL", "REFLEX_API_URL"),
        description="The public address of the backend (Reflex's own `REFLEX_API_URL` when set), which hosts the "
        "collector: e-mails' open pixels and click redirects point there, and their unsubscribe links.",
    )

    smtp_url: str = Field(
        default="",
        description="Where mail goes: `smtp://host:port` (add `?starttls=true` to upgrade), `smtps://host:port`, "
        "with `user:password@` to log in. Unset: mails are written to `outbox_dir` instead of being sent.",
    )
    digest_from: str = Field(
        default="The Daily Current <digest@dailycurrent.example>",
        description="The From of every mail: use an address your mail service may send for.",
    )
    digest_schedule: bool = Field(
        default=True,
        description="Send the digests and briefings that are due by themselves, at `digest_hour`. Off: only "
        "`POST /api/digests/send` sends them (e.g. from a cron job of your own).",
    )
    digest_hour: int = Field(
        default=7, ge=0, le=23, description="Local hour (in `digest_timezone`) at which the digests go out."
    )
    digest_weekday: int = Field(
        default=0, ge=0, le=6, description="Day the weekly digest goes out: 0 Monday ... 6 Sunday."
    )
    digest_timezone: str = Field(default="UTC", description="IANA time zone of `digest_hour` (e.g. Europe/London).")
    outbox_dir: Path = Field(
        default=DATA_DIR / "outbox",
        description="Without `smtp_url`, each mail is written here as an .eml file (open it in any mail program).",
    )
    batch_dir: Path = Field(
        default=DATA_DIR / "batch",
        description="Scratch folder of the batch engine: the event log exported to Parquet parts and the "
        "feature table it computes (git-ignored; rebuilt from the log when deleted).",
    )
    sources_dir: Path = Field(
        default=DATA_DIR / "sources",
        description="Where external batch groups find their tables: `<schema>/<table>.csv` or `.parquet` "
        "(a `batch_source` with database `files`), e.g. the CRM export `crm/subscriptions.csv`.",
    )
    models_dir: Path = Field(
        default=DATA_DIR / "models",
        description="Trained models, one file per version (`make train`); the newest scores readers.",
    )
    batch_schedule: bool = Field(
        default=True,
        description="Run the batch groups at start and every `batch_interval_seconds`; false: only on demand.",
    )
    model_retrain_hours: float = Field(
        default=24.0,
        gt=0,
        description="Retrain the subscription propensity model on the event log once it is this old (when the "
        "log has enough readers who accepted the offer and who did not; otherwise the model in use stays).",
    )
    batch_interval_seconds: float = Field(
        default=900.0,
        ge=0,
        description="How often batch attribute groups are recomputed and external sources synced; 0 runs them "
        "only at start and on demand (`POST /api/batch/run`).",
    )

    @field_validator("digest_timezone")
    @classmethod
    def _digest_timezone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"DIGEST_TIMEZONE: unknown time zone {value!r} (use an IANA name such as Europe/London)"
            ) from None
        return value

    @field_validator("site_url", "public_api_url")
    @classmethod
    def _public_addresses_are_web_origins(cls, value: str, info: Any) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{info.field_name.upper()}: must be an http or https address, got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"DATABASE_URL: not a database URL: {exc}") from None
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if url.drivername not in SUPPORTED_DATABASES:
            raise ValueError(
                f"DATABASE_URL: use sqlite:///<file> or postgresql+psycopg://..., got a {url.drivername!r} URL"
            )
        if url.drivername == "sqlite" and not url.database:
            raise ValueError("DATABASE_URL: a SQLite URL needs a file (sqlite:///data/media_demo.db)")
        return url.render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _database_url_defaults_to_the_sqlite_file(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.media_demo_db}"
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; given another `media_demo_db`, its `database_url` follows the file when it was the
        file's (validators do not run on a copy, and a copy pointed at a new file must not share the old one)."""
        if (
            update
            and "media_demo_db" in update
            and "database_url" not in update
            and self.database_url == f"sqlite:///{self.media_demo_db}"
        ):
            update = {**update, "database_url": f"sqlite:///{update['media_demo_db']}"}
        return super().model_copy(update=update, deep=deep)

    @field_validator("feed_urls")
    @classmethod
    def _feed_urls_are_web_addresses(cls, value: str) -> str:
        for url in (u.strip() for u in value.split(",")):
            parts = urlsplit(url)
            if url and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ValueError(f"FEED_URLS: each feed must be an http or https URL, got {url!r}")
        return value

    @property
    def feeds(self) -> tuple[str, ...]:
        """The feeds polled, in the order configured, without blanks or repeats."""
        return tuple(dict.fromkeys(u.strip() for u in self.feed_urls.split(",") if u.strip()))

    @property
    def data_folder(self) -> Path:
        """Where the generated secrets are kept: beside the SQLite file (a test's temp database gets its
        own), or `media_demo_db`'s folder (data/) when the database is elsewhere (PostgreSQL)."""
        url = make_url(self.database_url)
        if url.drivername == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).parent
        return self.media_demo_db.parent

    @property
    def collector_url(self) -> str | None:
        """Where the tracker sends events; None means straight into the embedded engine.

        In remote mode the events must reach the deployment whose attributes are read, so without an
        explicit collector they go to the Signals API's origin, where this app's server hosts
        `/com.snowplowanalytics.snowplow/tp2`.
        """
        if self.snowplow_collector_url or not self.signals_api_url:
            return self.snowplow_collector_url
        parts = urlsplit(self.signals_api_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else self.signals_api_url

    @property
    def cookie_secret_path(self) -> Path:
        """The cookie secret's file, in `data_folder`."""
        return self.data_folder / "cookie_secret"

    @property
    def signals_token_path(self) -> Path:
        """The token file; in `data_folder` by default."""
        return self.signals_token_file or self.data_folder / "signals_token"


@cache
def get_settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
