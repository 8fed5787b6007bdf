"""nianbao: township trade-union annual returns, validated and consolidated.

The one import package of the project: ``nianbao.schemas``, ``nianbao.workbooks``,
``nianbao.flows`` and ``nianbao.plugin`` live in the repository's top-level folders of those
names (setuptools ``package-dir``), the core modules beside this file.
"""


def main() -> None:
    """The Excel button 工会年报 → 刷新汇总.

    The add-in ``nianbao.xlam`` is xlwings' ribbon template, whose VBA runs
    ``import <file name>; <file name>.main()``; naming it after the package lands here. Imported
    lazily so that ``import nianbao`` stays cheap for the command line.
    """
    from nianbao.plugin.refresh import main as refresh_main

    refresh_main()
