"""Photo + words ("this, but in red") against the photo alone and the words alone.

    python bench/composed.py --data-dir DIR --clip-model M --captions CSV [--pairs 500]

Pairs come from the captions (``tests/service/answering/composed_pairs.py``): photo A plus
the colour word of B, where B states A's brand, gender and category in another colour. R@10
is the share of pairs with B among the first 10 of: the composed query
(:func:`~service.answering.composed.search_composed`), the photo alone (its image and look
vectors fused, A excluded), the words alone (``Retriever.search`` of the colour word).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingest.attributes.stored import stored_lexicon  # noqa: E402
from ingest.models.roles import encoders_for  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from ingest.store import IMAGE, LOOK, Leg, open_store  # noqa: E402
from service.answering.composed import search_composed  # noqa: E402
from service.answering.fusion import Fused, fuse  # noqa: E402
from service.answering.retrieve import Retriever  # noqa: E402
from tests.service.answering.composed_pairs import variant_pairs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--clip-model", required=True)
    ap.add_argument("--captions", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=500)
    args = ap.parse_args()
    settings = Settings(data_dir=args.data_dir, clip_model=args.clip_model)
    with args.captions.open(encoding="utf-8-sig") as fh:
        rows = [(r["image"], r["text"]) for r in csv.DictReader(fh)]
    with open_store(settings) as store:
        retriever = Retriever(store, encoders_for(settings, store).query)
        pairs = variant_pairs(rows, stored_lexicon(store), args.pairs)
        hits = {"composed": 0, "photo": 0, "words": 0}
        for a, colour, b in pairs:
            query = retriever.resolve_image(a)
            composed = search_composed(retriever, query, colour, 10)
            legs = [Leg(query.vector, IMAGE, 50)]
            if retriever.look and query.look is not None:
                legs.append(Leg(query.look, LOOK, 50))
            photo = fuse(store, [Fused(tuple(legs), 10, k=10, exclude_ids=(query.id or "",))])[0]
            words = retriever.search(colour, 10)
            for name, found in (("composed", composed), ("photo", photo), ("words", words)):
                hits[name] += b in [h.file for h in found]
    n = max(1, len(pairs))
    print(
        json.dumps({"pairs": len(pairs), **{f"r@10_{k}": round(v / n, 3) for k, v in hits.items()}})
    )


if __name__ == "__main__":
    main()
