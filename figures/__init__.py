"""Paper artefacts (figures, tables, an HTML token browser) built from evaluation outputs.

Entry point: ``python figures/make_figures.py <eval dirs...> --out <dir>``.
"""
