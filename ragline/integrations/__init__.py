"""Adapters between ragline and other frameworks.

Each submodule imports its framework when it is imported, so import only the
one you use, e.g. ``from ragline.integrations.langchain import RaglineRetriever``.
"""
