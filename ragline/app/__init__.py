"""Application layer: the RAG pipeline and its answer checks."""
