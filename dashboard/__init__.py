"""The Streamlit dashboard: shows the metric tables; never computes a metric."""
