"""Top-k predictions for image files, as text or JSON (`python -m alexnet_tf.predict`).

    classifier = inference.load_classifier("workdir/")
    result = predict_files(classifier, ["cat.jpg", "dog.png"], k=5)
    print(format_text(result))          # or json.dumps(result)

Each file is read and decoded on its own, so one bad file is reported (with what is wrong
with it) and the others are still classified.
"""
from __future__ import annotations

import numpy as np

from alexnet_tf.inference.loader import Classifier, InputError, top_k


def predict_files(classifier: Classifier, paths, *, k: int = 5, batch_size: int = 64) -> dict:
    """{"model", "predictions": [{"image", "top": [{"rank", "index", "label", "name",
    "probability"}]}], "errors": [{"image", "error"}]}."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    images, good, errors = [], [], []
    for path in paths:
        try:
            images.append(classifier.preprocess_files([path]))
            good.append(str(path))
        except InputError as e:
            errors.append({"image": str(path), "error": str(e)})
    predictions = []
    if good:
        probabilities = classifier.probabilities(np.concatenate(images), batch_size=batch_size)
        indices, values = top_k(probabilities, k)
        names = classifier.class_names
        for path, row, probs in zip(good, indices, values):
            predictions.append({"image": path, "top": [
                {"rank": rank + 1, "index": int(i), "label": names.labels[i],
                 "name": names.names[i], "probability": float(p)}
                for rank, (i, p) in enumerate(zip(row, probs))]})
    return {"model": classifier.source, "predictions": predictions, "errors": errors}


def format_text(result: dict) -> str:
    lines = []
    for prediction in result["predictions"]:
        lines.append(prediction["image"])
        for entry in prediction["top"]:
            label = entry["name"]
            if entry["label"] != entry["name"]:
                label += f" ({entry['label']})"
            lines.append(f"  {entry['rank']}. {100 * entry['probability']:6.2f}%  {label}")
    for error in result["errors"]:
        lines.append(f"{error['image']}: skipped: {error['error']}")
    return "\n".join(lines)
