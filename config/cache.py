"""The Django cache on Redis with one redis-py client per process (CACHES' BACKEND with REDIS_URL).

Django's RedisCache builds a new `redis.Redis` object on every cache call, and each thread has its
own RedisCache instance (caches are thread-local), so its own connection pools. Here the client
object and its pool are built once per process, per server list and options, and shared by every
thread: redis-py's `Redis` and `ConnectionPool` are thread-safe (a command checks a connection
out of the pool and back in; a pipeline is a new object each time).

After a fork (gunicorn's workers from a preloaded master, Celery's prefork children) the pool
notices the new process id on its next use and starts over with new connections: the child never
writes to the parent's sockets, and closing the inherited ones does not shut them down for the
parent (redis-py's `ConnectionPool._checkpid`, `Connection.disconnect`). Tested in
tests/test_redis_round_trips.py.

`pipeline()`, `encode()` and `decode()` let a caller batch commands on the same keys and values
the cache API reads (`make_and_validate_key` for the keys): the PIN throttle does.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property

# (servers, options) -> the process's client. Filled with dict.setdefault, atomic under the GIL:
# two threads racing build two clients and keep one, and there is no lock a fork could inherit
# held.
_CLIENTS: dict[tuple, "SharedRedisCacheClient"] = {}


class SharedRedisCacheClient(RedisCacheClient):
    """Django's client with its pools and `Redis` objects built once, not on every call."""

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._redis_clients = {}

    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        pool = self._pools.get(index)
        if pool is None:
            pool = self._pools.setdefault(
                index, self._pool_class.from_url(self._servers[index], **self._pool_options)
            )
        return pool

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._redis_clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._redis_clients.setdefault(index, self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    """Django's RedisCache on the process's shared client."""

    @cached_property
    def _cache(self) -> SharedRedisCacheClient:
        identity = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _CLIENTS.get(identity)
        if client is None:
            client = _CLIENTS.setdefault(
                identity, SharedRedisCacheClient(self._servers, **self._options)
            )
        return client

    def pipeline(self, *, transaction: bool = False):
        """A redis-py pipeline on the primary (write) server: one round trip when executed.
        Keys must come from `make_and_validate_key`, values from `encode`."""
        return self._cache.get_client(write=True).pipeline(transaction=transaction)

    def encode(self, value):
        """A value as the cache API stores it (integers stay integers, so INCR works)."""
        return self._cache._serializer.dumps(value)

    def decode(self, raw):
        """A stored value as the cache API returns it (None: no such key)."""
        return None if raw is None else self._cache._serializer.loads(raw)
