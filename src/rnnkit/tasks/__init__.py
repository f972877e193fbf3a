"""Lightning tasks: one LightningModule per task, each around the pattern that fits it."""
