"""Identifier guard on values (docs/loading/identifiers.md), and keyed pseudonymisation of ids on the way in.

The column-name guard (read.py) catches a `email` column; this one catches real identifiers in
the id columns themselves: a `client_id` or `therapist_id` holding e-mail addresses, phone
numbers or NHS numbers refuses the load, unless the site pseudonymises on ingest.

    e-mail address        any value                        name@domain.tld
    formatted phone       any value                        +44 7700 900123, (555) 123-4567, 555-123-4567,
                                                           020 7946 0958 (10 to 15 digits)
    plain phone number    half or more of the distinct ids 07700900123, +447700900123
    NHS number            half or more of the distinct ids 10 digits (or 3-3-4) with a valid
                                                           modulus-11 check digit

Plain digit strings are judged on the whole column because many systems number their clients:
one in eleven random 10-digit numbers passes the NHS check, a real NHS number column all do.

Pseudonymisation replaces each id by `p` + the first 20 hex digits of HMAC-SHA256(key, id): the
same id and key always give the same pseudonym, so episodes still link across loads made with
the same key, and nobody without the key can go back or test a guess.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from pipelines.errors import LoadError

GUARDED_COLUMNS = ("client_id", "therapist_id")
PSEUDONYMISED_COLUMNS = ("client_id", "therapist_id")
MIN_KEY_LENGTH = 16
MAJORITY = 0.5

EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
FORMATTED_PHONE = (r"^(\+\d{1,3}[ .\-]?\(?\d{1,5}\)?([ .\-]?\d{2,5}){2,4}"  # +44 7700 900123, +447700900123
                   r"|\(\d{3}\) ?\d{3}[ .\-]\d{4}"  # (555) 123-4567
                   r"|\d{3}[ .\-]\d{3}[ .\-]\d{4}"  # 555-123-4567
                   r"|0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4})$")  # 07700 900123, 020 7946 0958
PLAIN_PHONE = r"^(\+\d{10,14}|0\d{9,10})$"
NHS_SHAPE = r"^\d{3}[ \-]?\d{3}[ \-]?\d{4}$"


def _nhs_check_digit_valid(digits: pl.Expr) -> pl.Expr:
    """Modulus 11: weights 10..2 on the first nine digits; 11 - (sum mod 11), 11 -> 0, 10 invalid."""
    total = pl.sum_horizontal(digits.str.slice(i, 1).cast(pl.Int32, strict=False) * (10 - i) for i in range(9))
    check = 11 - total % 11
    check = pl.when(check == 11).then(0).otherwise(check)
    return (check != 10) & (check == digits.str.slice(9, 1).cast(pl.Int32, strict=False))


def looks_like(values: pl.Series) -> dict[str, pl.Series]:
    """For each kind of identifier, a boolean mask over `values` (nulls are False)."""
    frame = pl.DataFrame({"v": values})
    digits = pl.col("v").str.replace_all(r"[ \-]", "")
    digit_count = pl.col("v").str.count_matches(r"\d")
    masks = frame.select(
        pl.col("v").str.contains(EMAIL).fill_null(False).alias("e-mail addresses"),
        (pl.col("v").str.contains(FORMATTED_PHONE) & digit_count.is_between(10, 15)).fill_null(False)
        .alias("phone numbers"),
        pl.col("v").str.contains(PLAIN_PHONE).fill_null(False).alias("plain phone numbers"),
        (pl.col("v").str.contains(NHS_SHAPE) & _nhs_check_digit_valid(digits)).fill_null(False).alias("NHS numbers"),
    )
    return {name: masks[name] for name in masks.columns}


# Every kind above needs an `@` or ten digits in a row of digits and separators: only such values
# are looked at closely. (A national extract's ids rarely have either, and a full pass of the
# patterns over millions of distinct ids costs seconds.)
CANDIDATE = r"@|\d[\d \-().+]{8,}\d"


def refuse_identifier_values(path: str, frame: pl.DataFrame) -> None:
    """Raise a one-line LoadError if an id column holds direct identifiers (see module doc)."""
    for column in GUARDED_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column]
        candidates = values.filter(values.str.contains(CANDIDATE).fill_null(False)).unique()
        if candidates.is_empty():
            continue
        masks = looks_like(candidates)
        found = None
        for kind in ("e-mail addresses", "phone numbers"):
            if masks[kind].any():
                found = (kind, candidates.filter(masks[kind])[0])
                break
        if found is None:
            distinct = values.drop_nulls().n_unique()
            for kind in ("NHS numbers", "plain phone numbers"):
                if masks[kind].sum() >= MAJORITY * distinct:
                    found = (kind, candidates.filter(masks[kind])[0])
                    break
        if found is not None:
            kind, example = found
            line = frame.filter(pl.col(column) == example)["source_line"].min()
            raise LoadError(
                f"{path}: line {line}: column {column} holds values that look like {kind}; ids must be "
                "pseudonymous. Export pseudonymous ids, or pass --pseudonymise-key to replace them on the way in")


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
