"""Glossary: the terms of the dashboard, from the same entries as the manual's glossary
(docs/metrics/glossary.md, read by dashboard/glossary.py), so the page and the manual say the same."""

from __future__ import annotations

import streamlit as st

from dashboard import glossary

st.title("Glossary")
st.caption("The words the dashboard uses, in alphabetical order: the same entries as the manual's glossary "
           "(docs/metrics/glossary.md), where each links to the page that defines it fully. A table's column "
           "headers give their entry when you hover them.")

for entry in glossary.entries().values():
    st.subheader(entry.title, anchor=entry.anchor)
    st.markdown(glossary.for_the_page(entry.body))
