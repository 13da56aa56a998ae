from django.db import models


class Heartbeat(models.Model):
    """One row per name, upserted by `/healthz` to prove the database takes writes."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
