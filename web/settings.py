"""Settings, read once from the environment and validated before anything starts.

Every setting has a default that works on a fresh machine; a value that cannot be used is refused
with a message naming the variable, so an operator never debugs a half-started server.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, TypeAlias
from urllib.parse import urlsplit

from web.redis_urls import RedisUrlError, parse_redis_url

if TYPE_CHECKING:  # a type only: importing the engine loads aiortc, which only media processes need
    from live.media.engine import MediaConfig


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
# The secret goes into MediaMTX's authHTTPAddress URL as it is, so only characters a URL never escapes.
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: the embedded redis-server in data_dir
    secret_key: str
    # Where the built-in test payment provider keeps its charges; None: REDIS_URL. A Redis of its
    # own makes it act like an outside provider that does not forget when the stock Redis does.
    payments_redis_url: str | None = None
    # The sentinels' own password (REDIS_URL's is the data nodes'); docs/redis-cluster.md.
    sentinel_password: str | None = field(default=None, repr=False)  # never in a log line or traceback
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    hold_seconds: int = 300
    holds_per_buyer_per_minute: int = 60
    buyers_per_ip_per_minute: int = 120  # also waiting-room entries per address
    queue_pass_seconds: int = 120  # a waiting room's pass is good this long after admission
    # Stock is pushed when it moves (live.stock_signal); this poll only catches a lost notice.
    stock_poll_ms: int = 1000
    waitlist_offer_s: int = 900  # a back-in-stock offer's hold lasts this long (docs/notify.md)
    chat_messages_per_buyer_per_10s: int = 5
    chat_max_length: int = 280
    chat_retention_days: int = 365  # chat lines and private messages older than this are deleted; 0: kept (docs/privacy.md)
    # The waiting room's proof of work (web.queue_pow): the ALTCHA maxnumber a join must solve; 0: none.
    # docs/waiting-room-pow.md has what a real drop should use and what it costs a phone.
    queue_pow: int = 0
    # Draws mix in a drand beacon round when this names the chain (live.beacon; docs/draws.md):
    # "quicknet" or its chain hash. None: no beacon, and the audit says what that allows.
    draw_beacon: str | None = None
    draw_beacon_url: str = "https://api.drand.sh"
    allowed_origins: tuple[str, ...] = ()
    migrate_on_start: bool = True
    ws_queue_frames: int = 256
    ws_queue_bytes: int = 256 * 1024
    ws_send_timeout_s: float = 5.0
    socket_send_buffer: int = 262_144  # bytes of kernel send buffer per connection; 0: the kernel's autotuning
    # how long `serve` waits on a client (web.http_protocol; docs/operations.md, "Production configuration")
    keep_alive_s: int = 5  # an idle kept-alive connection
    header_timeout_s: int = 10  # a request head, from the connection or the request's first byte
    body_timeout_s: int = 30  # between two reads of a request body
    # On SIGTERM, viewers are told to move (close 1012) spread over this many seconds (live.drain;
    # docs/deployment.md, "Draining a process"); 0: all at once.
    drain_s: float = 10.0
    # who may read /metrics (web.metrics; docs/metrics.md): a caller from these addresses, or with the token
    metrics_token: str | None = field(default=None, repr=False)  # never in a log line or traceback
    metrics_addresses: tuple[Network, ...] = LOOPBACK
    # the worker's own loopback HTTP port: /healthz, /readyz, /metrics (web.worker_http); 0: none
    worker_port: int = 8002
    worker_host: str = "127.0.0.1"  # LIVEDROP_WORKER_HOST: 0.0.0.0 for a Prometheus on another machine
    # PostgreSQL pool per process (web.database; docs/deployment.md, "Connections and PgBouncer")
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pgbouncer: bool = False  # DATABASE_URL goes through PgBouncer in transaction mode: no prepared statement caches
    log_format: str = "text"  # LIVEDROP_LOG_FORMAT: text or json (web.logs)
    access_log_sample: float = 0.01  # the share of requests given an access log line (errors always are)
    # media (WHIP/WHEP): see docs/operations.md, "Video"
    media_url: str | None = None  # the `livedrop media` process; None: media runs in `serve` (own thread)
    media_port: int = 8001  # where `livedrop media` listens (loopback)
    media_ice_servers: tuple[str, ...] = ()  # stun:/turn: URLs; empty: host candidates only
    media_turn_username: str | None = None
    media_turn_password: str | None = None
    media_host_addresses: tuple[str, ...] = ()  # only these addresses as ICE host candidates
    media_remote_addresses: tuple[str, ...] = ()  # only check remote candidates here (empty: not loopback/link-local)
    media_max_viewers: int = 16  # about one core's worth (docs/operations.md, Honest limits)
    recordings_dir: Path | None = None  # where live streams are recorded for replays; None: not recorded
    # who may call POST /api/media/auth (MediaMTX): see docs/operations.md, "MediaMTX with livedrop's accounts"
    media_auth_secret: str | None = field(default=None, repr=False)  # never in a log line or traceback
    media_auth_addresses: tuple[Network, ...] = LOOPBACK
    # payments (docs/payments.md): 'test' (the built-in test provider) or 'stripe'
    payments: str = "test"
    stripe_secret_key: str | None = field(default=None, repr=False)  # never in a log line or traceback
    stripe_publishable_key: str | None = None  # public by design: the browser gets it
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None  # None: api.stripe.com; tests point it at localstripe
    # outbox (docs/webhooks.md, docs/email.md)
    webhook_allow_private: bool = False  # LIVEDROP_WEBHOOK_ALLOW_PRIVATE: webhooks to private/loopback addresses too
    smtp_url: str | None = field(default=None, repr=False)  # None: emails are written as .eml files in data_dir
    mail_from: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def database_is_default(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def production(self) -> bool:
        """Served at a public https:// address (LIVEDROP_PUBLIC_URL): what secure cookies go by too."""
        return bool(self.public_url and self.public_url.startswith("https://"))

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def media_config(self) -> MediaConfig:
        from live.media.engine import MediaConfig  # noqa: PLC0415 - aiortc loads only where media runs

        return MediaConfig(
            ice_servers=self.media_ice_servers,
            turn_username=self.media_turn_username,
            turn_password=self.media_turn_password,
            host_addresses=self.media_host_addresses,
            remote_addresses=self.media_remote_addresses,
            max_viewers=self.media_max_viewers,
            recordings_dir=self.recordings_dir,
        )

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, create_data_dir: bool = True) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("LIVEDROP_DATA_DIR") or Path.cwd() / "livedrop-data").resolve()
        if create_data_dir:
            try:
                data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingsError(f"LIVEDROP_DATA_DIR: cannot create {data_dir}: {exc.strerror}") from exc

        database_url = _database_url(env.get("DATABASE_URL"), data_dir)
        redis_url = _redis_url(env.get("REDIS_URL"), cluster=_bool(env, "LIVEDROP_REDIS_CLUSTER", False))
        secret_key = env.get("SECRET_KEY") or ""
        if secret_key and len(secret_key) < 16:
            raise SettingsError("SECRET_KEY: must be at least 16 characters long")
        if not secret_key:
            if env.get("DATABASE_URL"):
                raise SettingsError(
                    "SECRET_KEY: required when DATABASE_URL is set (every process of a deployment "
                    "must sign sessions and buyer tokens with the same key)"
                )
            secret_key = _data_dir_secret(data_dir) if create_data_dir else "unset-secret-key-for-checks"

        origins = tuple(o.strip().rstrip("/") for o in (env.get("LIVEDROP_ALLOWED_ORIGINS") or "").split(",") if o.strip())
        for origin in origins:
            if origin != "*" and not urlsplit(origin).scheme in ("http", "https"):
                raise SettingsError(f"LIVEDROP_ALLOWED_ORIGINS: {origin!r} is not an origin like https://shop.example")

        public_url = env.get("LIVEDROP_PUBLIC_URL") or None
        if public_url and urlsplit(public_url).scheme not in ("http", "https"):
            raise SettingsError(f"LIVEDROP_PUBLIC_URL: {public_url!r} is not an http(s) URL")

        media_url = (env.get("LIVEDROP_MEDIA_URL") or "").rstrip("/") or None
        if media_url and urlsplit(media_url).scheme not in ("http", "https"):
            raise SettingsError(f"LIVEDROP_MEDIA_URL: {media_url!r} is not an http(s) URL like http://127.0.0.1:8001")
        ice_servers = _list(env, "LIVEDROP_MEDIA_ICE_SERVERS")
        for url in ice_servers:
            if urlsplit(url).scheme not in ("stun", "stuns", "turn", "turns"):
                raise SettingsError(f"LIVEDROP_MEDIA_ICE_SERVERS: {url!r} is not a stun: or turn: URL")
        host_addresses = _list(env, "LIVEDROP_MEDIA_HOST_ADDRESSES")
        for address in host_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SettingsError(f"LIVEDROP_MEDIA_HOST_ADDRESSES: {address!r} is not an IP address") from None
        remote_addresses = _remote_addresses(_list(env, "LIVEDROP_MEDIA_REMOTE_ADDRESSES"))

        recordings_dir = _recordings_dir(env.get("LIVEDROP_RECORDINGS_DIR"), data_dir, create_data_dir)
        media_auth_secret = _media_auth_secret(env.get("LIVEDROP_MEDIA_AUTH_SECRET"))
        media_auth_addresses = _media_auth_addresses(env, media_auth_secret is not None)
        payments, stripe_secret_key, stripe_publishable_key, stripe_webhook_secret, stripe_api_base = _stripe_settings(env)
        metrics_token = _metrics_token(env.get("LIVEDROP_METRICS_TOKEN"))

        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            payments_redis_url=_redis_url(env.get("LIVEDROP_PAYMENTS_REDIS_URL"), "LIVEDROP_PAYMENTS_REDIS_URL"),
            sentinel_password=env.get("LIVEDROP_SENTINEL_PASSWORD") or None,
            secret_key=secret_key,
            host=env.get("LIVEDROP_HOST") or "127.0.0.1",
            port=_int(env, "LIVEDROP_PORT", env.get("PORT") and int_or_error("PORT", env["PORT"]) or 8000, 1, 65535),
            public_url=public_url,
            hold_seconds=_int(env, "LIVEDROP_HOLD_SECONDS", 300, 10, 86400),
            holds_per_buyer_per_minute=_int(env, "LIVEDROP_HOLDS_PER_BUYER_PER_MINUTE", 60, 1, 1_000_000),
            buyers_per_ip_per_minute=_int(env, "LIVEDROP_BUYERS_PER_IP_PER_MINUTE", 120, 1, 1_000_000),
            queue_pass_seconds=_int(env, "LIVEDROP_QUEUE_PASS_S", 120, 5, 3600),
            stock_poll_ms=_int(env, "LIVEDROP_STOCK_POLL_MS", 1000, 100, 60_000),
            waitlist_offer_s=_int(env, "LIVEDROP_WAITLIST_OFFER_S", 900, 1, 7 * 86400),
            chat_messages_per_buyer_per_10s=_int(env, "LIVEDROP_CHAT_PER_BUYER_PER_10S", 5, 1, 10_000),
            chat_max_length=_int(env, "LIVEDROP_CHAT_MAX_LENGTH", 280, 1, 2000),
            chat_retention_days=_int(env, "LIVEDROP_CHAT_RETENTION_DAYS", 365, 0, 36_500),
            # Bounded so a typo cannot ask phones for minutes of work (1M: about a minute, at worst, on a
            # mid-range phone; docs/waiting-room-pow.md).
            queue_pow=_int(env, "LIVEDROP_QUEUE_POW", 0, 0, 1_000_000),
            draw_beacon=_draw_beacon(env.get("LIVEDROP_DRAW_BEACON")),
            draw_beacon_url=_beacon_url(env.get("LIVEDROP_DRAW_BEACON_URL")),
            allowed_origins=origins,
            migrate_on_start=_bool(env, "LIVEDROP_MIGRATE_ON_START", True),
            ws_queue_frames=_int(env, "LIVEDROP_WS_QUEUE_FRAMES", 256, 8, 100_000),
            ws_queue_bytes=_int(env, "LIVEDROP_WS_QUEUE_BYTES", 256 * 1024, 16 * 1024, 64 * 1024 * 1024),
            ws_send_timeout_s=_int(env, "LIVEDROP_WS_SEND_TIMEOUT_MS", 5000, 100, 600_000) / 1000,
            socket_send_buffer=_int(env, "LIVEDROP_SOCKET_SEND_BUFFER", 262_144, 0, 64 * 1024 * 1024),
            keep_alive_s=_int(env, "LIVEDROP_KEEP_ALIVE_SECONDS", 5, 1, 3600),
            header_timeout_s=_int(env, "LIVEDROP_HEADER_TIMEOUT_SECONDS", 10, 1, 600),
            body_timeout_s=_int(env, "LIVEDROP_BODY_TIMEOUT_SECONDS", 30, 1, 3600),
            drain_s=_seconds(env, "LIVEDROP_DRAIN_SECONDS", 10.0, 0.0, 600.0),
            metrics_token=metrics_token,
            metrics_addresses=_addresses(env, "LIVEDROP_METRICS_ADDRESSES", metrics_token is not None),
            worker_port=_int(env, "LIVEDROP_WORKER_PORT", 8002, 0, 65535),
            worker_host=env.get("LIVEDROP_WORKER_HOST") or "127.0.0.1",
            db_pool_size=_int(env, "LIVEDROP_DB_POOL_SIZE", 10, 1, 1000),
            db_max_overflow=_int(env, "LIVEDROP_DB_MAX_OVERFLOW", 10, 0, 1000),
            db_pgbouncer=_bool(env, "LIVEDROP_DB_PGBOUNCER", False),
            log_format=_choice(env, "LIVEDROP_LOG_FORMAT", ("text", "json")),
            access_log_sample=_seconds(env, "LIVEDROP_ACCESS_LOG_SAMPLE", 0.01, 0.0, 1.0),
            media_url=media_url,
            media_port=_int(env, "LIVEDROP_MEDIA_PORT", 8001, 1, 65535),
            media_ice_servers=ice_servers,
            media_turn_username=env.get("LIVEDROP_MEDIA_TURN_USERNAME") or None,
            media_turn_password=env.get("LIVEDROP_MEDIA_TURN_PASSWORD") or None,
            media_host_addresses=host_addresses,
            media_remote_addresses=remote_addresses,
            media_max_viewers=_int(env, "LIVEDROP_MEDIA_MAX_VIEWERS", 16, 0, 100_000),
            recordings_dir=recordings_dir,
            media_auth_secret=media_auth_secret,
            media_auth_addresses=media_auth_addresses,
            payments=payments,
            stripe_secret_key=stripe_secret_key,
            stripe_publishable_key=stripe_publishable_key,
            stripe_webhook_secret=stripe_webhook_secret,
            stripe_api_base=stripe_api_base,
            webhook_allow_private=_bool(env, "LIVEDROP_WEBHOOK_ALLOW_PRIVATE", False),
            smtp_url=_smtp_url(env.get("LIVEDROP_SMTP_URL")),
            mail_from=env.get("LIVEDROP_MAIL_FROM") or None,
        )


