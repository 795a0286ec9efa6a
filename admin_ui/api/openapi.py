"""The OpenAPI 3.1 document served at /api/v1/openapi.json.

Built from small pieces so each endpoint adds its own: a path item in `_PATHS`, its schemas
in `_SCHEMAS`. Shared error responses and the bearer scheme live in `components`; a path
names the scope it needs in its `security` requirement (OpenAPI 3.1 lets a non-OAuth scheme
list required roles there) and in `x-required-scope`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from gateway.services.accounts import SCOPE_CALLS, SCOPE_LOOKUP
from routing.enums import CallImportStatus, Direction, FlagKind

# Import ids are a 32-bit integer column on PostgreSQL: a larger one names no import, and
# asking the database for it would be an error rather than "not found".
MAX_IMPORT_ID = 2**31 - 1

Json = dict[str, Any]

API_VERSION = "1.0.0"
FAILURE_MODE = (
    "Contact-centre platforms call the lookup with a timeout of a few seconds and fall "
    "back to a default on failure. Any 5xx answer, a timeout or a refused connection "
    "means the restriction status is unknown: follow normal call handling. The lookup "
    "answers 503 whenever /healthz would (database unreachable or register out of date), "
    "so monitoring /healthz tells you when lookups are not being answered."
)


def _nullable(kind: str, description: str, **extra: Any) -> Json:
    return {"type": [kind, "null"], "description": description, **extra}


def _lookup_answer_schema() -> Json:
    text = functools.partial(_nullable, "string")
    integer = functools.partial(_nullable, "integer", minimum=1)
    properties: Json = {
        "state": {
            "type": "string",
            "enum": ["restricted", "not_restricted", "withheld", "unparseable"],
            "description": (
                "withheld: no number was presented; unparseable: what was given is not "
                "a phone number (or email address). Neither can be checked."
            ),
        },
        "restricted": {"type": "boolean", "description": "a restriction is in force"},
        "enforced": {
            "type": "boolean",
            "description": "a restriction in force is enforced (not on trial in shadow mode)",
        },
        "kind": {"type": "string", "enum": ["phone", "email"]},
        "identity": text("the number in E.164 or the address as the register holds it"),
        "reference": text("the leading restriction's reference, e.g. CCR-2026-0001"),
        "references": {
            "type": "array",
            "items": {"type": "string"},
            "description": "every restriction in force, strongest first",
        },
        "mode": _nullable("string", "enforce or shadow", enum=["enforce", "shadow", None]),
        "stage": _nullable(
            "string",
            "warning, stage1, stage2 or cease_and_desist",
            enum=["warning", "stage1", "stage2", "cease_and_desist", None],
        ),
        "phone_measure": _nullable(
            "string", "none, windows or barred", enum=["none", "windows", "barred", None]
        ),
        "email_measure": _nullable(
            "string",
            "none, redirect, copy, file or reject",
            enum=["none", "redirect", "copy", "file", "reject", None],
        ),
        "phone_windows": text("permitted calling times, e.g. 'Tue 10:00-12:00; Thu 14:00-15:30'"),
        "call_permitted_now": _nullable(
            "boolean",
            "true: take the call; false: the arrangement does not allow a call now; "
            "null: cannot tell (withheld or unparseable), follow normal handling",
        ),
        "window_open_now": _nullable(
            "boolean", "whether a permitted window is open now (null without windows)"
        ),
        "window_closes_at": text(
            "when the open window ends (Europe/London, ISO 8601 with offset)",
            format="date-time",
        ),
        "next_window_opens": text(
            "when the next window opens (Europe/London, ISO 8601 with offset)",
            format="date-time",
        ),
        "next_window_opens_text": text("the same in words, e.g. 'tomorrow at 10:00'"),
        "window_text": text("e.g. 'closed now, next opens today at 14:00'"),
        "max_calls_per_day": integer("calls allowed a day"),
        "max_calls_per_week": integer("calls allowed a week"),
        "max_call_minutes": integer("minutes allowed a call"),
        "spoc_name": text("the single point of contact"),
        "spoc_email": text("the single point of contact's mailbox"),
        "spoc_phone": text("the single point of contact's line, as dialled in the UK"),
        "spoc_phone_e164": text("the same line in E.164"),
        "services": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "the only services the restriction covers, e.g. ['Council Tax']; "
            "null when it covers every council service (or none applies)",
        },
        "scope_text": text("the same in words: 'Council Tax only' or 'Every council service'"),
        "summary": {"type": "string", "description": "one line for a screen pop's title"},
        "agent_script": {
            "type": "string",
            "description": "what the agent does and says, in plain words",
        },
        "checked_at": {
            "type": "string",
            "format": "date-time",
            "description": "when the answer was worked out (Europe/London, with offset)",
        },
    }
    return {
        "type": "object",
        "description": (
            "Flat fields for a screen pop. Every field is always present; a field that "
            "does not apply is null. When several restrictions apply, `reference` and the "
            "terms fields describe the strongest and `references` lists them all."
        ),
        "required": list(properties),
        "properties": properties,
    }


_LOOKUP_EXAMPLE: Json = {
    "state": "restricted",
    "restricted": True,
    "enforced": True,
    "kind": "phone",
    "identity": "+441632960001",
    "reference": "CCR-2026-0001",
    "references": ["CCR-2026-0001"],
    "mode": "enforce",
    "stage": "stage1",
    "phone_measure": "windows",
    "email_measure": "redirect",
    "phone_windows": "Tue 10:00-12:00; Thu 14:00-15:30",
    "call_permitted_now": False,
    "window_open_now": False,
    "window_closes_at": None,
    "next_window_opens": "2026-11-26T14:00:00+00:00",
    "next_window_opens_text": "Thursday 26 November at 14:00",
    "window_text": "closed now, next opens on Thursday 26 November at 14:00",
    "max_calls_per_day": None,
    "max_calls_per_week": None,
    "max_call_minutes": None,
    "spoc_name": "Sam Spoc",
    "spoc_email": "spoc@council.example.org",
    "spoc_phone": "020 7946 0999",
    "spoc_phone_e164": "+442079460999",
    "services": None,
    "scope_text": "Every council service",
    "summary": (
        "Contact restriction CCR-2026-0001: calls only Tue 10:00-12:00; Thu 14:00-15:30 "
        "(closed now, next opens on Thursday 26 November at 14:00)"
    ),
    "agent_script": "This caller may phone only at set times (...) ...",
    "checked_at": "2026-11-24T12:30:00+00:00",
}


def _error_schema() -> Json:
    return {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {
                "type": "string",
                "description": (
                    "unauthorized, invalid_token, insufficient_scope, bad_request, "
                    "not_found, unavailable, internal_error, ..."
                ),
            },
            "message": {"type": "string", "description": "one line for a person"},
        },
    }


def _error_response(description: str, *, challenge: bool = False) -> Json:
    response: Json = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if challenge:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": "the bearer challenge (RFC 6750)",
                "schema": {"type": "string"},
            }
        }
    return response


def _lookup_path() -> Json:
    query = functools.partial(_query_parameter, required=False)
    return {
        "get": {
            "operationId": "lookup",
            "tags": ["lookup"],
            "summary": "What applies now to a caller's number or an email address",
            "description": (
                "Give exactly one of `phone` or `email`. The number may be in any usual "
                "form (01632 960001, +441632960001, 00441632960001, 441632960001); an "
                "empty `phone=` or a marker such as 'anonymous', 'withheld' or 'private' "
                "is answered as withheld. Answers come from memory in a few milliseconds. "
                "An answer that shows a restriction is written to the audit log (by "
                "reference). " + FAILURE_MODE
            ),
            "security": [{"bearerAuth": [SCOPE_LOOKUP]}],
            "x-required-scope": SCOPE_LOOKUP,
            "parameters": [
                query(
                    "phone",
                    "the caller's number, e.g. 01632 960001 (URL-encoded); give this or "
                    "`email`, once, never both: anything else is answered 400",
                ),
                query(
                    "email",
                    "an email address, e.g. jo@example.org; give this or `phone`, once, "
                    "never both: anything else is answered 400",
                ),
            ],
            # Machine-readable form of the rule above (OpenAPI has no keyword for it).
            "x-exactly-one-of": ["phone", "email"],
            "responses": {
                "200": {
                    "description": "the answer (also for withheld and unparseable input)",
                    "headers": {
                        "Cache-Control": {
                            "description": "always no-store",
                            "schema": {"type": "string"},
                        }
                    },
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/LookupAnswer"},
                            "example": _LOOKUP_EXAMPLE,
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "500": {"$ref": "#/components/responses/Failed"},
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    }


def _query_parameter(name: str, description: str, *, required: bool) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", "maxLength": 512},
    }


def _openapi_path() -> Json:
    return {
        "get": {
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "the OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


# --- telephony: live call events and call-log uploads (scope calls) -----------------------

_FLAG_KINDS = [kind.value for kind in FlagKind]
_CALLS_SECURITY = [{"bearerAuth": [SCOPE_CALLS]}]
_CALL_EVENT_EXAMPLE = {
    "caller": "07700 900202",
    "called": "01632 960100",
    "started_at": "2026-11-24T10:15:00Z",
    "duration_seconds": 95,
    "direction": "inbound",
    "external_id": "1732443300.118",
}


def _call_event_schema() -> Json:
    return {
        "type": "object",
        "required": ["caller", "called", "started_at"],
        "additionalProperties": False,
        "properties": {
            "caller": {
                "type": "string",
                "description": (
                    "the caller's number in any usual form; empty or a marker such as "
                    "'anonymous' for a withheld number"
                ),
            },
            "called": {"type": "string", "description": "the council line that was called"},
            "started_at": {
                "type": "string",
                "format": "date-time",
                "description": "when the call started, ISO 8601 with a zone (Z or +01:00)",
            },
            "duration_seconds": _nullable("integer", "talk time", minimum=0, maximum=86400),
            "direction": {
                "type": "string",
                "enum": [d.value for d in Direction],
                "default": Direction.INBOUND.value,
                "description": "outbound calls are recorded but never flagged",
            },
            "external_id": _nullable(
                "string",
                "the platform's id for the call: a repeat with the same id is the same call",
                maxLength=200,
            ),
        },
    }


def _call_result_schema() -> Json:
    text = functools.partial(_nullable, "string")
    return {
        "type": "object",
        "required": ["event_id", "duplicate", "caller_state", "outcome", "flags"],
        "properties": {
            "event_id": {"type": "integer", "description": "the recorded contact event"},
            "duplicate": {
                "type": "boolean",
                "description": "the call was reported before; this is what was recorded then",
            },
            "caller": text("the caller in E.164; null when withheld or unreadable"),
            "caller_state": {"type": "string", "enum": ["ok", "withheld", "unparseable"]},
            "line": {"type": "string", "description": "the council line, as recorded"},
            "outcome": {"type": "string", "enum": ["allow", "flag"]},
            "would_outcome": text("on a restriction in shadow mode: what enforcing would say"),
            "restriction": text("the deciding restriction's reference"),
            "flags": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "restriction", "mode", "detail"],
                    "properties": {
                        "kind": {"type": "string", "enum": _FLAG_KINDS},
                        "restriction": {"type": "string"},
                        "mode": {"type": "string", "enum": ["enforce", "shadow"]},
                        "detail": {"type": "string", "description": "why, in words"},
                    },
                },
            },
            "reasons": {
                "type": "array",
                "items": {"type": "object"},
                "description": "the rules that fired, for an appeal",
            },
        },
    }


def _call_log_import_schema() -> Json:
    text = functools.partial(_nullable, "string")
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "required": ["id", "status", "file_name", "rows_read", "rows_imported", "flags"],
        "properties": {
            "id": {"type": "integer"},
            "file_name": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in CallImportStatus]},
            "source": {"type": "string", "description": "api, cli or drop"},
            "format": text("the preset used (config/call_formats/)"),
            "encoding": text("utf-8, utf-8-sig or cp1252"),
            "sha256": text("of the file: importing the same file twice adds nothing"),
            "rows_read": count,
            "rows_imported": count,
            "rows_duplicate": count,
            "rows_bad": count,
            "flags": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "flags raised, by kind",
            },
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}},
                },
                "description": "the first bad rows, by line number; rows_bad counts them all",
            },
            "notes": {"type": "array", "items": {"type": "string"}},
            "error": text("why a failed import failed"),
            "created_at": text("ISO 8601 UTC", format="date-time"),
            "started_at": text("ISO 8601 UTC", format="date-time"),
            "finished_at": text("ISO 8601 UTC", format="date-time"),
        },
    }


def _call_log_queued_schema() -> Json:
    return {
        "type": "object",
        "required": ["id", "status", "status_url"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "const": "queued"},
            "status_url": {"type": "string", "description": "GET it for progress and report"},
        },
    }


def _json_body(schema: str, description: str) -> Json:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_CALLS_ERRORS: Json = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}


def _calls_path() -> Json:
    return {
        "post": {
            "operationId": "recordCall",
            "tags": ["calls"],
            "summary": "Report one call as it happens; the answer carries its flags",
            "description": (
                "The call is decided as a row of an imported call log would be and recorded "
                "as a contact event. Sending the same event again (same external_id, or the "
                "same caller, line, start, duration and direction when there is none) "
                "records nothing new and answers 200 with what was recorded the first time, "
                "so retrying after a time-out is safe. An answer that names a restriction is "
                "written to the audit log (by reference), as a lookup that finds one is."
            ),
            "security": _CALLS_SECURITY,
            "x-required-scope": SCOPE_CALLS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/CallEvent"},
                        "example": _CALL_EVENT_EXAMPLE,
                    }
                },
            },
            "responses": {
                "201": _json_body("CallResult", "recorded"),
                "200": _json_body("CallResult", "a repeat: what was recorded the first time"),
                "409": _error_response(
                    "external_id was sent before, by this token, for a different call"
                ),
                **_CALLS_ERRORS,
            },
        }
    }


def _call_logs_path() -> Json:
    return {
        "post": {
            "operationId": "uploadCallLog",
            "tags": ["calls"],
            "summary": "Upload a call-log file to be imported by a job",
            "description": (
                "Send the file as the body (name it with `?name=`), or as the `file` part of "
                "a multipart/form-data form. The format is detected unless `format` names a "
                "preset of config/call_formats/ (asterisk, generic, teams_pstn, ...). Bad "
                "rows are reported by line number and the good ones kept; the same file "
                "uploaded twice adds nothing."
            ),
            "security": _CALLS_SECURITY,
            "x-required-scope": SCOPE_CALLS,
            "parameters": [
                _query_parameter("format", "the preset to read the file with", required=False),
                _query_parameter("name", "the file's name, for the report", required=False),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string", "minLength": 1}},
                    "application/octet-stream": {"schema": {"type": "string", "minLength": 1}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {
                                    "type": "string",
                                    "contentMediaType": "text/csv",
                                    "minLength": 1,
                                },
                                "format": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "202": {
                    **_json_body("CallLogQueued", "stored and queued"),
                    "headers": {
                        "Location": {
                            "description": "the import's status URL",
                            "schema": {"type": "string"},
                        }
                    },
                },
                "413": {"$ref": "#/components/responses/TooLarge"},
                **_CALLS_ERRORS,
            },
        }
    }


def _call_log_status_path() -> Json:
    return {
        "get": {
            "operationId": "callLogStatus",
            "tags": ["calls"],
            "summary": "An upload's progress, and its report once done",
            "security": _CALLS_SECURITY,
            "x-required-scope": SCOPE_CALLS,
            "parameters": [
                {
                    "name": "import_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_IMPORT_ID},
                }
            ],
            "responses": {
                "200": _json_body("CallLogImport", "the import"),
                "404": {"$ref": "#/components/responses/NotFound"},
                **{k: v for k, v in _CALLS_ERRORS.items() if k != "400"},
            },
        }
    }


# Each endpoint's path item and schemas.
_PATHS: dict[str, Callable[[], Json]] = {
    "/api/v1/lookup": _lookup_path,
    "/api/v1/calls": _calls_path,
    "/api/v1/call-logs": _call_logs_path,
    "/api/v1/call-logs/{import_id}": _call_log_status_path,
    "/api/v1/openapi.json": _openapi_path,
}
_SCHEMAS: dict[str, Callable[[], Json]] = {
    "LookupAnswer": _lookup_answer_schema,
    "CallEvent": _call_event_schema,
    "CallResult": _call_result_schema,
    "CallLogImport": _call_log_import_schema,
    "CallLogQueued": _call_log_queued_schema,
    "Error": _error_schema,
}


@functools.cache
def _document() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ccr-gateway API",
            "version": API_VERSION,
            "summary": (
                "Customer Contact Restrictions: live caller lookup, call events and "
                "call-log uploads for contact centres"
            ),
            "description": (
                "Authenticate with `Authorization: Bearer <token>`; create tokens with "
                "`ccr token add NAME --scope SCOPE`. Each operation names the scope it "
                "needs. Errors are JSON `{error, message}`. " + FAILURE_MODE
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": "lookup", "description": "live caller lookup (scope lookup)"},
            {"name": "calls", "description": "call events and call-log uploads (scope calls)"},
            {"name": "meta", "description": "about the API itself"},
        ],
        "security": [{"bearerAuth": []}],
        "paths": {path: build() for path, build in _PATHS.items()},
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "An API token from `ccr token add`. Revoked tokens stop working "
                        "within 5 seconds."
                    ),
                }
            },
            "schemas": {name: build() for name, build in _SCHEMAS.items()},
            "responses": {
                "BadRequest": _error_response("the query is wrong (the message says how)"),
                "Unauthorized": _error_response(
                    "no token, or an unknown or revoked one", challenge=True
                ),
                "Forbidden": _error_response(
                    "the token lacks this operation's scope", challenge=True
                ),
                "NotFound": _error_response("there is no such thing"),
                "TooLarge": _error_response("the upload is larger than the limit"),
                "Failed": _error_response("an unexpected failure: " + FAILURE_MODE),
                "Unavailable": _error_response(
                    "the database or the register is unavailable: " + FAILURE_MODE
                ),
            },
        },
    }


def openapi_document() -> Json:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
