"""Feature extractors: HuBERT SSL features, Chinese BERT phoneme features, semantic codes."""
