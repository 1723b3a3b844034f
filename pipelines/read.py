"""Read appointment logs (CSV, gzip CSV, zipped CSV, Parquet, FHIR JSON) into frames of
canonical columns.

Every value is read as text: parsing and validation happen in validate.py, where a value that
does not parse is recorded, never lost. Each row keeps the file and line it came from. FHIR
Appointment resources are flattened in fhir.py and mapped by the `fhir-r4` profile.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tomllib
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import polars as pl

from pipelines.codes import CODED_COLUMNS
from pipelines.errors import LoadError
from pipelines.fhir import read_fhir
from pipelines.identifiers import refuse_identifier_header
from pipelines.measures import BUILT_IN

REQUIRED_COLUMNS = ("appointment_id", "client_id", "therapist_id", "clinic_id", "appointment_date", "status")
OPTIONAL_COLUMNS = (
    "episode_id", "session_type", "phq9", "phq9_item9", "gad7", "core10", "ors", "srs",
    "referral_date", "discharge_date", "discharge_reason",
)
INPUT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Column names that look like direct identifiers (docs/loading/identifiers.md#column-names-that-are-refused),
# compared as name_words gives them: squashed (the words run together) or word by word.
IDENTIFIER_NAMES = {
    "name", "fullname", "firstname", "lastname", "surname", "forename", "forenames", "givenname",
    "familyname", "middlename", "clientname", "patientname", "email", "emailaddress", "mail",
    "phone", "phonenumber", "telephone", "tel", "telno", "telnumber", "mobile", "mobilenumber", "mobileno",
    "mobilephone", "cellphone", "cellno", "cellnumber", "address", "addr", "streetaddress", "homeaddress",
    "postcode", "zip", "zipcode", "postalcode", "dob", "dateofbirth", "birthdate", "birthday", "nhs",
    "nhsnumber", "nhsno", "ssn", "socialsecuritynumber", "socialsecurityno", "mrn", "medicalrecordnumber",
}
IDENTIFIER_PARTS = ("email", "phone", "address", "postcode", "zipcode", "dateofbirth", "birthdate", "birthday",
                    "ofbirth", "nhsnumber", "nhsno", "nhsnum", "socialsecurity", "mobileno", "mobilenumber",
                    "firstname", "lastname", "surname", "fullname")
# Short identifiers that only count as a whole word of the name (`client_dob`, not `dobson_score`;
# `Tel No`, not `hotel_notes`).
IDENTIFIER_WORDS = {"dob", "mrn", "ssn", "forename", "forenames", "surname", "zip", "postcode", "email", "phone",
                    "tel", "addr"}

PROFILES_PACKAGE = "pipelines.profiles"
FHIR_PROFILE = "fhir-r4"  # for a FHIR file given without --mapping
# A frame's optional column: why the reader already refused a row (a FHIR resource that is not
# an Appointment, a value the profile quarantines); validate.py quarantines it with that reason.
QUARANTINE_REASON = "quarantine_reason"


def normalise_name(name: str) -> str:
    """Column names match case-insensitively after trimming; spaces and hyphens count as '_'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def name_words(name: str) -> list[str]:
    """A column name's words, lower case: split at anything not a letter (digits, punctuation: `D.O.B`,
    `Addr1`, `NHS #`) and where a capital follows a small letter (`MobileNo`); full-width letters read
    as plain ones."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", unicodedata.normalize("NFKC", name))
    return [word for word in re.split(r"[^a-z]+", spaced.lower()) if word]


def looks_like_identifier(name: str) -> bool:
    words = name_words(name)
    squashed = "".join(words)
    return (squashed in IDENTIFIER_NAMES or any(part in squashed for part in IDENTIFIER_PARTS)
            or not IDENTIFIER_WORDS.isdisjoint(words))


@dataclass(frozen=True)
class MappingProfile:
    """How one system's export maps onto the canonical columns and codes."""

    name: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # normalised export name -> canonical
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> raw -> canonical
    constants: dict[str, str] = field(default_factory=dict)  # canonical column -> fixed value
    date_formats: tuple[str, ...] = ()  # strftime formats tried after ISO 8601 on every date column
    quarantine: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> raw -> reason


def available_profiles() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(PROFILES_PACKAGE).iterdir()
                  if p.name.endswith(".toml"))


