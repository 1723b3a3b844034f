"""Who may see which clinics: the optional access file.

    # access.toml: signed-in e-mail address -> the clinics that person may see
    [users]
    "director@example.org" = "*"            # every clinic
    "lead.north@example.org" = ["K01", "K02"]

Without an access file the dashboard runs open (one clinic, or local use) and says so. With
one, a user must be signed in (Streamlit's OIDC login, `st.user`) and listed; a listed user
sees only their clinics, through every query, download and drill-down (the query layer
applies it: pipelines/queries.py). Anyone not listed sees a message and nothing else.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import LoadError

ALL_CLINICS = "*"


@dataclass(frozen=True)
class AccessFile:
    path: str
    users: dict[str, tuple[str, ...] | None]  # lower-cased e-mail -> clinics (None: every clinic)

    def clinics_for(self, email: str | None) -> tuple[str, ...] | None | bool:
        """The clinics a user may see: None means every clinic; False means no access."""
        if not email:
            return False
        return self.users.get(email.strip().lower(), False)


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
    resolved: dict[str, tuple[str, ...] | None] = {}
    for email, clinics in users.items():
        if clinics == ALL_CLINICS:
            resolved[email.strip().lower()] = None
        elif isinstance(clinics, list) and all(isinstance(c, str) and c.strip() for c in clinics):
            resolved[email.strip().lower()] = tuple(sorted({c.strip() for c in clinics}))
        else:
            raise LoadError(f"{path}: user '{email}': clinics must be a list of clinic ids or \"*\"")
    return AccessFile(path=str(path), users=resolved)
