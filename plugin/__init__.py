"""plugin package: the county Excel add-in (ribbon 工会年报 → 刷新汇总 runs ``plugin.main()``)."""

from plugin.refresh import RefreshResult, main, refresh

__all__ = ["RefreshResult", "main", "refresh"]
