def strip_optional_slash(endpoints):
    """drf-spectacular hook: routes match with or without a trailing slash; document them without."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]
