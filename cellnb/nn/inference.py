"""Running a trained model over many images: batched, without gradients, in eval mode.

Every cellnb model answers ``model(x, output_layer=name)``; :func:`infer` asks for one named
output over a whole array, batch by batch, and returns it as one numpy array in input order.
"""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def infer(model: torch.nn.Module, images, *, output_layer: str, batch_size: int = 256,
          device: str | torch.device | None = None) -> np.ndarray:
    """``model(images, output_layer=...)`` over ``images`` (N, C, ...), concatenated along N."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        outputs = []
        for start in range(0, len(images), batch_size):
            batch = torch.as_tensor(images[start:start + batch_size]).to(device, torch.float32)
            outputs.append(model(batch, output_layer=output_layer).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs).numpy()
