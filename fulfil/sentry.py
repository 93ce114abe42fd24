"""Error reporting: unhandled errors in views and Celery tasks, and error log lines, to Sentry."""

from __future__ import annotations


def sentry_init(*, dsn: str, environment: str) -> bool:
    """Start reporting to Sentry when a DSN is set (settings call this at start-up, in web and
    workers alike); without one, nothing is set up and nothing is ever sent. Errors only: no
    performance tracing, and no personal data (user names, addresses, cookies) in the reports."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    from fulfil import __version__

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=f"fulfil@{__version__}",
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=0.0,
        # No data_collection option: the SDK's default sends no user details, cookies or bodies.
    )
    return True
