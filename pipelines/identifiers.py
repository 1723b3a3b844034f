"""Identifier guard on values (docs/loading/identifiers.md), and keyed pseudonymisation of ids on the way in.

The column-name guard (read.py) catches an `email` column; this one catches direct identifiers in
the values of every column the tool stores (ids, status, session type, dates, scores, discharge
reason), and in header cells that are not column names (a file whose header line is missing).
Each distinct value is normalised first: Unicode NFKC (a full-width `＠` is `@`), format characters
removed, percent-decoded (`John%20Smith`, as in a FHIR reference), lower case, runs of white
space (and underscores, but not for names) as one space. Then, anywhere in the value:

    e-mail address     name@domain.tld, <name@domain.tld>;, name(at)domain.tld, name at domain dot tld
    phone number       +44 7700 900123, 0044 7700 900123, +1-555-012-3456, (555) 012-3456,
                       555.012.3456, 07700 900123 (10 to 15 digits)
    NHS number         3-3-4 digits (`943 476 5919`), or ten digits standing as a word among other
                       words, with a valid modulus-11 check digit
    US SSN             123-45-6789, 123 45 6789
    postcode           a UK postcode with its space: SW1A 1AA
    street address     a house number, up to two words and a street word: 1 High Street, 123 Main St
    personal name      client_id and therapist_id only: a title and a name (Dr Jane Doe), or two to
                       four words of letters (John Smith, Smith, John) with no word of a placeholder
                       (not recorded, duty team)

A whole value of digits is judged on the whole column, because many systems number their clients:
one random 10-digit number in eleven passes the NHS check, a column of real NHS numbers all do.

    plain phone number    half or more of the distinct values: 07700900123 (0 + 9 or 10 digits)
    plain NHS number      half or more of the distinct values: 10 digits, valid check digit

Pseudonymisation replaces each id by `p` + the first 20 hex digits of HMAC-SHA256(key, id): the
same id and key always give the same pseudonym, so episodes still link across loads made with
the same key, and nobody without the key can go back or test a guess.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

import polars as pl

from pipelines.errors import LoadError

PERSON_ID_COLUMNS = ("client_id", "therapist_id")
PSEUDONYMISED_COLUMNS = PERSON_ID_COLUMNS
NOT_CHECKED = ("source_line", "quarantine_reason")  # the reader's own columns, not the file's values
MIN_KEY_LENGTH = 16
MAJORITY = 0.5

# Values that cannot hold any pattern below are passed over unnormalised, so that ten million
# plain ids cost one scan each. Every pattern needs one of: an @ or the word `at`, a run of nine
# digits and separators, a percent escape, a non-ASCII character (normalised away), a digit (and
# perhaps a letter) before a space or a comma (`221b Baker Street`, `SW1A 1AA`); names also a space,
# an underscore, a comma or a dot.
CANDIDATE = r"(?i)[@%]|\bat\b|\d[\d\s.\-()/]{7,}\d|\d[a-z]?[\s,]|[^\x00-\x7f]"
PERSON_CANDIDATE = CANDIDATE + r"|[\s_,.]"
# A plain ISO 8601 date or date-time (most date values) holds nothing to look at.
ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}(?::?\d{2})?)?)?$"

# A number stands on its own between white space or punctuation, not inside a longer code: a hyphen
# or a letter joins it to its neighbours (the 0586-7903-6952 inside a UUID is not a phone number).
_START = r"(?:^|[\s(<:;,/=\[{'\".])"
_END = r"(?:$|[\s)>:;,/\]}'\"]|\.(?:\s|$))"
_LABEL = r"[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?"
_AT = r"(?:\s*@\s*|\s*[(\[{<]\s*at\s*[)\]}>]\s*)"
_DOT = r"(?:\.|\s*[(\[{<]\s*dot\s*[)\]}>]\s*)"
_SPELLED_DOT = r"(?:\s+dot\s+|\s*[(\[{<]\s*dot\s*[)\]}>]\s*)"
EMAIL = (rf"[\p{{L}}\p{{N}}._%+\-']+(?:{_AT}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}\p{{L}}{{2,}}"
         rf"|\s+at\s+{_LABEL}(?:{_SPELLED_DOT}{_LABEL})*{_SPELLED_DOT}\p{{L}}{{2,}})")
PHONE = (_START + r"(\+\d{1,3}[\s.\-]?(?:\(0\)[\s.\-]?)?\(?\d{1,5}\)?(?:[\s.\-]?\d{2,5}){1,4}"  # +44 7700 900123
         r"|00\d{1,3}[\s.\-]\(?\d{1,5}\)?(?:[\s.\-]?\d{2,5}){1,4}"  # 0044 7700 900123
         r"|\(\d{3}\)[\s.\-]?\d{3}[\s.\-]\d{4}"  # (555) 012-3456
         r"|\d{3}[\s.\-]\d{3}[\s.\-]\d{4}"  # 555.012.3456, 555-012-3456
         r"|0\d{2,4}[\s\-]\d{3,4}[\s\-]?\d{3,4})" + _END)  # 07700 900123, 020 7946 0958
NHS_FORMATTED = _START + r"(\d{3}[\s\-]\d{3}[\s\-]\d{4})" + _END
NHS_IN_TEXT = r"(?:^|\s)(\d{10})(?:\s|$)"  # a word of ten digits; the value must hold other words too
SSN = _START + r"(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})" + _END
POSTCODE = _START + r"[a-z]{1,2}\d[a-z\d]?\s+\d[a-z]{2}" + _END
STREET_WORDS = ("street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "close", "way", "court", "place",
                "crescent", "terrace", "boulevard", "blvd", "gardens", "grove", "square", "mews", "walk",
                "rua", "avenida", "calle")
STREET_ADDRESS = (_START + r"\d{1,5}[a-z]?,?\s+(?:[\p{L}'\-]+\s+){0,2}(?:" + "|".join(STREET_WORDS)
                  + r")\.?" + _END)
TITLES = ("dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sir", "dame", "rev", "revd")
TITLED_NAME = r"(?:^|\s)(?:" + "|".join(TITLES) + r")\.?\s+\p{L}[\p{L}'’\-]+"
_NAME_PART = r"\p{L}[\p{L}'’\-]{0,30}\.?"  # a word or an initial
FULL_NAME = rf"^{_NAME_PART}(?:,?\s+{_NAME_PART}){{1,3}}$"
# Words no personal name is made of: a therapist_id of `not recorded` or `duty team` is a placeholder.
NOT_NAME_WORDS = ("not", "no", "none", "unknown", "unrecorded", "recorded", "unassigned", "assigned",
                  "team", "duty", "staff", "group", "clinic", "service", "services", "other", "locum",
                  "bank", "agency", "trainee", "student", "therapist", "therapists", "counsellor",
                  "worker", "clinician", "practitioner", "provider", "self", "referral", "waiting", "list",
                  "the", "and", "of")
NOT_A_NAME = r"(?:^|[\s,])(?:" + "|".join(NOT_NAME_WORDS) + r")(?:$|[\s,])"
PLAIN_PHONE = r"^(?:\+\d{10,14}|0\d{9,10})$"
PLAIN_NHS = r"^\d{10}$"

# kind -> how the refusal names it, in the order they are looked for
KINDS = {
    "e-mail address": "e-mail addresses",
    "NHS number": "NHS numbers",
    "phone number": "phone numbers",
    "social security number": "US social security numbers",
    "postcode": "postcodes",
    "street address": "street addresses",
    "personal name": "personal names",
    "plain NHS number": "NHS numbers",
    "plain phone number": "phone numbers",
}
JUDGED_ON_THE_COLUMN = ("plain NHS number", "plain phone number")


def normalise(values: pl.Series, underscores: bool = True) -> pl.Series:
    """Values as the patterns read them: NFKC, no format characters, percent-decoded, lower case,
    white space (and underscores, unless `underscores` is False) as single spaces. (Pure; the same
    length and order.)"""
    text = values.cast(pl.String)
    encoded = text.str.contains(r"%[0-9A-Fa-f]{2}").fill_null(False)
    if encoded.any():  # (few values: decoded one by one)
        rows = encoded.arg_true()
        text = text.scatter(rows, pl.Series([unquote(v, errors="replace") for v in text.gather(rows).to_list()],
                                            dtype=pl.String))
    wide = text.str.contains(r"[^\x00-\x7f]").fill_null(False)
    if wide.any():
        rows = wide.arg_true()
        text = text.scatter(rows, text.gather(rows).str.normalize("NFKC").str.replace_all(r"\p{Cf}", ""))
    return text.str.to_lowercase().str.replace_all(r"[\s_]+" if underscores else r"\s+", " ").str.strip_chars()


def nhs_check_digit_valid(digits: pl.Expr) -> pl.Expr:
    """Ten digits: modulus 11 with weights 10..2 on the first nine; 11 - (sum mod 11), 11 -> 0, 10 invalid."""
    total = pl.sum_horizontal(digits.str.slice(i, 1).cast(pl.Int32, strict=False) * (10 - i) for i in range(9))
    check = 11 - total % 11
    check = pl.when(check == 11).then(0).otherwise(check)
    last = digits.str.slice(9, 1).cast(pl.Int32, strict=False)
    return (digits.str.len_chars() == 10) & (check != 10) & (check == last)


def looks_like(values: pl.Series, person_names: bool = False) -> dict[str, pl.Series]:
    """For each kind of identifier, a boolean mask over `values` (nulls are False). `person_names`:
    also look for personal names (in client_id and therapist_id)."""
    v, name = pl.col("v"), pl.col("name")
    formatted_nhs = v.str.extract(NHS_FORMATTED, 1).str.replace_all(r"\D", "")
    nhs_in_text = v.str.extract(NHS_IN_TEXT, 1)
    phone = v.str.extract(PHONE, 1)
    rules = {
        "e-mail address": v.str.contains(EMAIL),
        "NHS number": nhs_check_digit_valid(formatted_nhs).fill_null(False)
        | (nhs_check_digit_valid(nhs_in_text) & v.str.contains(r"\D")).fill_null(False),
        "phone number": phone.str.count_matches(r"\d").is_between(10, 15),
        "social security number": v.str.contains(SSN),
        "postcode": v.str.contains(POSTCODE),
        "street address": v.str.contains(STREET_ADDRESS),
        # (read with its underscores: `client_alpha` and `F_client_7` are codes, not names)
        "personal name": (name.str.contains(TITLED_NAME) | (name.str.contains(FULL_NAME)
                                                            & name.str.contains(r"\p{L}{2}")
                                                            & ~name.str.contains(NOT_A_NAME)))
        if person_names else pl.lit(False),
        "plain NHS number": v.str.contains(PLAIN_NHS) & nhs_check_digit_valid(v),
        "plain phone number": v.str.contains(PLAIN_PHONE),
    }
    frame = pl.DataFrame({"v": normalise(values),
                          "name": normalise(values, underscores=False) if person_names else values})
    masks = frame.select(rule.fill_null(False).alias(kind) for kind, rule in rules.items())
    return {kind: masks[kind] for kind in masks.columns}


# The shortest value any pattern finds has four characters (`1 st`, `j li`): a column of shorter
# values (scores, episode numbers, short codes) is passed over without a scan.
SHORTEST_IDENTIFIER = 4


def candidate_masks(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Per column, the rows that could hold an identifier (CANDIDATE); plain ISO dates in date
    columns are passed over. One select, so that polars scans the columns in parallel."""
    longest = frame.select(pl.col(c).str.len_bytes().max().fill_null(0) for c in columns).row(0)

    def could_hold(column: str, longest: int) -> pl.Expr:
        if longest < SHORTEST_IDENTIFIER:
            return pl.repeat(False, frame.height, dtype=pl.Boolean).alias(column)
        mask = pl.col(column).str.contains(PERSON_CANDIDATE if column in PERSON_ID_COLUMNS else CANDIDATE)
        if column.endswith("_date"):
            mask = mask & ~pl.col(column).str.contains(ISO_DATE)
        return mask.fill_null(False)
    return frame.select(could_hold(column, length) for column, length in zip(columns, longest, strict=True))


