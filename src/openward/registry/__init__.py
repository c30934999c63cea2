"""The model registry: storage, upload, download, and the checks deciding what is visible."""
