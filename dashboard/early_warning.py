"""Early warnings about one client while there is still time (docs/dashboard.md#early-warnings): open episodes
whose latest alliance rating is low. The Safety page shows them.

The list comes from a report run through dashboard.data, narrowed to the signed-in user's clinics.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, layout, vocabulary
from pipelines.queries import Scope

LOW_ALLIANCE_COLUMNS = ("client_id", "srs", "srs_session_number", "srs_date", "therapist_id", "episode_id",
                        "clinic_id", "attended_sessions", "last_attended_date")


def low_alliance(scope: Scope, name: str) -> None:
    """The open episodes whose latest SRS is below the cut-off (docs/metrics/alliance.md)."""
    st.subheader("Low alliance at the latest rating")
    st.caption("Open episodes whose latest Session Rating Scale score, at any session, is below the SRS cut-off: "
               "the client rated the working relationship low the last time they were asked. A later rating at "
               "or above the cut-off takes the episode off the list. Lowest rating first.")
    rows = data.run("low_alliance", scope)
    if rows.is_empty():
        st.success("No open episode in this selection has its latest SRS below the cut-off.")
        return
    st.caption(f"Below {rows['srs_cutoff'][0]:g} on the SRS (0–40).")
    shown = layout.capped(rows, "episodes with a low alliance")
    vocabulary.show_table(shown.select(LOW_ALLIANCE_COLUMNS), key=f"{name}_low_alliance")
    layout.downloads(shown, f"{name}_low_alliance")
