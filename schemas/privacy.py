"""Masking of personal data (hardship ledger names and ID numbers).

Anything that leaves the county office (master workbook, reports upward, logs) shows ID
numbers masked as ``4101**********1234`` and no names.
"""

from __future__ import annotations

# Ledger columns that identify a person.
SENSITIVE_LEDGER_FIELDS = frozenset({"name", "id_number"})


def mask_id(value: str) -> str:
    """Keep the first four and last four characters: 410102199001011234 -> 4101**********1234."""
    text = str(value)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: the family name alone does not identify a person in a township ledger."""
    text = str(value)
    return text[:1] + "*" * (len(text) - 1) if text else text


def mask_value(prefix: str, field: str, value: str) -> str:
    """Mask ``value`` when the model location ``prefix.field`` is personal data."""
    if not value or not prefix.startswith("ledger") or field not in SENSITIVE_LEDGER_FIELDS:
        return value
    return mask_id(value) if field == "id_number" else mask_name(value)
