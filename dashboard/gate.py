"""Who is looking, and which clinics they may see (pipelines/access.py has the file format).

No access file (CLINIC_OUTCOMES_ACCESS unset): the app is open and says so. With one: a signed-in
user (Streamlit's OIDC login, `st.user`) whose e-mail address the identity provider has verified
and who is listed in it sees their clinics; anyone else sees a message and nothing else.
dashboard.data applies the answer to every query.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard.literal import literal
from pipelines.access import AccessFile, load_access_file
from pipelines.errors import LoadError

ACCESS_ENV = "CLINIC_OUTCOMES_ACCESS"
NO_CLINICS: tuple[str, ...] = ()


@st.cache_data(max_entries=4, show_spinner=False)
def _access_file(path: str, mtime_ns: int) -> AccessFile:
    return load_access_file(Path(path))


def access_file() -> AccessFile | None:
    """The access file in force, or None when the app runs open. Raises LoadError when the
    configured file is missing or malformed (the app then shows the error and nothing else)."""
    path = os.environ.get(ACCESS_ENV)
    if not path:
        return None
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        raise LoadError(f"{path}: access file not found (set by {ACCESS_ENV})") from None
    return _access_file(path, mtime)


def user_email() -> str | None:
    """The address the user signed in with, verified or not (to name it in a message)."""
    if not st.user.get("is_logged_in", False):
        return None
    email = st.user.get("email")
    return str(email) if email else None


def trusted_email(access: AccessFile) -> str | None:
    """The signed-in address the access file may be matched against (AccessFile.trusted_email)."""
    return access.trusted_email(st.user.to_dict())


def allowed_clinics() -> tuple[str, ...] | None:
    """The clinics this session may see: None for every clinic, () for none."""
    try:
        access = access_file()
    except LoadError:
        return NO_CLINICS
    if access is None:
        return None
    clinics = access.clinics_for(trusted_email(access))
    return NO_CLINICS if clinics is False else clinics


def _sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all means no sign-in configured
        return False


def admit() -> tuple[str, ...] | None:
    """Let the session in, or explain why not and stop the script. Returns allowed_clinics()."""
    try:
        access = access_file()
    except LoadError as exc:
        st.title("Clinic outcomes")
        st.error(f"The access file cannot be used, so nothing is shown: {literal(exc)}")
        st.stop()
    if access is None:
        return None
    email = user_email()
    if email is None:
        st.title("Clinic outcomes")
        st.info("This dashboard shows each person only the clinics they are responsible for. Sign in to continue.")
        if _sign_in_configured():
            st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")
        else:
            st.warning("Sign-in is not configured on this server (an `[auth]` section in "
                       "`.streamlit/secrets.toml`); ask the person who runs it.")
        st.stop()
    if trusted_email(access) is None:
        st.title("Clinic outcomes")
        st.warning(f"You are signed in as {literal(email)}, but your identity provider has not confirmed that "
                   "this address is yours (its `email_verified` claim), so nothing is shown. Ask the person who "
                   "runs this dashboard.")
        _offer_sign_out()
        st.stop()
    clinics = access.clinics_for(email)
    if clinics is False or clinics == NO_CLINICS:
        st.title("Clinic outcomes")
        st.warning(f"You are signed in as {literal(email)}, but no clinics are assigned to you, so there is "
                   f"nothing to show. Ask the person who runs this dashboard to add you to the access file.")
        _offer_sign_out()
        st.stop()
    return clinics


def _offer_sign_out() -> None:
    if _sign_in_configured():
        st.button("Sign out", on_click=st.logout, icon=":material/logout:")


def describe(clinics: tuple[str, ...] | None) -> str:
    """One line for the sidebar: whose view this is."""
    if access_file_configured():
        who = user_email()
        scope = "every clinic" if clinics is None else ", ".join(literal(clinic) for clinic in clinics)
        return f"Signed in as {literal(who)} · sees {scope}"
    return ("Open access: no access file is configured, so everyone who can reach this server "
            "sees every clinic.")


def access_file_configured() -> bool:
    return bool(os.environ.get(ACCESS_ENV))
