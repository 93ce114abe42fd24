from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(deprecated_settings)


def deprecated_settings(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """WEBHOOK_DISABLE_AFTER_FAILURES no longer counts failures: say so at start-up."""
    if settings.WEBHOOK_DISABLE_AFTER_FAILURES < 0:
        return []
    meaning = (
        "its 0 is read as WEBHOOK_DISABLE_AFTER=0 (never disable)"
        if settings.WEBHOOK_DISABLE_AFTER_FAILURES == 0
        else "its value is ignored"
    )
    return [
        checks.Warning(
            f"WEBHOOK_DISABLE_AFTER_FAILURES is deprecated: webhooks are disabled after WEBHOOK_DISABLE_AFTER of "
            f"failing attempts instead; {meaning}.",
            hint="Remove it and set WEBHOOK_DISABLE_AFTER (for example 5d, or 0 for never).",
            id="webhooks.W001",
        )
    ]
