"""The model can learn: 60 SGD steps on one tiny mixed batch lower every loss."""

import torch
from common import build_tiny_model, make_inputs
from detectron2.utils.events import EventStorage


def test_sgd_steps_lower_every_loss():
    model = build_tiny_model(seed=0).train()
    # C learns freely here (no reversal); the reversal itself is tested in test_modeling_heads.
    model.set_grl_lambda(0.0)
    model.set_mask_ratio(0.2)
    inputs = make_inputs(("pe", "pd"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = []
    with EventStorage() as storage:
        for step in range(60):
            storage.iter = step
            torch.manual_seed(step)  # jitter / sampling / masking vary, reproducibly
            losses = model(inputs)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
            history.append({k: v.item() for k, v in losses.items()})
    for key in history[0]:
        last = sum(h[key] for h in history[-3:]) / 3
        if key.startswith("loss_box_reg"):
            # At initialization only the appended ground-truth boxes are foreground (zero
            # regression targets), so this loss first rises as the RPN learns, then falls.
            first = max(h[key] for h in history[:20])
        else:
            first = sum(h[key] for h in history[:3]) / 3
        assert last < first, f"{key}: {first:.4f} -> {last:.4f}"
