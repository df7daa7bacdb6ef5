"""Output folders (written whole or not at all), JSON/Parquet writing, the saved study result."""
