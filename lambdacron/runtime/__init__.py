"""What runs in the Lambda: manifest loading, cron matching, claims and dispatch.

Nothing under this package may import jinja2, typer, cerberus, rich, PyYAML or croniter.
"""