def load_profile(name_or_path: str) -> MappingProfile:
    """A shipped profile by name (e.g. `nhs-talking-therapies`) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, label = path.read_text(encoding="utf-8"), str(path)
    else:
        shipped = resources.files(PROFILES_PACKAGE) / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise LoadError(f"mapping profile '{name_or_path}' not found "
                            f"(shipped: {', '.join(available_profiles())}; or give a .toml path)")
        text, label = shipped.read_text(encoding="utf-8"), name_or_path
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"{label}: not a valid TOML mapping profile ({exc})") from None
    columns = {normalise_name(k): v for k, v in data.get("columns", {}).items()}
    constants = dict(data.get("constants", {}))
    # (a built-in measure is a column like the canonical ones: docs/metrics/measures.md#score-columns-in-your-export)
    targets = (*INPUT_COLUMNS, *(m for m in BUILT_IN if m not in INPUT_COLUMNS))
    for target in [*columns.values(), *constants]:
        if target not in targets:
            raise LoadError(f"{label}: '{target}' is not an input column ({', '.join(targets)})")
    values: dict[str, dict[str, str]] = {}
    for column, mapping in data.get("values", {}).items():
        if column not in CODED_COLUMNS:
            raise LoadError(f"{label}: [values.{column}]: only {', '.join(CODED_COLUMNS)} have value maps")
        synonyms = CODED_COLUMNS[column]
        resolved = {}
        for raw, target in mapping.items():
            canonical = synonyms.get(str(target).strip().lower())
            if canonical is None:
                raise LoadError(f"{label}: [values.{column}] maps '{raw}' to '{target}', which is not a {column}")
            resolved[str(raw).strip().lower()] = canonical
        values[column] = resolved
    quarantine: dict[str, dict[str, str]] = {}
    for column, reasons in data.get("quarantine", {}).items():
        if column not in INPUT_COLUMNS or not isinstance(reasons, dict):
            raise LoadError(f"{label}: [quarantine.{column}] must be a table of value = reason "
                            f"for an input column ({', '.join(INPUT_COLUMNS)})")
        quarantine[column] = {str(raw).strip().lower(): " ".join(str(reason).split())
                              for raw, reason in reasons.items()}
        both = set(quarantine[column]) & set(values.get(column, {}))
        if both:
            raise LoadError(f"{label}: '{sorted(both)[0]}' is both mapped in [values.{column}] "
                            f"and quarantined in [quarantine.{column}]")
    return MappingProfile(name=data.get("name", label), description=data.get("description", ""),
                          columns=columns, values=values, constants=constants,
                          date_formats=_date_formats(label, data.get("date_formats", [])),
                          quarantine=quarantine)


def _date_formats(label: str, given: object) -> tuple[str, ...]:
    """A profile's date formats, each checked to read back a date it wrote."""
    formats = [given] if isinstance(given, str) else given
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise LoadError(f'{label}: date_formats must be a list of formats such as "%m/%d/%Y"')
    sample = dt.datetime(2026, 1, 23, 14, 30)
    for date_format in formats:
        written = sample.strftime(date_format)
        try:
            read = pl.Series([written]).str.to_datetime(date_format, strict=False, time_unit="us")
        except pl.exceptions.PolarsError:
            read = None
        if read is None or read.dtype != pl.Datetime("us") or read[0] is None or read[0].date() != sample.date():
            raise LoadError(f"{label}: date format '{date_format}' does not read back the date it writes "
                            f"('{written}'); use strftime codes such as %m/%d/%Y, without a zone")
    return tuple(formats)


@dataclass
class SourceFile:
    """One input file, opened: its header is read and mapped, and its rows come block by block
    (`blocks`), each as canonical text columns plus source_line and QUARANTINE_REASON, so that a
    file of any size is never held whole (docs/loading/input.md#large-files)."""

    path: str
    blocks: Iterator[pl.DataFrame]
    has_episode_column: bool
    dropped_columns: list[str]
    ignored_columns: list[str]
    profile: MappingProfile  # the one it was read with (its value maps and date formats apply)
    profile_from_content: bool = False  # chosen by what the file holds (FHIR), not by --mapping
    size: int = 0  # the file's bytes on disk, and how many of them the blocks so far have read
    read: int = 0


