"""Dumps of everything a leak could hide in: database rows, Redis keys and values, queue files."""

from django.db import connection


def dump_database() -> str:
    """Every row of every table as text: what a database dump would show."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for record in cursor.fetchall():
                parts.append(" ".join(_text(value) for value in record))
    return "\n".join(parts)


def _text(value) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def dump_redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    parts = []
    for key in client.scan_iter(count=1000):
        parts.append(key.decode("latin-1"))
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(client.get(key).decode("latin-1"))
        elif kind == "list":
            parts += [v.decode("latin-1") for v in client.lrange(key, 0, -1)]
        elif kind == "hash":
            parts += [v.decode("latin-1") for v in client.hgetall(key).values()]
        elif kind == "set":
            parts += [v.decode("latin-1") for v in client.smembers(key)]
        elif kind == "zset":
            parts += [v.decode("latin-1") for v in client.zrange(key, 0, -1)]
    return "\n".join(parts)


def dump_queue_folder(path) -> str:
    from pathlib import Path

    folder = Path(path)
    if not folder.exists():
        return ""
    return "\n".join(f.read_bytes().decode("latin-1") for f in folder.rglob("*") if f.is_file())
