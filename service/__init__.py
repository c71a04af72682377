"""tuwen service: answers questions about an indexed catalog, with cited images."""
