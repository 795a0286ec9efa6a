"""The telephony half of the JSON API (scope `calls`): live call events and call-log uploads.

- `POST /api/v1/calls`: one call as it happens. It is decided and recorded like a row of an
  imported call log, and the answer carries its flags. A repeat of the same event (a
  platform retrying after a time-out) is answered with what was recorded the first time.
- `POST /api/v1/call-logs`: a whole call-log file, stored and imported by a job; the answer
  (202) points at `GET /api/v1/call-logs/ID`, the import's progress and report.

The views only translate HTTP to gateway.calls and back; the work is done there.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

from flask import Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from admin_ui.api.openapi import MAX_IMPORT_ID
from admin_ui.api.v1 import bp, current_token, error_response, require_scope
from gateway.calls import (
    CallConflict,
    CallImportError,
    CallInput,
    CallInputError,
    ImportNotQueued,
    import_status,
    queue_upload,
    record_call,
)
from gateway.runtime import Runtime
from gateway.services.accounts import SCOPE_CALLS

# A month of a busy council's calls is a few hundred megabytes of CSV at most.
MAX_UPLOAD_BYTES = 1 << 30
DEFAULT_UPLOAD_NAME = "call-log.csv"

_CALL_FIELDS: dict[str, tuple[type, ...]] = {
    "caller": (str,),
    "called": (str,),
    "started_at": (str,),
    "duration_seconds": (int,),
    "direction": (str,),
    "external_id": (str,),
}
_REQUIRED_CALL_FIELDS = ("caller", "called", "started_at")
# Optional, but null is not one of its values: leave it out for an inbound call.
_NOT_NULL_CALL_FIELDS = ("direction",)


@bp.post("/calls")
@require_scope(SCOPE_CALLS)
def post_call() -> ResponseReturnValue:
    """Record one call event and answer with its outcome and flags (201, or 200 for a repeat)."""
    call = _call_input(request.get_json(silent=True))
    if isinstance(call, Response):
        return call
    try:
        result = record_call(_runtime(), call, actor=current_token().actor, source="api")
    except CallConflict as exc:
        return error_response(409, "conflict", str(exc))
    except CallInputError as exc:
        return error_response(400, "bad_request", str(exc))
    response = jsonify(result.as_dict())
    response.status_code = 200 if result.duplicate else 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _call_input(body: Any) -> CallInput | Response:
    """The call the JSON body describes, or a 400 naming the first thing wrong with it."""
    if not isinstance(body, dict):
        return _bad("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - set(_CALL_FIELDS))
    if unknown:
        return _bad(f"unknown field {unknown[0]!r}; the fields are {', '.join(_CALL_FIELDS)}")
    missing = [name for name in _REQUIRED_CALL_FIELDS if body.get(name) is None]
    if missing:
        return _bad(f"{missing[0]} is required")
    null = [name for name in _NOT_NULL_CALL_FIELDS if name in body and body[name] is None]
    if null:
        return _bad(f"{null[0]} must be a string; leave it out for the default")
    body = {name: _whole_number_as_int(value) for name, value in body.items()}
    for name, value in body.items():
        if value is not None and not _is_a(value, _CALL_FIELDS[name]):
            expected = "an integer" if _CALL_FIELDS[name] == (int,) else "a string"
            return _bad(f"{name} must be {expected}")
        if isinstance(value, str) and "\x00" in value:
            # No telephony platform sends one, and PostgreSQL cannot store it.
            return _bad(f"{name} holds a NUL character")
    started_at = _instant(body["started_at"])
    if started_at is None:
        return _bad("started_at must be an ISO 8601 time with a zone, e.g. 2026-11-24T10:15:00Z")
    return CallInput(
        caller=body["caller"],
        called=body["called"],
        started_at=started_at,
        duration_seconds=body.get("duration_seconds"),
        direction=body.get("direction", "inbound"),
        external_id=body.get("external_id"),
        platform=f"token-{current_token().id}",
    )


def _whole_number_as_int(value: Any) -> Any:
    # JSON has one number type: 834.0 is the integer 834 to JSON Schema, and to the document.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _is_a(value: Any, kinds: tuple[type, ...]) -> bool:
    # JSON true/false are Python ints; a duration of `true` is a mistake, not one second.
    return isinstance(value, kinds) and not isinstance(value, bool)


def _instant(text: str) -> dt.datetime | None:
    try:
        instant = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    # A time without a zone is refused by record_call with its own message.
    return instant


@bp.post("/call-logs")
@require_scope(SCOPE_CALLS)
def post_call_log() -> ResponseReturnValue:
    """Store an uploaded call log and queue its import (202, with where to read its status).

    The file is either the body itself (any content type but multipart; name it with
    `?name=`) or the `file` part of a multipart/form-data form. The format is detected from
    the file unless `format` (query or form field) names one of config/call_formats/.
    """
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        return error_response(
            413, "too_large", f"a call log may be at most {MAX_UPLOAD_BYTES} bytes"
        )
    upload = _uploaded_file()
    if isinstance(upload, Response):
        return upload
    stream, file_name, format_name = upload
    try:
        import_id = queue_upload(_runtime(), stream, file_name, format_name or None)
    except ImportNotQueued as exc:
        response = error_response(503, "unavailable", str(exc))
        response.headers["Retry-After"] = "30"
        return response
    except CallImportError as exc:
        return error_response(400, "bad_request", str(exc))
    status_url = url_for("api.call_log_status", import_id=import_id)
    response = jsonify(id=import_id, status="queued", status_url=status_url)
    response.status_code = 202
    response.headers["Location"] = status_url
    return response


def _uploaded_file() -> tuple[IO[bytes], str, str] | Response:
    """The file, its name and the format asked for (empty: recognise it from the file)."""
    format_name = request.args.get("format", "")
    if request.mimetype == "multipart/form-data":
        part = request.files.get("file")
        if part is None:
            return _bad("the multipart form has no 'file' part")
        if _is_empty(part.stream):
            return _bad("the 'file' part is empty: send the call-log file in it")
        format_name = format_name or request.form.get("format", "")
        return part.stream, part.filename or DEFAULT_UPLOAD_NAME, format_name.strip()
    if not request.content_length:
        return _bad("the body is empty: send the call-log file as the body")
    # Any other type is the file itself, read as a stream. That includes
    # application/x-www-form-urlencoded, which `curl --data-binary` sends unless told
    # otherwise: reading request.form here would swallow the file.
    name = request.args.get("name") or DEFAULT_UPLOAD_NAME
    return request.stream, name, format_name.strip()


@bp.get("/call-logs/<int:import_id>")
@require_scope(SCOPE_CALLS)
def call_log_status(import_id: int) -> ResponseReturnValue:
    """An import's state (queued, running, done, failed) and, once done, its report."""
    report = import_status(_runtime(), import_id) if import_id <= MAX_IMPORT_ID else None
    if report is None:
        return error_response(404, "not_found", f"there is no call-log import {import_id}")
    response = jsonify(report.as_dict())
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_empty(stream: IO[bytes]) -> bool:
    # The part is already spooled to memory or a temporary file, so it can be rewound.
    empty = stream.read(1) == b""
    stream.seek(0)
    return empty


def _bad(message: str) -> Response:
    return error_response(400, "bad_request", message)


def _runtime() -> Runtime:
    return current_app.config["CCR_RUNTIME"]
