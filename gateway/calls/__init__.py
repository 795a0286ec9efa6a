"""Call-log ingestion and call flags: files (command line, drop folder, upload) and live events.

Every call, restricted or not, becomes a contact event; an inbound call from a restricted
customer that breaks the restriction's telephone terms also gets flags naming it. The
decision is routing.engine's, the same one the mail gateway asks.

- `import_file(rt, path, format_name=None, *, source=...)` -> ImportReport
- `import_status(rt, import_id)` -> ImportReport | None (an upload's progress and result)
- `queue_upload(rt, stream, file_name, format_name=None)` -> import id, imported by the job
  `import_call_log(import_id)`
- `record_call(rt, CallInput, actor=..., source=...)` -> CallResult (one live call event,
  with its flags; an answer naming a restriction is audited)
- `poll_calls_drop()`: the periodic job that empties the drop folder (`CCR_CALLS_DROP`)
"""

from gateway.calls.formats import CallFormat, CallFormatError, available_formats, load_format
from gateway.calls.importer import (
    CallImportError,
    ImportNotQueued,
    ImportReport,
    create_import,
    import_call_log,
    import_file,
    import_status,
    queue_upload,
    summary_lines,
    uploads_dir,
)
from gateway.calls.live import (
    CallConflict,
    CallInput,
    CallInputError,
    CallResult,
    FlagResult,
    record_call,
)

__all__ = [
    "CallConflict",
    "CallFormat",
    "CallFormatError",
    "CallImportError",
    "CallInput",
    "CallInputError",
    "CallResult",
    "FlagResult",
    "ImportNotQueued",
    "ImportReport",
    "available_formats",
    "create_import",
    "import_call_log",
    "import_file",
    "import_status",
    "load_format",
    "queue_upload",
    "record_call",
    "summary_lines",
    "uploads_dir",
]
