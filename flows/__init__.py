"""Prefect flows: orchestration only; the logic lives in ``syncbridge`` and its connectors."""
