"""workbooks package."""