def identifiers_in(values: pl.Series, candidate: pl.Series, person: bool,
                   names_allowed: bool = False) -> tuple[str, pl.Series] | None:
    """(kind, the distinct values of that kind) for the first kind of identifier found in `values`,
    looking only at the rows `candidate` marks."""
    distinct = values.filter(candidate).unique()
    if distinct.is_empty():
        return None
    masks = looks_like(distinct, person_names=person and not names_allowed)
    for kind, mask in masks.items():
        if not mask.any():
            continue
        if kind in JUDGED_ON_THE_COLUMN and mask.sum() < MAJORITY * values.drop_nulls().n_unique():
            continue
        return kind, distinct.filter(mask)
    return None


def refusal_hint(column: str, kind: str) -> str:
    if column not in PERSON_ID_COLUMNS:
        return "remove them from the export (docs/loading/identifiers.md)"
    hint = "export pseudonymous ids, or pass --pseudonymise-key to replace them on the way in"
    if column == "therapist_id" and kind == "personal name":
        hint += " (or --named-clinicians if the service reports by named clinician)"
    return hint


def refuse_identifier_header(path: object, names: Iterable[str]) -> None:
    """Raise a one-line LoadError if a column name the reader did not recognise holds a direct
    identifier: a value in the header line (a missing header line, a stray cell) would otherwise be
    listed in the load report as an ignored or a refused column. The name is not repeated."""
    cells = pl.DataFrame({"header": [str(name) for name in names]}, schema={"header": pl.String})
    if cells.height:
        found = identifiers_in(cells["header"], candidate_masks(cells, ["header"])["header"], person=False)
        if found is not None:
            raise LoadError(f"{path}: line 1: a column name looks like {KINDS[found[0]]}: is the header line "
                            "missing? The first line of a file must name its columns (docs/loading/input.md)")


