"""Explore: the episodes behind any filter, and the appointments behind any episode."""

from __future__ import annotations

import streamlit as st

from dashboard import data, early_warning, gate, key_columns, layout, links, vocabulary
from dashboard.literal import literal

st.title("Explore")
st.caption("The episodes selected by the sidebar filters. Select a row to see its appointments (by keyboard: Tab "
           "into the table, arrow keys to the row, Shift+Space). Downloads contain exactly the rows shown.")

scope = layout.scope()
if layout.has_episodes():
    episodes = key_columns.key_first(data.run("episode_list", scope, limit=layout.ROW_LIMIT), "episodes")
    if episodes.height == layout.ROW_LIMIT:
        st.warning(f"Showing the first {layout.ROW_LIMIT:,} episodes (by client id); narrow the filters to see the rest.")
    chosen = vocabulary.show_table(episodes, on_select="rerun", selection_mode="single-row", key="episodes")
    layout.downloads(episodes, "episodes")
    # an episode in the link is "client:episode" (docs/dashboard.md#links)
    listed = [f"{client}:{episode}" for client, episode in episodes.select("client_id", "episode_id").iter_rows()]
    links.follow("appointments_of", listed[chosen.selection.rows[0]] if chosen and chosen.selection.rows else None)
    shown = links.control("episode", links.one_of(listed, "an episode listed here"), st.selectbox,
                          "Show the appointments of", listed, default=None, key="appointments_of",
                          format_func=lambda key: "client {}, episode {}".format(*key.rsplit(":", 1)),
                          placeholder="Select a row or an episode")
    if shown:
        row = episodes.row(listed.index(shown), named=True)
        st.subheader(f"Appointments of client {literal(row['client_id'])}, episode {literal(row['episode_id'])}")
        appointments = data.run("episode_appointments", scope, client_id=row["client_id"],
                                episode_id=row["episode_id"])
        if gate.allowed_clinics() is not None:  # a restricted user (docs/security.md#who-sees-what)
            st.caption("Appointments at clinics outside your access are not shown. The episode's own figures "
                       "(sessions, days in care, how it ended) count them.")
        vocabulary.show_table(appointments)
        layout.downloads(appointments, f"appointments_{row['client_id']}_{row['episode_id']}")
    early_warning.not_on_track(scope, "explore")  # docs/dashboard.md#early-warnings
