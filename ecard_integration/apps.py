from django.apps import AppConfig


class EcardIntegrationConfig(AppConfig):
    name = "ecard_integration"
    verbose_name = "eCard transactions"

    def ready(self):
        from django.conf import settings

        from ecard_integration.redaction import register_secret

        # The client secret is scrubbed from every log record wherever it appears.
        register_secret(settings.ECARD_CLIENT_SECRET)
