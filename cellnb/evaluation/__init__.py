"""Generic estimators every chapter uses: arrays in, numbers out, the papers' defaults as keyword
arguments (k-NN accuracy, the clustering score, 2-D embeddings, instance detection, training-free
baselines). Nothing here knows a paper's model."""
