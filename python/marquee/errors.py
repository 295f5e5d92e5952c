"""Errors of the Marquee SDK: one `Error` base class carrying the server's code, message and HTTP
status, and one subclass per server error code (include/marquee/error.h names them).

    try:
        client.model("nope")
    except marquee.NotFound as e:
        print(e.code, e.status, e.message)  # not_found 404 unknown model 'nope'

Codes the SDK does not know (a newer server) raise the `Error` base class with the code as sent.
Errors raised before any request (a bad argument) have status None.
"""


class Error(Exception):
    """A Marquee error: `code` (the server's error code, e.g. "not_found"), `message` (the server's
    message, which names the problem) and `status` (the HTTP status, None when no response)."""

    code_name = None  # the server code a subclass stands for

    def __init__(self, code, message, status=None):
        super().__init__(f"{code}: {message}" if status is None else f"{code} ({status}): {message}")
        self.code = code
        self.message = message
        self.status = status


# One subclass per server code: (class name, code, when the server raises it).
_SUBCLASSES = [
    ("InvalidArgument", "invalid_argument", "a malformed request: the message names the field"),
    ("NotFound", "not_found", "an unknown run, model, version, alias, dataset, job or user"),
    ("AlreadyExists", "already_exists", "the name is taken, or a decision already has a reward"),
    ("FailedPrecondition", "failed_precondition",
     "the state forbids it: a promotion gate that fails, a finished run"),
    ("PermissionDenied", "permission_denied", "the API key lacks the route's scope"),
    ("Unauthenticated", "unauthenticated", "no API key, or an unknown one (--api-keys)"),
    ("ResourceExhausted", "resource_exhausted", "a body or batch over the server's limits"),
    ("Unavailable", "unavailable", "the server cannot be reached, or a model is not loaded yet"),
    ("Internal", "internal", "a bug in the server"),
]
for _name, _code, _doc in _SUBCLASSES:
    globals()[_name] = type(_name, (Error,), {"code_name": _code, "__doc__": _doc.capitalize() +
                                              f" (code {_code}).", "__module__": __name__})

_BY_CODE = {code: globals()[name] for name, code, _ in _SUBCLASSES}

# When an error body is not the API's JSON (a proxy's page), the HTTP status picks the code.
_BY_STATUS = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
              404: "not_found", 409: "failed_precondition", 412: "failed_precondition",
              413: "resource_exhausted", 429: "resource_exhausted", 500: "internal",
              503: "unavailable"}


def error_for(code, message, status=None):
    """The Error (subclass for a known code, the base class otherwise) for a server code."""
    return _BY_CODE.get(code, Error)(code, message, status)


def error_from_status(status, body):
    """The Error for an HTTP error answer: its JSON {"error": {"code", "message"}} when the body
    is one, else a code from the status and the body's text as the message."""
    import json

    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    try:
        err = json.loads(text)["error"]
        return error_for(str(err["code"]), str(err["message"]), status)
    except (ValueError, KeyError, TypeError):
        code = _BY_STATUS.get(status, "unknown")
        return error_for(code, text.strip() or f"HTTP {status}", status)
