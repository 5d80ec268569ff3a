"""Pushing the register's events to integrating systems: signed webhooks and CloudEvents."""
