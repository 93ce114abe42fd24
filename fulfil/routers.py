from rest_framework.routers import SimpleRouter


class Router(SimpleRouter):
    """A router whose routes match with or without the trailing slash, as the original service."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
