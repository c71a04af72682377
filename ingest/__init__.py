"""tuwen ingest: turns a folder of product photos and a caption CSV into a Qdrant collection."""
