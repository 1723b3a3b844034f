"""Who may see which clinics: the optional access file.

    # access.toml: signed-in e-mail address -> the clinics that person may see
    require_verified_email = true           # the default; see docs/security.md#format
    [users]
    "director@example.org" = "*"            # every clinic
    "lead.north@example.org" = ["K01", "K02"]

Without an access file the dashboard runs open (one clinic, or local use) and says so. With
one, a user must be signed in (Streamlit's OIDC login, `st.user`), with an e-mail address the
identity provider has verified, and listed; a listed user sees only their clinics, through every
query, download and drill-down (the query layer applies it: pipelines/queries.py). Anyone else
sees a message and nothing else.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import LoadError

ALL_CLINICS = "*"


REQUIRE_VERIFIED_EMAIL = "require_verified_email"


def _address(email: str) -> str:
    """The form addresses are matched in: without capitals or surrounding spaces."""
    return email.strip().lower()


def is_verified(claim: object) -> bool:
    """An OIDC `email_verified` claim that says yes: true, or the text "true" some providers send."""
    return claim is True or (isinstance(claim, str) and claim.strip().lower() == "true")


@dataclass(frozen=True)
class AccessFile:
    path: str
    users: dict[str, tuple[str, ...] | None]  # lower-cased e-mail -> clinics (None: every clinic)
    require_verified_email: bool = True

    def clinics_for(self, email: str | None) -> tuple[str, ...] | None | bool:
        """The clinics a user may see: None means every clinic; False means no access."""
        if not email:
            return False
        return self.users.get(_address(email), False)

    def trusted_email(self, claims: Mapping[str, object]) -> str | None:
        """The signed-in user's e-mail address when the identity provider vouches for it: its
        `email_verified` claim is true, or the claim is absent and the file sets
        require_verified_email = false. An explicit false is never accepted."""
        email = claims.get("email")
        if not email or not claims.get("is_logged_in", False):
            return None
        if "email_verified" in claims and claims["email_verified"] is not None:
            return str(email) if is_verified(claims["email_verified"]) else None
        return None if self.require_verified_email else str(email)


def load_access_file(path: Path) -> AccessFile:
    """Read and check an access file; a one-line error names the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError(f"{path}: access file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"{path}: access file cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"{path}: not a valid TOML access file ({exc})") from None
    users = data.get("users")
    if not isinstance(users, dict):
        raise LoadError(f"{path}: an access file needs a [users] table (e-mail = [\"clinic\", ...] or \"*\")")
    require_verified = data.get(REQUIRE_VERIFIED_EMAIL, True)
    if not isinstance(require_verified, bool):
        raise LoadError(f"{path}: {REQUIRE_VERIFIED_EMAIL} must be true or false")
    resolved: dict[str, tuple[str, ...] | None] = {}
    spelled: dict[str, str] = {}  # matched form -> the spelling in the file, to name both of a pair
    for email, clinics in users.items():
        address = _address(email)
        if address in spelled:  # one person under two spellings: which entry wins must not be a guess
            raise LoadError(f"{path}: users '{spelled[address]}' and '{email}' are the same address (capitals "
                            "and surrounding spaces are ignored); keep one entry")
        spelled[address] = email
        if clinics == ALL_CLINICS:
            resolved[address] = None
        elif isinstance(clinics, list) and all(isinstance(c, str) and c.strip() for c in clinics):
            resolved[address] = tuple(sorted({c.strip() for c in clinics}))
        else:
            raise LoadError(f"{path}: user '{email}': clinics must be a list of clinic ids or \"*\"")
    return AccessFile(path=str(path), users=resolved, require_verified_email=require_verified)
