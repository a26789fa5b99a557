"""What is served: model configurations (presets, HF config.json), requests and micro-batches,
serving traces."""