def line_ends(data: bytes, start: int = 0, end: int | None = None) -> int:
    """How many lines data[start:end] ends: a line ends in LF, CRLF or CR alone
    (docs/loading/input.md#line-breaks)."""
    end = len(data) if end is None else end
    if data.find(b"\r", start, end) == -1:  # (one count, not three, for most files)
        return data.count(b"\n", start, end)
    return data.count(b"\n", start, end) + data.count(b"\r", start, end) - data.count(b"\r\n", start, end)


def _decode_error_line(data: bytes, line_offset: int = 0) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = line_ends(data[:exc.start]) + 1 + line_offset
        return f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the export as UTF-8"
    return "not UTF-8 text; save the export as UTF-8"


def _looks_like_utf16(data: bytes) -> bool:
    """UTF-16 without a BOM: a column name in Latin letters has a zero in every other byte."""
    sample = data[:4096]
    half = len(sample) // 2
    zeros = sorted((sample[0::2].count(0), sample[1::2].count(0)))
    return half >= 4 and zeros[1] >= half // 2 and zeros[0] < half // 8


def _shown(name: str) -> str:
    """A column name as a one-line message can show it: a quoted header may hold line breaks."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


# A damaged deflate stream fails while it is inflated (zlib.error, EOFError) or located (ValueError:
# a negative seek, OSError); an encrypted zip member or an unknown method as RuntimeError or
# NotImplementedError.
UNPACK_FAILURES = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError, NotImplementedError)


def _unpack_failure(path: Path, archive: str, exc: BaseException) -> LoadError:
    """The one line for a gzip or zip file that cannot be unpacked."""
    if isinstance(exc, (RuntimeError, NotImplementedError)):
        return LoadError(f"{path}: cannot unpack the zip file ({_one_line(exc)}); unzip it and load the CSV file")
    return LoadError(f"{path}: damaged {archive} file ({_one_line(exc)})")


class _Stream:
    """A file's bytes as they are read, a gzip or zip file unpacked on the way: a damaged archive
    is one LoadError wherever its damage is reached."""

    def __init__(self, path: Path, handle, archive: str | None, closers: list) -> None:
        self.path, self.handle, self.archive, self.closers = path, handle, archive, closers

    def read(self, size: int = -1) -> bytes:
        try:
            return self.handle.read(size)
        except OSError as exc:
            if self.archive is None:
                raise LoadError(f"{self.path}: cannot be read ({exc.strerror or _one_line(exc)})") from None
            raise _unpack_failure(self.path, self.archive, exc) from None
        except UNPACK_FAILURES as exc:
            raise _unpack_failure(self.path, self.archive, exc) from None

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer.close()


def _open(path: Path) -> tuple[str, _Stream | None, bytes]:
    """(kind, stream, head) where kind is 'parquet', 'fhir' or 'csv' and head the first bytes of its
    content, already read from the stream; gzip and zip are unpacked as they are read. A plain
    Parquet file is not opened here (stream None): DuckDB reads it from its path."""
    import gzip

    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise LoadError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read ({exc.strerror})") from None
    stream = _Stream(path, handle, None, [handle])
    try:
        magic = stream.read(4)
        handle.seek(0)
        if magic == b"PAR1":
            stream.close()
            return "parquet", None, b""
        if magic[:2] == b"\x1f\x8b":
            stream = _Stream(path, gzip.GzipFile(fileobj=handle), "gzip", [handle])
        elif magic == b"PK\x03\x04":
            stream = _Stream(path, handle, "zip", [handle])
            try:
                archive = zipfile.ZipFile(handle)
                members = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX")]
                if len(members) != 1:
                    raise LoadError(f"{path}: a zip file must hold exactly one CSV file (found {len(members)})")
                stream = _Stream(path, archive.open(members[0]), "zip", [handle, archive])
            except UNPACK_FAILURES as exc:
                raise _unpack_failure(path, "zip", exc) from None
        head = stream.read(HEAD_BYTES)
        if head[:4] == b"PAR1":
            return "parquet", stream, head
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_like_utf16(head):
            raise LoadError(f"{path}: is UTF-16 encoded; save the export as UTF-8")
        if JSON_START.match(head):  # no CSV header starts with a brace: FHIR NDJSON or a Bundle
            return "fhir", stream, head
        return "csv", stream, head
    except BaseException:
        stream.close()
        raise


HEAD_BYTES = 4096  # read first, to tell the kind of content


JSON_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")


def _fhir_text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise LoadError(f"{path}: {_decode_error_line(data)}") from None


def _sniff_separator(data: bytes) -> str:
    # Separators inside a quoted column name (to its closing quote or the line's end) do not count.
    end = re.search(rb"[\r\n]", data)
    header = re.sub(rb'"[^"]*("|$)', b"", data[:end.start()] if end else data)
    counts = {sep: header.count(sep.encode()) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] > 0 else ","


def _line_break(data: bytes) -> str | None:
    """The one byte that ends the file's lines, for polars: LF in a Unix or Windows file (polars drops
    a CRLF's CR), CR in an old Mac export; None for a file that mixes LF with CR alone, which only
    the careful reading takes (docs/loading/input.md#line-breaks)."""
    if b"\r" not in data or not re.search(rb"\r(?!\n)", data):
        return "\n"
    return "\r" if b"\n" not in data else None


def _every_record_full(data: bytes, frame: pl.DataFrame, separator: str) -> bool:
    """Whether every record has as many fields as the header. Polars refuses a record with too
    many, but fills a short one (or a blank line) with empty values: so a file's separators are
    counted, which are the header's and each record's, and those inside quoted names and values.
    An odd number of quotes is a quote left open, which polars may read to the end of the file."""
    inside = 0
    if b'"' in data:
        if data.count(b'"') % 2:
            return False
        inside = sum(name.count(separator) for name in frame.columns) + sum(
            frame.get_column(c).str.count_matches(separator, literal=True).sum() or 0 for c in frame.columns)
    return data.count(separator.encode()) == (frame.width - 1) * (frame.height + 1) + inside


def _read_csv(path: Path, data: bytes, line_offset: int = 0) -> tuple[pl.DataFrame, pl.Series | None]:
    """The records of CSV text (a whole file, or a header and a block of whole records from
    further down: `line_offset` lines of the file come between them) as text columns plus
    source_line, and per record why it cannot be a row (null for a good one), or None when every
    record is good."""
    if not re.search(rb"[^\xef\xbb\xbf \r\n\t]", data):  # (strip() would copy a gigabyte)
        raise LoadError(f"{path}: file is empty (no header line)")
    if re.match(rb"(?:\xef\xbb\xbf)?[\r\n]", data):
        raise LoadError(f"{path}: line 1 is empty; the first line must be the header that names the columns")
    separator, eol = _sniff_separator(data), _line_break(data)
    if eol is None:
        return _read_csv_by_record(path, data, separator, line_offset)
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, separator=separator, eol_char=eol,
                            raise_if_empty=True)
    except pl.exceptions.ComputeError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise LoadError(f"{path}: {_decode_error_line(data, line_offset)}") from None
        # a ragged record, a stray quote: found by line
        return _read_csv_by_record(path, data, separator, line_offset)
    except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as exc:
        raise LoadError(f"{path}: cannot be parsed as CSV ({_one_line(exc)})") from None
    # Polars decodes the header leniently (a bad byte becomes U+FFFD) where it refuses bad data.
    if any("\ufffd" in name for name in frame.columns):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise LoadError(f"{path}: {_decode_error_line(data, line_offset)}") from None
    if not _every_record_full(data, frame, separator):
        del frame  # the careful reading makes its own: never hold both
        return _read_csv_by_record(path, data, separator, line_offset)
    # A record's line is its header offset plus every line break inside earlier quoted fields;
    # a file with one line break per record (the last one's optional) has none, and needs no
    # counting.
    line = pl.int_range(2 + line_offset, frame.height + 2 + line_offset, eager=True, dtype=pl.Int64)
    if data.count(eol.encode()) > frame.height + data.endswith(eol.encode()) and frame.width:
        breaks = frame.select(pl.sum_horizontal(
            pl.col(c).str.count_matches(eol, literal=True).fill_null(0) for c in frame.columns)).to_series()
        line = line + breaks.cum_sum().shift(1, fill_value=0)
    return frame.with_columns(line.alias("source_line")), None


