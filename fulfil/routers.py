from __future__ import annotations

from typing import Any

from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import APIRootView, DefaultRouter
from rest_framework.viewsets import ViewSetMixin


class _Root(APIRootView):
    """The API's front page: links to each resource (browsable when logged in)."""

    permission_classes = (IsAuthenticated,)


class Router(DefaultRouter):
    """A router whose routes match with or without the trailing slash, as the original service,
    and whose front page lists the resources only (not endpoints such as the health check)."""

    APIRootView = _Root
    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
        self.unlisted: set[str] = set()

    def register_unlisted(self, prefix: str, viewset: type[ViewSetMixin], basename: str) -> None:
        """Register routes that the front page does not list (not a resource: health, a status)."""
        self.register(prefix, viewset, basename)
        self.unlisted.add(prefix)

    def get_api_root_view(self, api_urls: Any = None) -> Any:
        listed = [entry for entry in self.registry if entry[0] not in self.unlisted]
        registry, self.registry = self.registry, listed
        try:
            return super().get_api_root_view(api_urls)
        finally:
            self.registry = registry
