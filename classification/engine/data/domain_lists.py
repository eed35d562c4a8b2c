"""The reviewed ImageNet -> domain lists, by class index, from which
imagenet_domains.json is written (`python -m classification.engine.data.domain_lists`).

ImageNet has no X-ray, scan, document or CCTV class, so this mapping is weak
evidence: objects that point to a domain when they are the subject of a photo.
Every class not listed maps to none (animals 0-397, food, landscapes, tools...).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

DOMAIN_CLASSES: dict[str, dict[int, str]] = {
    "medical": {
        407: "ambulance", 419: "adhesive bandage", 523: "crutch", 617: "lab coat", 648: "medicine chest",
        678: "neck brace", 691: "oxygen mask", 712: "Petri dish", 720: "pill bottle", 823: "stethoscope",
        830: "stretcher", 840: "swab", 845: "syringe",
    },
    "legal": {
        413: "assault rifle", 446: "ring binder", 465: "bulletproof vest", 549: "envelope", 553: "file cabinet",
        563: "fountain pen", 583: "guillotine", 597: "holster", 623: "letter opener", 743: "prison",
        749: "quill", 763: "revolver", 764: "rifle", 921: "book jacket",
    },
    "finance": {
        398: "abacus", 480: "cash machine", 507: "combination lock", 719: "piggy bank", 748: "purse",
        771: "safe", 800: "slot machine", 884: "vault", 893: "wallet",
    },
    "surveillance": {
        415: "bakery", 424: "barbershop", 436: "station wagon", 444: "tandem bicycle", 454: "bookshop",
        467: "butcher shop", 468: "cab", 475: "car mirror", 489: "chain-link fence", 509: "confectionery",
        511: "convertible", 569: "garbage truck", 571: "gas pump", 582: "grocery store", 609: "jeep",
        627: "limousine", 640: "manhole cover", 654: "minibus", 656: "minivan", 664: "monitor", 665: "moped",
        670: "motor scooter", 671: "mountain bike", 675: "moving van", 703: "park bench", 704: "parking meter",
        707: "pay-phone", 717: "pickup", 733: "pole", 734: "police van", 762: "restaurant", 779: "school bus",
        782: "screen", 788: "shoe shop", 791: "shopping cart", 799: "sliding door", 817: "sports car",
        829: "streetcar", 851: "television", 860: "tobacco shop", 864: "tow truck", 865: "toyshop",
        867: "trailer truck", 874: "trolleybus", 877: "turnstile", 886: "vending machine", 919: "street sign",
        920: "traffic light",
    },
    "personal": {
        399: "abaya", 400: "academic gown", 433: "bathing cap", 435: "bathtub", 443: "bib", 445: "bikini",
        451: "bolo tie", 452: "bonnet", 457: "bow tie", 459: "brassiere", 474: "cardigan", 501: "cloak",
        515: "cowboy hat", 516: "cradle", 520: "crib", 529: "diaper", 551: "face powder", 552: "feather boa",
        564: "four-poster bed", 568: "fur coat", 578: "gown", 584: "hair slide", 585: "hair spray",
        591: "handkerchief", 601: "hoopskirt", 608: "jeans", 610: "jersey", 614: "kimono", 629: "lipstick",
        631: "lotion", 638: "maillot", 639: "maillot (tank suit)", 643: "mask", 655: "miniskirt",
        667: "mortarboard", 679: "necklace", 680: "baby bottle", 689: "overskirt", 697: "pajama",
        711: "perfume", 721: "pillow", 735: "poncho", 750: "quilt", 775: "sarong", 793: "shower cap",
        794: "shower curtain", 796: "ski mask", 808: "sombrero", 824: "stole", 831: "studio couch", 834: "suit",
        836: "sunglass", 837: "sunglasses", 838: "sunscreen", 841: "sweatshirt", 842: "swimming trunks",
        850: "teddy", 861: "toilet seat", 869: "trench coat", 887: "vestment", 894: "wardrobe",
        896: "washbasin", 903: "wig", 906: "Windsor tie", 982: "groom",
    },
}  # fmt: skip


def build() -> list[dict[str, object]]:
    classes = json.loads((HERE / "imagenet_classes.json").read_text())
    domain_of = {index: domain for domain, members in DOMAIN_CLASSES.items() for index in members}
    return [
        {"index": c["index"], "wnid": c["wnid"], "name": c["name"], "domain": domain_of.get(c["index"], "none")}
        for c in classes
    ]


if __name__ == "__main__":
    (HERE / "imagenet_domains.json").write_text(json.dumps(build(), indent=0) + "\n")