class OpenQuote(LoadError):
    """A quote opens a value that never closes before the text ends."""


def _read_csv_by_record(path: Path, data: bytes, separator: str,
                        line_offset: int = 0) -> tuple[pl.DataFrame, pl.Series]:
    """The slow, careful reading of a file polars cannot read whole: record by record, with
    Python's csv module, so that a record with too many or too few fields is quarantined with its
    line (docs/loading/load-report.md#quarantine) and a quote left open is named by its line."""
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # an enormous value is a value
    # Decoded as it is read, a line at a time (newline="": a CR, LF or CRLF ends one, kept in a quoted
    # value): the whole file as one string would take four times its size.
    decoded = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(decoded, delimiter=separator, strict=True)
    header: list[str] = []
    chunks: list[pl.DataFrame] = []  # the records so far, as frames: as lists they take ten times the memory
    records: list[list[str | None]] = []
    lines: list[int] = []
    reasons: list[str | None] = []
    start = 1
    try:
        header = next(reader, [])
        width, start = len(header), reader.line_num + 1
        names = _frame_names(header)
        for record in reader:
            count = len(record)
            # A blank line is a record with every value missing, as polars reads it.
            reasons.append(None if count in (0, width) else
                           f"{count} field{'' if count == 1 else 's'} where the header has {width}")
            records.append((record + [None] * width)[:width])
            lines.append(start + line_offset)
            start = reader.line_num + 1
            if len(records) == CAREFUL_CHUNK:
                chunks.append(pl.DataFrame(records, schema=dict.fromkeys(names, pl.String), orient="row"))
                records.clear()
    except UnicodeDecodeError:
        raise LoadError(f"{path}: {_decode_error_line(data, line_offset)}") from None
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            opened = _open_quote_line(data.decode("utf-8-sig"), start, separator) + line_offset
            raise OpenQuote(f"{path}: line {opened}: a quote opens a value "
                            "that never closes, so the rest of the file would be that one value; "
                            "close the quote or remove it") from None
        raise LoadError(f"{path}: line {reader.line_num + line_offset}: cannot be parsed as CSV "
                        f"({_one_line(exc)})") from None
    chunks.append(pl.DataFrame(records, schema=dict.fromkeys(names, pl.String), orient="row"))
    return (pl.concat(chunks).with_columns(pl.Series("source_line", lines, dtype=pl.Int64)),
            pl.Series("reason", reasons, dtype=pl.String))


