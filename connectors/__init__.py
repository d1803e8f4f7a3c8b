"""Built-in ATS connectors, importable as ``syncbridge.connectors.<vendor>``."""
