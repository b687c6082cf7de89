"""Generic error pages: a status, a title and a sentence, never a detail of what went wrong.

A 404 for a ticket that exists in a queue the agent cannot see must be indistinguishable
from one for a ticket that does not exist, so no page shows the exception's description.
"""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "You cannot do this."),
    404: ("Not found", "There is nothing here, or nothing you can see."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "What you sent is larger than this page accepts."),
    429: ("Too many requests", "Please wait a few minutes and try again."),
    500: ("Something went wrong", "The error has been logged. Please try again later."),
}
CSRF_MESSAGE = (
    "The form has expired",
    "The form was old or did not come from this site. Go back, reload the page and try again.",
)


def render_error(status: int, title: str, message: str) -> tuple[str, int]:
    page = render_template("webui/errors/error.html", status=status, title=title, message=message)
    return page, status


def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    title, message = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    return render_error(status, title, message)


def _csrf_error(_exc: CSRFError) -> tuple[str, int]:
    return render_error(400, *CSRF_MESSAGE)


def _server_error(exc: InternalServerError) -> tuple[str, int]:
    # Flask has already logged the original exception with its traceback.
    return render_error(500, *MESSAGES[500])


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)
