"""Data layer: loaders, chunking, BM25, the Qdrant index, ingestion and context packing."""