def refuse_identifier_values(path: str, frame: pl.DataFrame, *, skip: Sequence[str] = (),
                             named_clinicians: bool = False) -> None:
    """Raise a one-line LoadError naming file, line, column and kind (never the value) if a stored
    column holds a direct identifier (module doc). `skip`: columns that are pseudonymised before
    they are stored. `named_clinicians`: names in therapist_id are allowed
    (docs/loading/identifiers.md#named-clinicians)."""
    columns = [c for c in frame.columns
               if c not in NOT_CHECKED and c not in skip and frame.schema[c] == pl.String]
    masks = candidate_masks(frame, columns)
    for column in columns:
        if not masks[column].any():
            continue
        names_allowed = named_clinicians and column == "therapist_id"
        found = identifiers_in(frame[column], masks[column], column in PERSON_ID_COLUMNS, names_allowed)
        if found is None:
            continue
        kind, values = found
        line = frame.filter(pl.col(column).is_in(values.implode()))["source_line"].min()
        raise LoadError(f"{path}: line {line}: column {column} holds values that look like {KINDS[kind]}; "
                        f"the tool stores no direct identifiers: {refusal_hint(column, kind)}")


def check_key(key: str) -> bytes:
    if len(key) < MIN_KEY_LENGTH:
        raise LoadError(f"--pseudonymise-key is {len(key)} characters; use at least {MIN_KEY_LENGTH} "
                        "random characters, kept secret and the same for every load")
    return key.encode("utf-8")


def pseudonymise(frame: pl.DataFrame, key: bytes) -> pl.DataFrame:
    """The frame with client and therapist ids replaced by keyed pseudonyms (nulls stay null)."""
    replaced = []
    for column in PSEUDONYMISED_COLUMNS:
        if column not in frame.columns:
            continue
        distinct = frame[column].drop_nulls().unique().to_list()
        mapping = {value: "p" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:20]
                   for value in distinct}
        replaced.append(pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String))
    return frame.with_columns(replaced)
