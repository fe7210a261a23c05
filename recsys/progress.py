"""Progress bars for long steps: rate and ETA on stderr (tqdm; widgets in notebooks)."""

from __future__ import annotations

from tqdm.auto import tqdm


def epoch_bar(description: str, epochs: int, enabled: bool):
    """A bar over ``epochs`` training epochs; early stopping may close it before the end."""
    return tqdm(total=epochs, desc=description, unit="epoch", disable=not enabled)