BLOCK_BYTES = 64 * 2**20  # CSV text read, parsed and validated at once: about 600,000 appointments


def _csv_blocks(path: Path, stream: _Stream, head: bytes) -> Iterator[tuple[pl.DataFrame, pl.Series | None]]:
    """A CSV file's records, block by block (_read_csv on each): the header, then whole records
    of about BLOCK_BYTES, never fewer than half that unless the file has no more.

    A block ends at a line break with an even number of quotes before it, which is outside any
    quoted value in well-formed CSV. A stray quote can fool that count; the block then ends
    inside a value, its last quote never closes, and the block is read again with the next one,
    so the records are always those of the whole file. A file with no such line break (one
    quoted value to its end) is read whole."""
    pending, done = head, False
    eol = b"\n" if b"\n" in head or b"\r" not in head else b"\r"
    header_end = _header_end(pending, done)
    while header_end is None and not done:
        more = stream.read(BLOCK_BYTES)
        done = not more
        pending += more
        header_end = _header_end(pending, done)
    if header_end is None:
        yield _read_csv(path, pending)
        return
    # The bytes not yet parsed are pending[at:]: a block is copied once, with the header before it.
    # A cut is looked for from search_from on, and leaves at least half a block after it.
    header, at, half = pending[:header_end], header_end, max(1, BLOCK_BYTES // 2)
    # A header ending in CR alone, before a block starting with LF, would make one CRLF of the two
    # line ends: that block gets the header with an LF instead.
    header_lf = header[:-1] + b"\n" if header.endswith(b"\r") else header
    line_offset, search_from = 0, at + BLOCK_BYTES
    while True:
        if not done and len(pending) <= search_from + half:
            pending, search_from, at = pending[at:], search_from - at, 0
            while not done and len(pending) <= search_from + half:
                more = stream.read(BLOCK_BYTES)
                done = not more
                pending += more
        until = len(pending) - half
        cut = None if done else _record_end(pending, search_from, pending.count(b'"', at, search_from), eol, until)
        if cut is None and not done:
            search_from = until  # one value runs on: read further
            continue
        end = len(pending) if cut is None else cut
        try:
            first = header_lf if pending[at:at + 1] == b"\n" else header
            yield _read_csv(path, b"".join((first, memoryview(pending)[at:end])), line_offset)
        except OpenQuote:
            if cut is None:
                raise
            search_from = cut + 1  # the block ended inside a value: take it with the next one
            continue
        if cut is None:
            return
        line_offset += line_ends(pending, at, cut)
        at, search_from = cut, cut + BLOCK_BYTES


LINE_END = re.compile(rb"[\r\n]")


def _header_end(data: bytes, done: bool) -> int | None:
    """The position just after the header: its first line end (CR, LF or CRLF) with an even number
    of quotes before it; None if that is not in `data` yet (or a CR at its end, unless `done`)."""
    quotes = at = 0
    while (found := LINE_END.search(data, at)) is not None:
        quotes += data.count(b'"', at, found.start())
        at = found.end()
        if quotes % 2 == 0:
            if data[found.start():at] == b"\r":
                if at == len(data) and not done:
                    return None
                return at + 1 if data[at:at + 1] == b"\n" else at
            return at
    return None


def _record_end(data: bytes, start: int, quotes: int, eol: bytes, until: int) -> int | None:
    """The position just after the first line break at or after `start` (and before `until`) with
    an even number of quotes before it; `quotes`: how many there are before `start`."""
    at = start
    while (found := data.find(eol, at, until)) != -1:
        quotes += data.count(b'"', at, found)
        at = found + 1
        if quotes % 2 == 0 and not (eol == b"\r" and data[at:at + 1] in (b"\n", b"")):
            return at
    return None


CAREFUL_CHUNK = 50_000  # records the careful reading holds as Python lists at once


def _frame_names(header: list[str]) -> list[str]:
    """Polars' names for a header's columns: the second `x` is x_duplicated_0."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_duplicated_{seen[name] - 2}")
    return names


def _open_quote_line(text: str, line: int, separator: str) -> int:
    """The line where the quote opens that the csv reader found still open at the end of the
    text, reading the record that starts on `line` field by field."""
    breaks = re.compile(r"\r\n|\r|\n")
    at = 0
    for _, found in zip(range(line - 1), breaks.finditer(text)):
        at = found.end()
    field_end = re.compile(f"{re.escape(separator)}|\\r\\n|\\r|\\n")
    while at < len(text):  # at the start of a field
        if text[at] == '"':
            closing = at + 1
            while (closing := text.find('"', closing)) != -1 and text.startswith('"', closing + 1):
                closing += 2  # a doubled quote inside a quoted value
            if closing == -1:
                return line
            line += len(breaks.findall(text, at, closing))
            at = closing + 1
        end = field_end.search(text, at)
        if end is None:
            break
        line += end.group() != separator
        at = end.end()
    return line


PARQUET_BLOCK_ROWS = 500_000  # rows of a Parquet file read, converted and validated at once


def _parquet_blocks(path: Path, stream: _Stream | None, head: bytes) -> Iterator[tuple[pl.DataFrame, None]]:
    """A Parquet file's rows as text, block by block, read by DuckDB: polars' reader can abort the
    whole process on a damaged page header (an allocation of exabytes), where DuckDB reports an
    error. Parquet has no lines: the "line" of a row is its 1-based row number."""
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory(prefix="clinic-parquet-") as folder:
        source = Path(path)
        if stream is not None:  # unpacked from gzip or zip: DuckDB reads files, so write it out
            source = Path(folder) / "unpacked.parquet"
            with open(source, "wb") as unpacked:
                unpacked.write(head)
                while more := stream.read(BLOCK_BYTES):
                    unpacked.write(more)
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        try:
            with _parquet_errors(path):
                batches = con.sql("SELECT * FROM read_parquet(?)", params=[str(source)]).to_arrow_reader(
                    PARQUET_BLOCK_ROWS)
            line, empty = 1, True
            while True:
                with _parquet_errors(path):
                    try:
                        frame = pl.from_arrow(batches.read_next_batch())
                    except StopIteration:
                        if not empty:
                            break
                        frame = pl.from_arrow(batches.schema.empty_table())  # the columns of a file with no rows
                yield _parquet_text(path, frame, line), None
                line, empty = line + frame.height, False
                if frame.is_empty():
                    break
        finally:
            con.close()


@contextmanager
def _parquet_errors(path: Path) -> Iterator[None]:
    try:
        yield
    # RuntimeError: DuckDB's Python binding failing on text in a damaged page that is not UTF-8.
    except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException, ValueError, RuntimeError) as exc:
        raise LoadError(f"{path}: cannot be read as Parquet ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - duckdb.Error and its kin: one line, never a traceback
        if type(exc).__module__.startswith(("duckdb", "_duckdb", "pyarrow")):
            raise LoadError(f"{path}: cannot be read as Parquet ({_one_line(exc)})") from None
        raise


def _parquet_text(path: Path, frame: pl.DataFrame, first_line: int) -> pl.DataFrame:
    as_text = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Datetime or dtype == pl.Date:
            # Whole seconds: the shape the date parser reads fastest; sub-second times order nothing here.
            column = column.dt.to_string("%Y-%m-%dT%H:%M:%S" if dtype == pl.Datetime else "%Y-%m-%d")
        elif dtype == pl.Duration:  # no cast to text: written as ISO 8601 (P1DT2H)
            column = column.dt.to_string("iso")
        elif dtype == pl.Null:
            column = column.cast(pl.String)
        elif dtype.is_nested() or dtype == pl.Binary:
            raise LoadError(f"{path}: column '{_shown(name)}' holds {dtype}, not plain values")
        as_text.append(column.cast(pl.String).alias(name))
    return frame.select(as_text).with_columns(
        pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64).alias("source_line"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")


CLEAN_BATCH = 2  # columns cleaned at once: one per core


def _blank_as_null(column: str) -> pl.Expr:
    # (a length test, not `!= ""`: comparing ten million strings to a literal costs twice as much)
    return pl.when(pl.col(column).str.len_bytes() > 0).then(pl.col(column)).alias(column)


def _raw_blocks(path: Path, kind: str, stream: _Stream | None,
                head: bytes) -> Iterator[tuple[pl.DataFrame, pl.Series | None]]:
    """The file's records as read, block by block, each with per record why it cannot be a row
    (None when every record can)."""
    if kind == "parquet":
        yield from _parquet_blocks(path, stream, head)
    elif kind == "fhir":  # JSON is read whole: a Bundle is one value
        data = head + stream.read()
        yield read_fhir(path, _fhir_text(path, data))
    else:  # a CSV record that cannot be a row is quarantined like a FHIR resource that is not one
        yield from _csv_blocks(path, stream, head)


def read_appointment_file(path: Path, profile: MappingProfile | None = None,
                          drop_identifiers: bool = False, more_scores: tuple[str, ...] = ()) -> SourceFile:
    """Open one file: its header is read and mapped onto the canonical columns here, refusing
    identifier-like columns; its rows follow block by block as the SourceFile's blocks are taken.
    A FHIR file read without a profile is read with the `fhir-r4` one. `more_scores`: the measures
    of the catalogue beyond the canonical columns (docs/metrics/measures.md), read like them when a
    column has their name; every block has a column for each."""
    path = Path(path)
    kind, stream, head = _open(path)
    try:
        raw = _raw_blocks(path, kind, stream, head)
        from_content = kind == "fhir" and profile is None
        if kind == "fhir":
            profile = profile or load_profile(FHIR_PROFILE)
        profile = profile or MappingProfile(name="canonical")
        first, first_refused = next(raw)
        renames, identifiers, ignored = _map_columns(path, kind, first.columns, profile, drop_identifiers,
                                                     more_scores)
    except BaseException:
        if stream is not None:
            stream.close()
        raise
    size = path.stat().st_size
    source = SourceFile(path=str(path), blocks=iter(()), has_episode_column="episode_id" in renames.values(),
                        dropped_columns=identifiers, ignored_columns=ignored, profile=profile,
                        profile_from_content=from_content, size=size)

    def blocks() -> Iterator[pl.DataFrame]:
        nonlocal first, first_refused
        try:
            block, refused = first, first_refused
            first = first_refused = None  # freed once it is cleaned
            while True:
                source.read = stream.closers[0].tell() if stream is not None else size
                yield _canonical(block, refused, renames, profile, more_scores)
                block = refused = None
                try:
                    block, refused = next(raw)
                except StopIteration:
                    source.read = size
                    return
        finally:
            raw.close()
            if stream is not None:
                stream.close()

    source.blocks = blocks()
    return source


def _map_columns(path: Path, kind: str, columns: list[str], profile: MappingProfile,
                 drop_identifiers: bool,
                 more_scores: tuple[str, ...] = ()) -> tuple[dict[str, str], list[str], list[str]]:
    """(file column -> canonical column, identifier-like columns dropped, columns ignored), from the
    file's column names; a LoadError for a column that must be refused, or a required one missing."""
    renames: dict[str, str] = {}
    identifiers: list[str] = []
    ignored: list[str] = []
    for column in columns:
        if column == "source_line":
            continue
        key = normalise_name(column)
        known = key in INPUT_COLUMNS or key in more_scores
        target = profile.columns.get(key, key if known else None)
        if target is not None and not known and looks_like_identifier(column):
            raise LoadError(f"{path}: the mapping profile maps column '{_shown(column)}', which looks like a direct "
                            f"identifier, onto {target}; map a pseudonymous id column instead "
                            "(docs/loading/identifiers.md#column-names-that-are-refused)")
        if target is not None:
            if target in renames.values():
                first = next(k for k, v in renames.items() if v == target)
                raise LoadError(f"{path}: columns '{_shown(first)}' and '{_shown(column)}' both map to {target}")
            renames[column] = target
        elif looks_like_identifier(column):
            identifiers.append(column)
        else:
            ignored.append(column)
    refuse_identifier_header(path, identifiers + ignored)  # before either list is shown anywhere
    if identifiers and not drop_identifiers:
        raise LoadError(f"{path}: refusing columns that look like direct identifiers: "
                        f"{', '.join(map(_shown, identifiers))} (remove them from the export, or pass "
                        "--drop-columns to drop them on the way in)")
    missing = [c for c in REQUIRED_COLUMNS if c not in renames.values() and c not in profile.constants]
    if missing:
        found = ", ".join(map(_shown, renames)) or "none"
        hint = ("; no Appointment in the file has what it is read from (a profile's [constants] can give it)"
                if kind == "fhir" else "" if renames else
                "; line 1 must be the header that names the columns (docs/loading/input.md#required-columns)")
        raise LoadError(f"{path}: missing required column(s) {', '.join(missing)} (recognised: {found}){hint}")
    return renames, identifiers, ignored


def _canonical(frame: pl.DataFrame, refused: pl.Series | None, renames: dict[str, str],
               profile: MappingProfile, more_scores: tuple[str, ...] = ()) -> pl.DataFrame:
    """A block of records as the canonical text columns and one for each of `more_scores`, trimmed
    (an empty value is a missing one), plus source_line and QUARANTINE_REASON: why the reader or the
    profile already refused a row."""
    columns = (*INPUT_COLUMNS, *more_scores)
    # (picked by name, not select(): polars' select copies the reader's many chunks into one)
    frame = frame[[*renames, "source_line"]].rename(renames)
    frame = frame.with_columns(pl.lit(str(value)).alias(column)
                               for column, value in profile.constants.items() if column not in frame.columns)
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c)
                               for c in columns if c not in frame.columns)
    frame = frame[[*columns, "source_line"]]
    # Trimmed, and after trimming an empty value is a missing value. A few columns at a time, so
    # each old column is freed as its clean copy lands: the frame is never held twice. Trimmed
    # first and tested after, in two steps: in one expression polars trims every value twice
    # (0.42 s for two 10 M-row columns, against 0.23 s in two steps).
    for start in range(0, len(columns), CLEAN_BATCH):
        batch = columns[start:start + CLEAN_BATCH]
        frame = frame.with_columns(pl.col(c).str.strip_chars() for c in batch)
        frame = frame.with_columns(_blank_as_null(c) for c in batch)
    # Why a row is quarantined before validation: the reader's reason first, then the profile's.
    reasons = ([pl.lit(refused)] if refused is not None else []) + [
        pl.col(column).str.to_lowercase().replace_strict(reason_by_value, default=None, return_dtype=pl.String)
        for column, reason_by_value in profile.quarantine.items()]
    return frame.with_columns((pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.String))
                              .alias(QUARANTINE_REASON))
