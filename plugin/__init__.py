"""The county Excel add-in: ribbon 工会年报 → 刷新汇总 runs ``nianbao.main()``, i.e. :func:`main` here."""

from nianbao.plugin.refresh import RefreshResult, main, refresh

__all__ = ["RefreshResult", "main", "refresh"]
