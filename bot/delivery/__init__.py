"""Outbound delivery, the one place that sends: every message is written to the outbox first
(``outbox.py``), the delivery policies decide whether it may go now (``policies.py``: opt-out,
outreach caps, quiet hours, the hourly budget), the worker claims due rows and sends them through
the platforms' gateways (``worker.py``), paced under the platforms' limits (``pacing.py``, with the
limits as data in ``rates.py`` and the slots kept in ``slots.py``)."""
