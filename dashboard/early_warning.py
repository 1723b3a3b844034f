"""Early warnings about one client while there is still time (docs/dashboard.md#early-warnings): open episodes
whose latest alliance rating is low, and open episodes not on track against the service's own expected change,
with the chosen episode's trajectory drawn against its band. The Safety and Explore pages show them.

Both lists come from reports run through dashboard.data, narrowed to the signed-in user's clinics; the
expected change itself is drawn from the closed episodes of the clinics in scope (docs/metrics/not-on-track.md).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import charts, data, layout, links, vocabulary
from dashboard.literal import literal
from pipelines.queries import Scope

LOW_ALLIANCE_COLUMNS = ("client_id", "srs", "srs_session_number", "srs_date", "therapist_id", "episode_id",
                        "clinic_id", "attended_sessions", "last_attended_date")
NOT_ON_TRACK_COLUMNS = ("client_id", "latest_change", "expected_90th", "session_number", "therapist_id",
                        "episode_id", "clinic_id", "intake_band", "latest_score", "expected_median",
                        "closed_episodes")
NOT_A_PREDICTION = ("The expected change is drawn from this service's own closed episodes: what happened to "
                    "clients who started in the same band. It is an expectation, not a clinical prediction, "
                    "and a prompt to talk with the client, not a judgement of them or their therapist.")


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


def not_on_track(scope: Scope, name: str) -> None:
    """The open episodes not on track (docs/metrics/not-on-track.md), and one's trajectory against its band."""
    measure = vocabulary.measure_name(data.build()["plateau_measure"])
    st.subheader(f"Not on track ({measure})")
    st.caption(f"Open episodes whose latest {measure} change since their first score is worse than 90% of the "
               "closed episodes that started in the same band did by the same session. Furthest below first.")
    st.info(NOT_A_PREDICTION, icon=":material/info:")
    rows = data.run("not_on_track", scope)
    if rows.is_empty():
        st.success("No open episode in this selection is below its band's 90th percentile line (or too few closed "
                   "episodes have scores to draw the lines).")
        return
    shown = layout.capped(rows, "episodes not on track")
    vocabulary.show_table(shown.select(NOT_ON_TRACK_COLUMNS), key=f"{name}_not_on_track")
    layout.downloads(shown, f"{name}_not_on_track")
    # an episode in the link is "client:episode" (docs/dashboard.md#links)
    listed = [f"{client}:{episode}" for client, episode in shown.select("client_id", "episode_id").iter_rows()]
    chosen = links.control("trajectory", links.one_of(listed, "an episode listed here"), st.selectbox,
                           "Draw the trajectory of", listed, default=listed[0], key=f"{name}_trajectory",
                           format_func=lambda key: "client {}, episode {}".format(*key.rsplit(":", 1)))
    if chosen:
        client_id, episode_id = chosen.rsplit(":", 1)
        trajectory(scope, client_id, episode_id, measure)


def trajectory(scope: Scope, client_id: str, episode_id: str, measure: str) -> None:
    lines = data.run("episode_trajectory", scope, client_id=client_id, episode_id=episode_id)
    st.markdown(f"**Client {literal(client_id)}, episode {literal(episode_id)}** against the expected change of "
                "the episodes that started in its band")
    st.altair_chart(charts.not_on_track_trajectory(lines, measure), width="stretch")
    scored = lines.filter(pl.col("change").is_not_null()).height
    st.caption(f"{scored:,} scores of this episode. Dashed: the median, and the 75th and 90th percentile lines, "
               "drawn only at sessions where enough closed episodes have a score. Up is better.")
