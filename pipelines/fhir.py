"""FHIR R4 Appointment resources, as NDJSON (one resource per line) or a Bundle, flattened into
the text columns the `fhir-r4` mapping profile maps.

Every resource in the file is one row, and its "line" is its NDJSON line or, in a Bundle, its
1-based entry number. An Appointment becomes these columns:

    id            Appointment.id
    status        Appointment.status, except that a `cancelled` one whose cancelationReason has a
                  code of the HL7 appointment-cancellation-reason system reads `cancelled by client`
                  (pat, pat-…) or `cancelled by provider` (prov, prov-…)
    start         Appointment.start (an instant with its zone; the date parser keeps the wall clock)
    patient       the id in the Patient participant's actor.reference (`Patient/<id>`)
    practitioner  the id of the first Practitioner participant, else of the first PractitionerRole
    location      the id of the first Location participant
    service_type  the first serviceType's first code, else its text

Any other resource (a Patient a search included, an OperationOutcome) is a row with every column
empty and a reason; an Appointment with several Patient participants (a group session) keeps its
values (but no patient) and gets a reason too. The load quarantines such rows and counts them:
nothing in the file vanishes. Only references and codes are read, never a display text, a name
or an identifier.
"""

from __future__ import annotations

import gc
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from pipelines.errors import LoadError

FLAT_COLUMNS = ("id", "status", "start", "patient", "practitioner", "location", "service_type")
CANCELLATION_REASONS = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
WHITE_SPACE = re.compile(r"[ \t\r\n]*")  # JSON's white space
RESOURCE_TYPE = re.compile(r"[A-Za-z]{1,64}")
# `Patient/123`, `https://server/fhir/Patient/123`, `Patient/123/_history/2` -> (Patient, 123)
REFERENCE = re.compile(r"(?:^|/)(Patient|Practitioner|PractitionerRole|Location)/([^/]+)(?:/_history/[^/]*)?$")


