"""Speech recognition data: audio files or recordings with transcripts, as log-mel frames."""
