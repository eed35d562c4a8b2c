"""Classifier speed and memory: cold start, a 512x512 photo, a 4096x4096 photo, a document page.

    python -m benchmarks.classification [--runs N]

Run in a fresh process, since the cold start (importing the classifier and
TensorFlow, loading the model, classifying the first image) and the resident
memory are what this measures.  The photo is scikit-image's coffee picture
resized to 512x512 (and to 4096x4096: the whole file, decoding included); the
page is an invoice rendered by the dev set's renderer, classified with OCR.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import time

import numpy as np
from PIL import Image

from .timing import median_ms


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def measure(runs: int) -> dict[str, object]:
    from skimage import data  # the test picture, loaded before the clock starts

    photo = _png(Image.fromarray(data.coffee()).resize((512, 512)))
    large = _png(Image.fromarray(data.coffee()).resize((4096, 4096), Image.Resampling.BICUBIC))
    started = time.perf_counter()
    from classification.engine.classifier import DomainClassifier

    classifier = DomainClassifier("auto")
    classifier.classify(photo)
    cold = time.perf_counter() - started

    from classification import devset

    rng = random.Random(1)
    page = _png(devset._page(devset.finance_lines(rng), rng, devset._fonts()))

    def timed(payload: bytes) -> tuple[float, str]:
        results = []
        ms = median_ms(lambda: results.append(classifier.classify(payload)), runs)
        return ms, results[-1].ocr

    photo_ms, photo_ocr = timed(photo)
    large_ms, _ = timed(large)
    page_ms, page_ocr = timed(page)
    return {
        "model": classifier.model,
        "cold_start_s": round(cold, 2),
        "photo_512_ms": photo_ms,
        "photo_ocr": photo_ocr,
        "photo_4096_ms": large_ms,
        "document_page_ms": page_ms,
        "document_ocr": page_ocr,
        "max_resident_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runs": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    np.seterr(all="ignore")
    print(json.dumps(measure(parser.parse_args().runs)))
