"""clinic-outcomes dashboard: `clinic-outcomes dashboard --db WAREHOUSE` starts it.

The app draws the sidebar filters, then runs the chosen page. Pages read the filtered scope
from st.session_state["scope"] and query metric tables through dashboard.data; they never
import each other.
"""

from __future__ import annotations

from pathlib import Path

# pandas first, whole, before any page runs: st.dataframe imports it lazily in one session's
# thread while Altair, in another session's, would read the half-imported module (found by ten
# concurrent browser sessions on a fresh server: "partially initialized module 'pandas'").
import pandas  # noqa: F401, I001
import streamlit as st

from dashboard import charts, data, filters, gate, layout  # noqa: F401 - charts: see pandas above
from dashboard.literal import literal
from pipelines.errors import LoadError

st.set_page_config(page_title="Clinic outcomes", page_icon="📈", layout="wide")
# a visible focus ring and readable captions on every page (docs/dashboard.md#accessibility)
st.html(Path(__file__).parent / "accessibility.css")

# The page files live in views/, not pages/: Streamlit treats a pages/ folder next to the entry
# script as an old-style multipage app, and then the first request a fresh server gets for a deep
# link (/therapists?clinic=K01) runs that page file alone, without the sidebar filters.
PAGES = {
    "Warning signs": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/first_sessions.py", title="First sessions", icon=":material/door_open:"),
        st.Page("views/waits.py", title="Waits", icon=":material/hourglass_top:"),
        st.Page("views/attendance.py", title="Attendance", icon=":material/event_available:"),
        st.Page("views/therapists.py", title="Therapists", icon=":material/groups:"),
        st.Page("views/outcomes.py", title="Outcomes and hope", icon=":material/trending_up:"),
        st.Page("views/plateaus.py", title="Plateaus", icon=":material/horizontal_rule:"),
        st.Page("views/endings.py", title="Endings", icon=":material/logout:"),
        st.Page("views/safety.py", title="Safety", icon=":material/health_and_safety:"),
    ],
    "Data": [
        st.Page("views/explore.py", title="Explore", icon=":material/table_view:"),
        st.Page("views/data_quality.py", title="Data quality", icon=":material/fact_check:"),
        st.Page("views/glossary.py", title="Glossary", icon=":material/menu_book:"),
    ],
}

# With an access file, nobody gets further than this without a signed-in, listed user.
clinics = gate.admit()
try:
    current = data.reader()
except LoadError as exc:  # a file is there but cannot be read: say why, and offer nothing that writes to it
    st.title("Clinic outcomes")
    st.error(literal(exc))
    st.stop()
if current is None:
    if clinics is None:
        st.navigation([st.Page(layout.no_warehouse, title="Welcome", icon=":material/info:")]).run()
    else:  # loading sample data into a shared server is not a restricted user's call
        st.title("Clinic outcomes")
        st.warning(f"There is no warehouse at {literal(data.warehouse_path())} yet; ask the person who runs this "
                   "dashboard.")
else:
    page = st.navigation(PAGES)  # first: the sidebar's dates say what they select on this page
    options = data.run("filter_options", filters.Scope())
    st.session_state["scope"] = filters.sidebar_filters(options, current.settings()["extract_date"], page.url_path)
    layout.sidebar_footer(gate.describe(clinics))
    page.run()
    filters.unused_link_warning()