def _at(value: object, *path: str | int) -> object:
    """value[path[0]][path[1]]…, or None where the shape differs (a file is not trusted)."""
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def _text(value: object) -> str | None:
    """A JSON scalar as text (ids and codes stay text even when a file writes them as numbers);
    None for null, an object or a list, which no element read here may be."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


def _kind(resource: object) -> str | None:
    """The resourceType, if it is a type name (letters only, as every FHIR type is)."""
    kind = _at(resource, "resourceType")
    return kind if isinstance(kind, str) and RESOURCE_TYPE.fullmatch(kind) else None


def _references(participants: object) -> dict[str, list[str]]:
    """Resource type -> the ids its participants reference, in order."""
    found: dict[str, list[str]] = {}
    for participant in participants if isinstance(participants, list) else ():
        reference = _at(participant, "actor", "reference")
        match = REFERENCE.search(reference) if isinstance(reference, str) else None
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def _status(resource: dict) -> str | None:
    status = _text(resource.get("status"))
    if status == "cancelled":
        codings = _at(resource, "cancelationReason", "coding")
        for coding in codings if isinstance(codings, list) else ():
            code = _at(coding, "code")
            if _at(coding, "system") == CANCELLATION_REASONS and isinstance(code, str):
                if code == "pat" or code.startswith("pat-"):
                    return "cancelled by client"
                if code == "prov" or code.startswith("prov-"):
                    return "cancelled by provider"
    return status


def _service_type(resource: dict) -> str | None:
    concept = _at(resource, "serviceType", 0)
    codings = _at(concept, "coding")
    for coding in codings if isinstance(codings, list) else ():
        code = _at(coding, "code")
        if code is not None:
            return _text(code)
    return _text(_at(concept, "text"))


Row = tuple[str | None, ...]  # the values of FLAT_COLUMNS, in order
EMPTY: Row = (None,) * len(FLAT_COLUMNS)


def flatten(resource: object) -> tuple[str | None, Row, str | None]:
    """(resourceType, values, reason): an Appointment's values, or empty values and why the
    resource is not one."""
    kind = _kind(resource)
    if kind != "Appointment":
        return kind, EMPTY, ("no resource (an empty Bundle entry, or null)" if resource is None else
                             "not a FHIR resource (no resourceType)" if kind is None else
                             f"a {kind} resource, not an Appointment")
    references = _references(resource.get("participant"))
    patients = list(dict.fromkeys(references.get("Patient", ())))
    practitioners = references.get("Practitioner") or references.get("PractitionerRole") or [None]
    row = (_text(resource.get("id")), _status(resource), _text(resource.get("start")),
           patients[0] if len(patients) == 1 else None, practitioners[0],
           references.get("Location", [None])[0], _service_type(resource))
    if len(patients) > 1:  # one row per client would be needed: quarantined whole instead
        return kind, row, f"an Appointment with {len(patients)} Patient participants (a group session)"
    return kind, row, None


def _invalid(path: object, line: int, exc: Exception) -> LoadError:
    """The one-line error for JSON that does not parse, `line` being where the text parsed starts."""
    if isinstance(exc, json.JSONDecodeError):
        return LoadError(f"{path}: line {line + exc.lineno - 1}, column {exc.colno}: not valid JSON ({exc.msg})")
    # a number of 5,000 digits (ValueError), nesting thousands deep (RecursionError)
    return LoadError(f"{path}: line {line}: not valid JSON ({' '.join(str(exc).split())[:120]})")


def resources(path: object, text: str) -> Iterator[tuple[int, object]]:
    """(line, resource) for each resource: an NDJSON line, a Bundle entry or the one resource.
    NDJSON is parsed a line at a time, as it is read."""
    start = WHITE_SPACE.match(text).end()
    try:
        document, end = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError) as exc:
        raise _invalid(path, 1, exc) from None
    if WHITE_SPACE.match(text, end).end() == len(text):
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            entries = document.get("entry") or []
            if not isinstance(entries, list):
                raise LoadError(f"{path}: the Bundle's entry is not a list")
            yield from ((number, _at(entry, "resource")) for number, entry in enumerate(entries, start=1))
            return
        lines = [(1, document)]
    elif text.find("\n", start, end) >= 0:  # one document on many lines, then something else
        line = text.count("\n", 0, WHITE_SPACE.match(text, end).end()) + 1
        raise LoadError(f"{path}: line {line}: not valid JSON (more text after the document ends)")
    else:
        lines = ((number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip())
    for index, (number, line) in enumerate(lines):
        try:
            resource = json.loads(line) if isinstance(line, str) else line
        except (ValueError, RecursionError) as exc:
            raise _invalid(path, number, exc) from None
        if index == 0 and _kind(resource) is None:
            raise LoadError(f"{path}: line {number}: JSON, but not a FHIR resource or Bundle (no resourceType)")
        yield number, resource


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Parsing makes millions of small dicts and lists, none in a cycle: left on, Python's cycle
    collector walks them over and over (more than half the time of a 100,000-resource file)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_fhir(path: object, text: str) -> tuple[pl.DataFrame, pl.Series]:
    """The file's resources as text columns (those of FLAT_COLUMNS some Appointment has, plus
    source_line), and per row the reason it cannot be an appointment (null for an Appointment)."""
    lines: list[int] = []
    rows: list[Row] = []
    reasons: list[str | None] = []
    kinds: Counter[str] = Counter()
    with _no_cycle_collection():
        for line, resource in resources(path, text):
            kind, row, reason = flatten(resource)
            lines.append(line)
            rows.append(row)
            reasons.append(reason)
            kinds[kind or "without resourceType"] += 1
    if not kinds["Appointment"]:
        held = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()) if count) or "no entries"
        raise LoadError(f"{path}: holds no FHIR Appointment resources (found: {held})")
    frame = pl.DataFrame(rows, schema=dict.fromkeys(FLAT_COLUMNS, pl.String), orient="row")
    # An element no Appointment has is an absent column, which a profile's constant can fill
    # (e.g. clinic_id for a system that writes no Location participant).
    frame = frame.select(c for c in FLAT_COLUMNS if frame[c].null_count() < frame.height)
    return (frame.with_columns(pl.Series("source_line", lines, dtype=pl.Int64)),
            pl.Series("reason", reasons, dtype=pl.String))
