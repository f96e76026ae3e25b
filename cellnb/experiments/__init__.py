"""Each chapter's experiment, as library code the notebook calls: data preparation, training,
evaluation. Notebooks orchestrate and explain; what they run lives here and is tested."""
