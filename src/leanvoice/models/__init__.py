"""The two GPT-SoVITS v2 models, in our own PyTorch code with official state-dict names."""
