"""設定 / settings, read on demand: flags, then environment, then a config file.

Nothing is built at import time: call :func:`get_settings` where settings are needed.

- ``RECONCILE_DATABASE_URL`` — SQLAlchemy URL; default ``sqlite:///reconcile.sqlite3`` in the
  working directory.
- ``RECONCILE_SECRET_KEY`` — key for the keyed hash of individual numbers.
- ``RECONCILE_CONFIG`` — path of the config file; default ``reconcile.toml`` in the working directory.

The config file is TOML::

    database_url = "postgresql+psycopg://…"
    secret_key = "…"            # `reconcile demo` writes one when none is configured

    [detectors]                 # thresholds passed to the rules as `settings`
    mislink_queue_threshold = 0.5

    [queues]                    # routing, priority, service levels: reconcile.queues.queue_config
    sla_days = { mislink = 14 }

    [schedule]                  # jobs of `reconcile schedule run` (reconcile.schedule)

An unknown top-level key is an error naming it (:data:`KNOWN_KEYS`; a module that reads a new
table adds its name there). The tables' own keys are checked by the modules that read them
(:data:`SECTION_VALIDATORS`: ``name -> callable(dict)`` raising with the key named).
"""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconcile.errors import EnvironmentProblem, InvalidInput

DEFAULT_CONFIG_FILE = "reconcile.toml"
DEFAULT_DATABASE_URL = "sqlite:///reconcile.sqlite3"


class ConfigError(EnvironmentProblem):
    """The configuration is incomplete or unreadable (message says what to do); exit 1."""


class ConfigKeyError(InvalidInput):
    """An unknown or mistyped key in the config file (the message names it); exit 2, like bad input."""


#: Top-level keys of reconcile.toml; anything else is an error naming the key.
KNOWN_KEYS: set[str] = {"database_url", "secret_key", "model_path", "detectors", "queues", "schedule"}
#: Validators of a table's contents, by table name (e.g. the detectors' thresholds); each raises
#: an exception whose message names the offending key. Registered by the module owning the table.
SECTION_VALIDATORS: dict[str, Any] = {}


def _validate_detectors(table: dict[str, Any]) -> None:
    import detectors.rules  # noqa: F401 — every rule declares its settings
    from detectors.registry import SettingsError, validate_settings
    try:
        validate_settings(table)
    except SettingsError as exc:
        raise ConfigKeyError(exc.ja, exc.en, field=f"detectors.{exc.key}") from exc


def validate_file(file: dict[str, Any], path: Path) -> None:
    """Unknown top-level keys, then each table's own validator; raises :class:`ConfigKeyError`
    (exit 2) naming the key."""
    unknown = sorted(set(file) - KNOWN_KEYS)
    if unknown:
        raise ConfigKeyError(f"設定ファイル {path} に不明なキー {unknown[0]!r} があります "
                             f"（使えるキー: {', '.join(sorted(KNOWN_KEYS))}）",
                             f"unknown key {unknown[0]!r} in config file {path}", field=unknown[0])
    for name in ("detectors", "queues", "schedule"):
        if name in file and not isinstance(file[name], dict):
            raise ConfigKeyError(f"設定ファイル {path}: [{name}] はテーブルで書いてください",
                                 f"{name} must be a table in {path}", field=name)
    from reconcile.queues import QueueConfigError, queue_config
    try:
        queue_config(file.get("queues"))
    except QueueConfigError as exc:
        raise ConfigKeyError(f"設定ファイル {path}: {exc}", field="queues") from exc
    validators = {"detectors": _validate_detectors, **SECTION_VALIDATORS}
    for name, validator in validators.items():
        if name in file:
            try:
                validator(file[name])
            except ConfigKeyError as exc:
                raise ConfigKeyError(f"設定ファイル {path}: {exc.ja}", exc.en and f"config file {path}: {exc.en}",
                                     field=exc.field) from exc
            except Exception as exc:  # noqa: BLE001 — a validator's message names the key
                text = exc.text("ja") if hasattr(exc, "text") else str(exc)
                raise ConfigKeyError(f"設定ファイル {path}: [{name}] {text}", field=name) from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str | None
    config_path: Path
    detectors: dict[str, Any] = field(default_factory=dict)
    model_path: Path | None = None
    queues: dict[str, Any] = field(default_factory=dict)      # raw [queues]; see queue_settings()
    schedule: dict[str, Any] = field(default_factory=dict)    # raw [schedule] (reconcile.schedule)

    def queue_settings(self):
        """The :class:`reconcile.queues.QueueConfig` of ``[queues]`` (defaults when absent)."""
        from reconcile.queues import queue_config
        return queue_config(self.queues)

    def require_key(self) -> bytes:
        if not self.secret_key:
            raise ConfigError(
                "個人番号のハッシュ鍵が設定されていません。RECONCILE_SECRET_KEY を設定するか "
                f"{self.config_path} に secret_key を書いてください（reconcile demo は自動で作成します）。 / "
                "No secret key: set RECONCILE_SECRET_KEY or secret_key in the config file.")
        return self.secret_key.encode("utf-8")


def _config_path() -> Path:
    return Path(os.environ.get("RECONCILE_CONFIG", DEFAULT_CONFIG_FILE))


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"設定ファイル {path} を読めません / cannot read config file {path}: {exc}") from exc


def get_settings(*, database_url: str | None = None, secret_key: str | None = None) -> Settings:
    """Settings in the documented order: explicit arguments (flags), environment, config file."""
    path = _config_path()
    file = _read_file(path)
    validate_file(file, path)
    model = os.environ.get("RECONCILE_MODEL_PATH") or file.get("model_path")
    return Settings(
        database_url=database_url or os.environ.get("RECONCILE_DATABASE_URL")
        or file.get("database_url") or DEFAULT_DATABASE_URL,
        secret_key=secret_key or os.environ.get("RECONCILE_SECRET_KEY") or file.get("secret_key"),
        config_path=path,
        detectors=dict(file.get("detectors", {})),
        model_path=Path(model) if model else None,
        queues=dict(file.get("queues", {})),
        schedule=dict(file.get("schedule", {})),
    )


def ensure_secret_key() -> Settings:
    """Return settings with a secret key, writing a new random one to the config file if none is set."""
    settings = get_settings()
    if settings.secret_key:
        return settings
    path = settings.config_path
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    key = secrets.token_urlsafe(32)
    path.write_text(f'secret_key = "{key}"\n' + existing, encoding="utf-8")
    try:
        path.chmod(0o600)
    except OSError:
        pass
    return get_settings()
