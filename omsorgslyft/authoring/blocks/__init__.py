"""One module per block kind, the way markdown-it-py keeps one file per rule in ``rules_block``.

Each parser takes the file's :class:`~omsorgslyft.authoring.context.ParseContext` and the
tokens of one ``:::`` container; :mod:`omsorgslyft.authoring.parser` walks the file and calls
them.
"""
