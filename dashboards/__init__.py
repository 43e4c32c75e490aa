"""Dash apps: layouts and callbacks only; analysis logic lives in saekit."""