def _remote_addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses, networks or ``public``, checked the way live.media.ice reads them (without
    importing aioice here: processes without video never load it)."""
    parsed = []
    for value in values:
        if value.lower() == "public":
            parsed.append("public")
            continue
        try:
            parsed.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise SettingsError(f"LIVEDROP_MEDIA_REMOTE_ADDRESSES: {value!r} is not an IP address, a network "
                                "(10.0.0.0/8) or 'public'") from None
    return tuple(parsed)


def int_or_error(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = int_or_error(name, raw)
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is out of range ({low} to {high})")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise SettingsError(f"{name}: {raw!r} is not one of {', '.join(choices)}")
    return raw


def _metrics_token(raw: str | None) -> str | None:
    """LIVEDROP_METRICS_TOKEN: the bearer token Prometheus sends (``authorization: credentials``
    in its scrape config). Never quoted in a message."""
    if not raw:
        return None
    if len(raw) < 16:
        raise SettingsError("LIVEDROP_METRICS_TOKEN: must be at least 16 characters long")
    if not set(raw) <= _URL_SAFE:
        raise SettingsError("LIVEDROP_METRICS_TOKEN: only letters, digits and - . _ ~ "
                            "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one)")
    return raw


def _addresses(env: Mapping[str, str], name: str, has_secret: bool) -> tuple[Network, ...]:
    """A list of trusted addresses or networks. Unset: loopback, unless a secret is set (then only
    the secret opens; a reverse proxy on the same machine makes every visitor look like loopback)."""
    items = _list(env, name)
    if not items:
        return () if has_secret else LOOPBACK
    networks: list[Network] = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an IP address or network like 10.0.0.0/24") from None
    return tuple(networks)


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A duration in seconds, decimals allowed (``2.5``)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a number of seconds") from None
    if not low <= value <= high:  # also refuses nan and inf
        raise SettingsError(f"{name}: {raw} is out of range ({low:g} to {high:g} seconds)")
    return value
QUICKNET_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"  # live.beacon's


def _draw_beacon(raw: str | None) -> str | None:
    if not raw or raw == "off":
        return None
    if raw in ("quicknet", QUICKNET_HASH):
        return QUICKNET_HASH
    raise SettingsError(f"LIVEDROP_DRAW_BEACON: {raw!r} is not a drand chain livedrop knows; use quicknet (or off)")


def _beacon_url(raw: str | None) -> str:
    if not raw:
        return "https://api.drand.sh"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"LIVEDROP_DRAW_BEACON_URL: {raw!r} is not an http(s) address of a drand relay")
    return raw.rstrip("/")


def _smtp_url(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port
    except ValueError:
        raise SettingsError("LIVEDROP_SMTP_URL: not a URL like smtp://user:password@host:587?starttls=1") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError("LIVEDROP_SMTP_URL: must be smtp://[user:password@]host[:port][?starttls=1] or smtps://...")
    return raw


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in (env.get(name) or "").split(",") if item.strip())


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: {raw!r} is not a yes/no value (use 1 or 0)")


def _recordings_dir(raw: str | None, data_dir: Path, create: bool) -> Path | None:
    """LIVEDROP_RECORDINGS_DIR: a folder (default: recordings/ in the data folder), or ``off``.
    Checked writable at start: a show is recorded while it runs, too late to learn it cannot be."""
    raw = (raw or "").strip()
    if raw.lower() in ("off", "0", "no", "false"):
        return None
    path = Path(raw).expanduser().resolve() if raw else data_dir / "recordings"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(f"LIVEDROP_RECORDINGS_DIR: cannot create {path}: {exc.strerror}") from exc
        if not os.access(path, os.W_OK | os.X_OK):
            raise SettingsError(f"LIVEDROP_RECORDINGS_DIR: {path} is not writable")
    elif path.exists() and not path.is_dir():
        raise SettingsError(f"LIVEDROP_RECORDINGS_DIR: {path} is not a folder")
    return path


def _media_auth_secret(raw: str | None) -> str | None:
    """LIVEDROP_MEDIA_AUTH_SECRET: the secret MediaMTX sends with each authorization call. The
    messages never quote it: they end up in logs."""
    if not raw:
        return None
    if len(raw) < 16:
        raise SettingsError("LIVEDROP_MEDIA_AUTH_SECRET: must be at least 16 characters long")
    if not set(raw) <= _URL_SAFE:
        raise SettingsError(
            "LIVEDROP_MEDIA_AUTH_SECRET: only letters, digits and - . _ ~ (it goes into MediaMTX's "
            "authHTTPAddress URL as it is); `python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one"
        )
    return raw


def _media_auth_addresses(env: Mapping[str, str], has_secret: bool) -> tuple[Network, ...]:
    """LIVEDROP_MEDIA_AUTH_ADDRESSES: the MediaMTX hosts trusted without the secret. Unset, that is
    loopback; but once a secret is set, nobody: a reverse proxy on the same machine that forwards
    without X-Forwarded-For makes every visitor look like loopback, and the operator who set a secret
    means it to be asked of every caller. Listing addresses explicitly trusts them as well."""
    items = _list(env, "LIVEDROP_MEDIA_AUTH_ADDRESSES")
    if not items:
        return () if has_secret else LOOPBACK
    networks: list[Network] = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(
                f"LIVEDROP_MEDIA_AUTH_ADDRESSES: {item!r} is not an IP address or network like 10.0.0.0/24"
            ) from None
    return tuple(networks)


PAYMENT_PROVIDERS = ("test", "stripe")


def _stripe_settings(env: Mapping[str, str]) -> tuple[str, str | None, str | None, str | None, str | None]:
    """LIVEDROP_PAYMENTS and, with ``stripe``, the STRIPE_* variables. The messages name the
    variable and never quote a secret."""
    payments = (env.get("LIVEDROP_PAYMENTS") or "test").strip().lower()
    if payments not in PAYMENT_PROVIDERS:
        raise SettingsError(f"LIVEDROP_PAYMENTS: {payments!r} is not a payment provider; use test (the default) or stripe")
    if payments == "test":
        return "test", None, None, None, None
    secret = (env.get("STRIPE_SECRET_KEY") or "").strip()
    publishable = (env.get("STRIPE_PUBLISHABLE_KEY") or "").strip()
    webhook_secret = (env.get("STRIPE_WEBHOOK_SECRET") or "").strip() or None
    api_base = (env.get("STRIPE_API_BASE") or "").strip().rstrip("/") or None
    if not secret:
        raise SettingsError("STRIPE_SECRET_KEY: required with LIVEDROP_PAYMENTS=stripe (the dashboard's sk_live_... or sk_test_... key)")
    if not secret.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise SettingsError("STRIPE_SECRET_KEY: is not a Stripe secret key (it starts with sk_test_, sk_live_ or a restricted rk_)")
    if not publishable:
        raise SettingsError("STRIPE_PUBLISHABLE_KEY: required with LIVEDROP_PAYMENTS=stripe (pk_live_... or pk_test_...; "
                            "the browser's Stripe.js uses it)")
    if not publishable.startswith(("pk_test_", "pk_live_")):
        raise SettingsError("STRIPE_PUBLISHABLE_KEY: is not a Stripe publishable key (it starts with pk_test_ or pk_live_)")
    if ("_live_" in secret) != ("_live_" in publishable):
        raise SettingsError("STRIPE_PUBLISHABLE_KEY: one key is a live key and the other a test key; use a pair from the same mode")
    if webhook_secret is not None and not webhook_secret.startswith("whsec_"):
        raise SettingsError("STRIPE_WEBHOOK_SECRET: is not a webhook signing secret (it starts with whsec_)")
    if api_base is not None and urlsplit(api_base).scheme not in ("http", "https"):
        raise SettingsError(f"STRIPE_API_BASE: {api_base!r} is not an http(s) URL like http://127.0.0.1:8420 (localstripe)")
    return "stripe", secret, publishable, webhook_secret, api_base


def _database_url(raw: str | None, data_dir: Path) -> str:
    if not raw:
        return f"sqlite+aiosqlite:///{data_dir / 'livedrop.sqlite3'}"
    scheme = urlsplit(raw).scheme
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return "postgresql+asyncpg://" + raw.split("://", 1)[1]
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return "sqlite+aiosqlite://" + raw.split("://", 1)[1]
    raise SettingsError(
        f"DATABASE_URL: unsupported scheme {scheme!r}; use postgresql://user@host/db or sqlite:///path"
    )


def _redis_url(raw: str | None, variable: str = "REDIS_URL", *, cluster: bool = False) -> str | None:
    """The URL, checked (web.redis_urls); with ``cluster`` (LIVEDROP_REDIS_CLUSTER=1) a redis:// URL
    comes back as redis+cluster://, so every later reader sees one spelling."""
    if not raw:
        return None
    try:
        return parse_redis_url(raw, cluster=cluster, variable=variable).url
    except RedisUrlError as exc:
        raise SettingsError(str(exc)) from None


def _data_dir_secret(data_dir: Path) -> str:
    """The key generated once into the data folder, so restarts keep sessions and buyer tokens valid."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    fd = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, key.encode())
        return key
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    finally:
        if fd is not None:
            os.close(fd)


def redacted(url: str) -> str:
    """A URL with its password hidden, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
