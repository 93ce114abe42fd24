from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import APIRootView, DefaultRouter


class _Root(APIRootView):
    """The API's front page: links to each resource (browsable when logged in)."""

    permission_classes = (IsAuthenticated,)


class Router(DefaultRouter):
    """A router whose routes match with or without the trailing slash, as the original service."""

    APIRootView = _Root
    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
