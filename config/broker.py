"""The Redis broker transport the worker uses: kombu's, with one fix that keeps it alive.

kombu 5.7.0 (latest, with celery 5.7.0 and redis 8.1.0) kills the worker when Redis dies at once
(SIGKILL, a crash, a dropped network) while a message is unacknowledged. On the lost connection
celery's consumer calls `Connection.collect()` and then `Connection.close()`. In `collect()` the
channel's close fails early (draining its pending BRPOP from the dead server), the error is
swallowed, and `collect()` detaches the transport from its connection (`transport.client = None`).
`close()` then closes the same channel again; this time it gets as far as restoring the
unacknowledged message, which builds a fresh Redis pool from `transport.client`: `AttributeError:
'NoneType' object has no attribute 'hostname'`. That is not a connection error, so the consumer
does not reconnect: "Unrecoverable error" and the worker exits. A late acknowledgement of a task
that was running meets the same `None` and fails the same way.

Here a channel whose transport is detached answers with a connection error instead, which both
paths already treat as "the broker is gone": the consumer reconnects and the worker lives on. What
was not acknowledged stays in Redis's unacked index and is redelivered after the visibility
timeout; every task is safe to run twice and the sweep finds due rows whatever happens to messages.
A graceful Redis stop never took this path (the BRPOP drain does not fail), so it was survived.
"""

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
