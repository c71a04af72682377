"""Model loading shared by the write path, the trainer and the service: CLIP roles, int8
towers, and one device/dtype policy."""
