"""The short-lived store: Redis in production, an in-process dict in the embedded default.

Only services use it, through this small interface. Every key has a TTL so nothing grows
without bound.
"""

from __future__ import annotations

import threading
from typing import Protocol

from . import clock
from .errors import StoreUnavailable


class Store(Protocol):
    # False for the in-process store: another process (a worker, the CLI) never sees its keys.
    shared: bool

    def put(self, key: str, value: str, ttl_seconds: int) -> None: ...
    def get(self, key: str) -> str | None: ...
    def get_many(self, keys: list[str]) -> list[str | None]: ...
    def put_many(self, items: list[tuple[str, str, int]]) -> None: ...
    def add(self, key: str, value: str, ttl_seconds: int) -> bool: ...
    def delete(self, key: str) -> None: ...
    def incr(self, key: str, ttl_seconds: int) -> int: ...
    def ping(self) -> None: ...


class MemoryStore:
    """A per-process store for the embedded default (one process, no services)."""

    shared = False

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at <= clock.now():
            del self._items[key]
            return None
        return value

    def put(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._evict_expired()
            self._items[key] = (value, clock.now() + ttl_seconds)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def get_many(self, keys: list[str]) -> list[str | None]:
        with self._lock:
            return [self._live(key) for key in keys]

    def put_many(self, items: list[tuple[str, str, int]]) -> None:
        for key, value, ttl_seconds in items:
            self.put(key, value, ttl_seconds)

    def add(self, key: str, value: str, ttl_seconds: int) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._items[key] = (value, clock.now() + ttl_seconds)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one atomically; the TTL starts with the first increment (a fixed window)."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[1] <= clock.now():
                self._items[key] = ("1", clock.now() + ttl_seconds)
                return 1
            count = int(item[0]) + 1
            self._items[key] = (str(count), item[1])
            return count

    def ping(self) -> None:
        return None

    def _evict_expired(self) -> None:
        current = clock.now()
        for key in [k for k, (_, exp) in self._items.items() if exp <= current]:
            del self._items[key]


class RedisStore:
    """Keys live under a prefix, each with a TTL."""

    shared = True

    def __init__(self, url: str, prefix: str, timeout_seconds: float = 0.5) -> None:
        import redis

        self._redis = redis_client(url, timeout_seconds)
        self._prefix = prefix
        # RedisClusterException is not a RedisError (cross-slot commands, no node reachable).
        self._errors = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)
        # A cluster spreads keys over slots: MGET of several keys is refused there.
        self._mget = "mget_nonatomic" if hasattr(self._redis, "mget_nonatomic") else "mget"

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, method: str, *args):
        try:
            return getattr(self._redis, method)(*args)
        except self._errors as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

    def put(self, key: str, value: str, ttl_seconds: int) -> None:
        self._call("set", self._k(key), value, ttl_seconds)

    def get(self, key: str) -> str | None:
        value = self._call("get", self._k(key))
        return value.decode() if value is not None else None

    def get_many(self, keys: list[str]) -> list[str | None]:
        values = self._call(self._mget, [self._k(key) for key in keys])
        return [value.decode() if value is not None else None for value in values]

    def put_many(self, items: list[tuple[str, str, int]]) -> None:
        """In order, in one round trip per node: on one connection, if the last item reached
        a Redis, every earlier one reached that same Redis (a restart breaks the connection).
        Not MULTI: a cluster refuses transactions across slots."""
        pipeline = self._redis.pipeline(transaction=False)
        for key, value, ttl_seconds in items:
            pipeline.set(self._k(key), value, ttl_seconds)
        try:
            pipeline.execute()
        except self._errors as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

    def add(self, key: str, value: str, ttl_seconds: int) -> bool:
        return bool(self._call("set", self._k(key), value, ttl_seconds, None, True))

    def delete(self, key: str) -> None:
        self._call("delete", self._k(key))

    def incr(self, key: str, ttl_seconds: int) -> int:
        """SET NX EX then INCR in one MULTI: atomic across workers, the TTL set when the
        counter starts (a fixed window), never a counter without TTL; any Redis >= 2.6."""
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._k(key), 0, ex=ttl_seconds, nx=True)
            pipe.incr(self._k(key))
            return int(pipe.execute()[1])
        except self._errors as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

    def ping(self) -> None:
        self._call("ping")

    def close(self) -> None:
        self._redis.close()

    def delete_prefix(self) -> None:
        """Remove every key under this store's prefix (test clean-up)."""
        try:
            for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
                self._redis.delete(key)
        except self._errors as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc


def timeouts(seconds: float) -> dict[str, float]:
    """Connect and read timeouts for every Redis client (IDP_REDIS_TIMEOUT): without them a
    hung Redis holds every request that touches it, and with it every worker."""
    return {"socket_timeout": seconds, "socket_connect_timeout": seconds}


def redis_client(url: str, timeout_seconds: float = 0.5):
    """A client for any REDIS_URL form (the same schemes Flask-Limiter's storage accepts):

    - `redis://[:password@]host:port/db`, `rediss://…` (TLS), `unix:///path?db=0`
    - `redis+sentinel://[:password@]host:26379,host2:26379/service_name[/db]`
    - `redis+cluster://[:password@]host:6379,host2:6379`
    """
    from urllib.parse import urlsplit

    import redis
    from redis.cluster import ClusterNode, RedisCluster
    from redis.sentinel import Sentinel

    limits = timeouts(timeout_seconds)
    parts = urlsplit(url)
    if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
        hosts = [_host_port(h, 26379) for h in parts.netloc.rpartition("@")[2].split(",")]
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ValueError("redis+sentinel:// URLs name the service: …/service_name[/db]")
        sentinel = Sentinel(
            hosts,
            sentinel_kwargs={"password": parts.password, **limits},
            password=parts.password,
            db=int(path[1]) if len(path) > 1 else 0,
            ssl=parts.scheme.startswith("rediss"),
            **limits,
        )
        return sentinel.master_for(path[0])
    if parts.scheme in ("redis+cluster", "rediss+cluster"):
        nodes = [
            ClusterNode(*_host_port(h, 6379)) for h in parts.netloc.rpartition("@")[2].split(",")
        ]
        return RedisCluster(
            startup_nodes=nodes,
            password=parts.password,
            ssl=parts.scheme.startswith("rediss"),
            **limits,
        )
    return redis.Redis.from_url(url, **limits)


def parse_cluster_or_sentinel_hosts(url: str) -> list[tuple[str, int]]:
    """The hosts of a `redis+sentinel://` or `redis+cluster://` URL, without connecting (a
    ValueError names what is wrong); [] for the other forms, which redis-py parses itself."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"sentinel": 26379, "cluster": 6379}.get(parts.scheme.rpartition("+")[2])
    if not parts.scheme.startswith(("redis+", "rediss+")) or default is None:
        return []
    hosts = [_host_port(h, default) for h in parts.netloc.rpartition("@")[2].split(",")]
    if parts.scheme.endswith("+sentinel") and not [p for p in parts.path.split("/") if p]:
        raise ValueError("redis+sentinel:// URLs name the service: …/service_name[/db]")
    return hosts


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return host, int(port or default_port)


def create_store(redis_url: str, prefix: str, timeout_seconds: float = 0.5) -> Store:
    """Return a Redis store when a URL is configured, else the in-process one."""
    if redis_url:
        return RedisStore(redis_url, prefix, timeout_seconds)
    return MemoryStore()
