"""Cost tracking: what every model call costs, where it is recorded, and who may spend more.

- :mod:`ragline.cost.prices` — the price catalogue (``configs/prices.yaml`` plus overrides)
  and exact :class:`~decimal.Decimal` cost of a :class:`~ragline.types.Usage`.
- :mod:`ragline.cost.ledger` — one row per model call in SQLite or PostgreSQL.
- :mod:`ragline.cost.budgets` — atomic per-tenant / per-API-key spending limits.
- :mod:`ragline.cost.schema` — the lazy, once-only table set-up the ledger and budgets share.
- :mod:`ragline.cost.report` — cost grouped by model, route, tenant, stage or day, and a chart.
"""
