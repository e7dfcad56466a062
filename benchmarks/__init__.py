"""Measurements of the application, each runnable from make (`make bench` runs them all)."""
