"""Planning sits above training: it measures candidate settings with the trainer's public
`setup()` and `train_step()`, predicts a run's peak memory and picks what fits a card."""
