"""Rebuild the development set from installed packages and rendered pages.

    python -m classification.devset OUTDIR

One folder per domain (medical, legal, surveillance, finance, personal, none)
of PNG files.  Sources: images inside pydicom, pydicom-data, nibabel,
matplotlib, scikit-image and scikit-learn, and documents, ID cards and CCTV
frames that this script renders with fonts from Debian's fonts-dejavu and
fonts-liberation.  Nothing third-party is committed; the same packages give the
same set.  Files are named SOURCE__VARIANT.png: crops and flips of one
picture, slices of one volume and CCTV frames of one scene share a SOURCE, so
that cross-validation keeps them on one side of a split.  A CCTV frame shares
the SOURCE of the photo it was made from, so a held-out scene is new to the
head in both its plain and its CCTV form.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core.errors import SecurePixError
from imaging import dicom

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
PAGE = (850, 1100)


def _fonts() -> list[Path]:
    fonts = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf") if "Math" not in p.name)
    if not fonts:
        raise SystemExit("no fonts: install Debian's fonts-dejavu-core and fonts-liberation")
    return fonts


def _stretch(raw: NDArray[Any]) -> NDArray[np.uint8]:
    # Truncates rather than rounds (unlike cipher.engine.tones): the shipped
    # head's manifest pins the dev set's bytes, so this stays as it was built.
    values = np.asarray(raw, dtype=np.float64)
    low, high = np.percentile(values, 0.5), np.percentile(values, 99.5)
    return np.clip((values - low) / ((high - low) or 1) * 255, 0, 255).astype(np.uint8)


def _variants(image: Image.Image, rng: random.Random, count: int) -> Iterator[Image.Image]:
    """The image, then crops, flips and tone changes of it."""
    yield image
    for _ in range(count - 1):
        w, h = image.size
        scale = rng.uniform(0.7, 0.95)
        cw, ch = int(w * scale), int(h * scale)
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        variant = image.crop((left, top, left + cw, top + ch))
        if rng.random() < 0.5:
            variant = variant.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        gamma = rng.uniform(0.7, 1.4)
        variant = variant.point(lambda v, g=gamma: 255 * (v / 255) ** g)
        yield variant


def medical(rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    from pydicom.data import get_testdata_files

    seen: set[tuple[int, int]] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(get_testdata_files("*.dcm")):
            try:
                data = Path(path).read_bytes()
                dataset = dicom.read_dataset(data)
                if not dicom.is_clinical(dicom.modality(dataset)):
                    continue
                rendered = dicom.render(dataset)
            except (SecurePixError, Exception):
                continue
            key = (rendered.shape[0], int(rendered.sum()) % 100_003)
            if key in seen or min(rendered.shape[:2]) < 32:
                continue
            seen.add(key)
            for i, variant in enumerate(_variants(Image.fromarray(rendered), rng, 2)):
                yield f"dicom-{Path(path).stem}__{i}", variant
    import nibabel

    nib_data = Path(nibabel.__file__).parent / "tests" / "data"
    for name in ("anatomical.nii", "example4d.nii.gz", "standard.nii.gz", "functional.nii"):
        volume = np.asarray(nibabel.load(nib_data / name).get_fdata())  # type: ignore[attr-defined]
        volume = volume[..., 0] if volume.ndim == 4 else volume
        for axis in range(3):
            for fraction in (0.4, 0.5, 0.6):
                plane = np.take(volume, int(volume.shape[axis] * fraction), axis=axis)
                if plane.std() == 0 or min(plane.shape) < 16:
                    continue
                image = Image.fromarray(_stretch(np.rot90(np.asarray(plane)))).resize(
                    (256, 256), Image.Resampling.BICUBIC
                )
                yield f"nifti-{name.split('.')[0]}__{axis}-{fraction}", image
    import matplotlib

    raw = gzip.decompress((Path(matplotlib.get_data_path()) / "sample_data" / "s1045.ima.gz").read_bytes())
    mri = np.frombuffer(raw, dtype="<u2").reshape(256, 256)
    for i, variant in enumerate(_variants(Image.fromarray(_stretch(mri)), rng, 4)):
        yield f"mpl-mri__{i}", variant
    from skimage import data as skdata

    for name in ("retina", "microaneurysms", "cell", "immunohistochemistry", "shepp_logan_phantom"):
        pixels = getattr(skdata, name)()
        image = Image.fromarray(pixels if pixels.dtype == np.uint8 else _stretch(pixels))
        for i, variant in enumerate(_variants(image, rng, 3)):
            yield f"skimage-{name}__{i}", variant


def _scan_look(page: Image.Image, rng: random.Random) -> Image.Image:
    """Paper, slight skew, blur and noise, as a scanner or phone camera gives."""
    page = page.rotate(rng.uniform(-1.5, 1.5), expand=False, fillcolor=255, resample=Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    pixels = np.asarray(page, dtype=np.float64)
    pixels = (
        pixels * rng.uniform(0.85, 1.0)
        + rng.uniform(0, 25)
        + np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(1, 6), pixels.shape)
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


def _page(lines: list[tuple[str, int, bool]], rng: random.Random, fonts: list[Path]) -> Image.Image:
    regular = [f for f in fonts if "Bold" not in f.name and "Oblique" not in f.name and "Italic" not in f.name]
    family = rng.choice(regular)
    bold = family.with_name(
        family.name.replace("-Regular", "-Bold").replace(".ttf", "-Bold.ttf")
        if "Regular" not in family.name
        else family.name.replace("-Regular", "-Bold")
    )
    page = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(page)
    y = rng.randint(50, 90)
    margin = rng.randint(50, 90)
    for text, size, strong in lines:
        font = ImageFont.truetype(str(bold if strong and bold.exists() else family), size)
        draw.text((margin, y), text, fill=rng.randint(0, 50), font=font)
        y += int(size * rng.uniform(1.4, 1.9))
        if y > PAGE[1] - 60:
            break
    return _scan_look(page, rng)


NAMES = ["Alex Morgan", "Sam Patel", "Jordan Lee", "Chris Novak", "Taylor Brooks", "Robin Silva", "Casey Adler"]
COMPANIES = [
    "Northwind Trading Ltd",
    "Bluebird Supplies",
    "Acme Consulting LLC",
    "Riverside Builders",
    "Orion Logistics",
]


def finance_lines(rng: random.Random) -> list[tuple[str, int, bool]]:
    kind = rng.choice(["invoice", "statement", "receipt", "payslip"])
    amount = lambda: f"{rng.randint(10, 9999):,}.{rng.randint(0, 99):02d}"  # noqa: E731
    date = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(18, 26)}"
    if kind == "invoice":
        head = [
            (f"INVOICE No. {rng.randint(1000, 99999)}", 34, True),
            (rng.choice(COMPANIES), 22, False),
            (f"Invoice date: {date}", 18, False),
            (f"Bill to: {rng.choice(NAMES)}", 18, False),
        ]
        body = [
            (f"{item:<28} {rng.randint(1, 9)} x {amount()}", 17, False)
            for item in rng.sample(
                [
                    "Consulting services",
                    "Office chairs",
                    "Software licence",
                    "Delivery",
                    "Maintenance",
                    "Printer toner",
                    "Hosting (annual)",
                ],
                4,
            )
        ]
        tail = [
            (f"Subtotal {amount()}", 18, False),
            (f"VAT 20% {amount()}", 18, False),
            (f"Total amount due {amount()}", 22, True),
            (
                f"Payment due within 30 days. IBAN GB{rng.randint(10, 99)} BANK {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                15,
                False,
            ),
        ]
    elif kind == "statement":
        head = [
            (f"{rng.choice(['First National Bank', 'City Savings Bank', 'Union Credit Bank'])}", 30, True),
            ("ACCOUNT STATEMENT", 24, True),
            (f"Account holder: {rng.choice(NAMES)}", 18, False),
            (f"Account number: {rng.randint(10**7, 10**8)}   Period ending {date}", 16, False),
        ]
        body = [
            (
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}  {rng.choice(['Card payment', 'Direct debit', 'Transfer in', 'ATM withdrawal', 'Salary credit', 'Interest'])}  {amount()}  Balance {amount()}",
                15,
                False,
            )
            for _ in range(rng.randint(6, 12))
        ]
        tail = [
            (f"Closing balance {amount()}", 20, True),
            ("Credit interest and charges are shown on page 2.", 14, False),
        ]
    elif kind == "receipt":
        head = [
            (rng.choice(COMPANIES).upper(), 26, True),
            ("SALES RECEIPT", 22, True),
            (f"Date {date}  Till {rng.randint(1, 9)}", 16, False),
        ]
        body = [
            (f"{item}  {amount()}", 17, False)
            for item in rng.sample(["Coffee", "Sandwich", "Notebook", "Batteries", "Stamps", "Cable", "Water"], 5)
        ]
        tail = [
            (f"TOTAL {amount()}", 22, True),
            (f"Paid by card ****{rng.randint(1000, 9999)}", 16, False),
            ("VAT receipt - thank you", 15, False),
        ]
    else:
        head = [
            ("PAYSLIP", 30, True),
            (rng.choice(COMPANIES), 20, False),
            (f"Employee: {rng.choice(NAMES)}   Pay date {date}", 16, False),
        ]
        body = [
            (f"{item}  {amount()}", 17, False)
            for item in ["Basic salary", "Overtime", "Income tax", "National insurance", "Pension contribution"]
        ]
        tail = [
            (f"Net payment {amount()}", 22, True),
            (f"Paid to bank account ending {rng.randint(1000, 9999)}", 15, False),
        ]
    return head + body + tail


def legal_lines(rng: random.Random) -> list[tuple[str, int, bool]]:
    kind = rng.choice(["court", "contract", "affidavit", "notice"])
    a, b = rng.sample(NAMES, 2)
    if kind == "court":
        head = [
            (
                f"IN THE {rng.choice(['DISTRICT', 'SUPERIOR', 'COUNTY', 'HIGH'])} COURT OF {rng.choice(['WESTFIELD', 'LAKE COUNTY', 'NORTHSHIRE'])}",
                22,
                True,
            ),
            (f"Case No. {rng.randint(10, 99)}-CV-{rng.randint(1000, 9999)}", 18, False),
            (f"{a}, Plaintiff,", 18, False),
            ("v.", 18, False),
            (f"{b}, Defendant.", 18, False),
            ("MOTION TO DISMISS", 24, True),
        ]
        body = [
            ("COMES NOW the Defendant, by and through counsel, and hereby moves", 16, False),
            ("this Court to dismiss the complaint pursuant to the applicable statute,", 16, False),
            ("for lack of jurisdiction and failure to state a claim.", 16, False),
            ("The Plaintiff's attorney was served on the date stated below.", 16, False),
        ]
        tail = [
            ("Respectfully submitted,", 16, False),
            (f"Attorney for Defendant, Bar No. {rng.randint(10000, 99999)}", 15, False),
        ]
    elif kind == "contract":
        head = [
            (
                rng.choice(["SERVICE AGREEMENT", "NON-DISCLOSURE AGREEMENT", "LEASE AGREEMENT", "EMPLOYMENT CONTRACT"]),
                26,
                True,
            ),
            (f"This Agreement is made between {a} and {rng.choice(COMPANIES)}", 16, False),
            ('(hereinafter "the Parties").', 16, False),
        ]
        body = [
            (f"{i}. {clause}", 16, False)
            for i, clause in enumerate(
                rng.sample(
                    [
                        "WHEREAS the Parties wish to set out the terms of their agreement;",
                        "The Contractor shall perform the services described in Schedule A.",
                        "This clause survives termination of this Agreement.",
                        "Governing law: the laws of the State shall apply.",
                        "Each party shall keep the other's information confidential.",
                        "Any dispute shall be submitted to the courts of the jurisdiction.",
                    ],
                    5,
                ),
                1,
            )
        ]
        tail = [
            ("IN WITNESS WHEREOF the Parties have signed this Agreement.", 16, False),
            (f"Signed: ______________   Witness: {b}", 16, False),
        ]
    elif kind == "affidavit":
        head = [("AFFIDAVIT", 30, True), (f"I, {a}, being duly sworn, hereby state as follows:", 17, False)]
        body = [
            (f"{i}. {text}", 16, False)
            for i, text in enumerate(
                [
                    "I am over the age of eighteen and competent to testify.",
                    "The facts stated herein are within my personal knowledge.",
                    f"On the date in question I witnessed the events described by {b}.",
                    "I declare under penalty of perjury that the foregoing is true.",
                ],
                1,
            )
        ]
        tail = [
            ("Sworn before me, Notary Public", 16, False),
            (f"Commission No. {rng.randint(100000, 999999)}", 15, False),
        ]
    else:
        head = [
            ("NOTICE OF HEARING", 28, True),
            (f"To: {b}", 18, False),
            (f"Re: {a} v. {b}, Docket No. {rng.randint(1000, 9999)}", 17, False),
        ]
        body = [
            ("PLEASE TAKE NOTICE that the above matter is set for hearing before", 16, False),
            ("the Honorable Judge of the Court at the courthouse stated below.", 16, False),
            ("Failure to appear may result in judgment against the respondent.", 16, False),
        ]
        tail = [("Clerk of the Court", 16, False)]
    return head + body + tail


def documents(domain: str, count: int, rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    fonts = _fonts()
    lines = finance_lines if domain == "finance" else legal_lines
    for i in range(count):
        yield f"rendered-{domain}-{i}__0", _page(lines(rng), rng, fonts)


def _photos() -> dict[str, NDArray[np.uint8]]:
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    names = ("chelsea", "coffee", "rocket", "horse", "brick", "grass", "gravel", "moon", "hubble_deep_field", "camera", "clock", "colorwheel", "logo")  # fmt: skip
    photos = {name: np.asarray(getattr(skdata, name)()) for name in names}
    photos["motorcycle_left"], photos["motorcycle_right"], _ = skdata.stereo_motorcycle()
    photos["logo"] = photos["logo"][..., :3]
    photos["china"], photos["flower"] = load_sample_images().images
    import matplotlib

    sample = Path(matplotlib.get_data_path()) / "sample_data"
    photos["minduka"] = np.asarray(Image.open(sample / "Minduka_Present_Blue_Pack.png").convert("RGB"))
    photos["grace_hopper"] = np.asarray(Image.open(sample / "grace_hopper.jpg").convert("RGB"))
    return {k: (v if v.dtype == np.uint8 else _stretch(v)) for k, v in photos.items()}  # horse is a bool mask


# CCTV frames are made from every photo: what marks them is the camera (grain,
# grey, vignette, overlays), not the scene, so the head must learn that.
SURVEILLANCE_BASES = ("motorcycle_left", "motorcycle_right", "camera", "rocket", "china", "horse", "chelsea", "coffee", "brick", "flower", "hubble_deep_field", "grass", "clock", "moon")  # fmt: skip
NONE_BASES = ("chelsea", "coffee", "brick", "grass", "gravel", "moon", "hubble_deep_field", "flower", "minduka", "clock", "colorwheel", "logo", "rocket", "motorcycle_left", "china", "horse")  # fmt: skip


def charts(count: int, rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    """Plots and diagrams, which belong to no sensitive domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generator = np.random.default_rng(rng.randint(0, 2**31))
    for i in range(count):
        figure, axes = plt.subplots(figsize=(rng.uniform(4, 7), rng.uniform(3, 5)), dpi=100)
        kind = i % 4
        x = np.linspace(0, 10, 200)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                axes.plot(x, np.sin(x * rng.uniform(0.5, 3)) * rng.uniform(0.5, 2) + generator.normal(0, 0.1, x.size))
        elif kind == 1:
            axes.bar(range(8), generator.uniform(1, 10, 8), color=rng.choice(["tab:blue", "tab:green", "tab:orange"]))
        elif kind == 2:
            axes.scatter(generator.normal(size=200), generator.normal(size=200), s=8, c=generator.uniform(size=200))
        else:
            axes.imshow(
                generator.normal(size=(40, 40)).cumsum(axis=0), cmap=rng.choice(["viridis", "magma", "coolwarm"])
            )
        axes.set_title(rng.choice(["Results", "Experiment 3", "Rainfall", "Growth", "Sensor data"]))
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        yield f"chart-{i}__0", Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _cctv(base: NDArray[np.uint8], rng: random.Random, fonts: list[Path]) -> Image.Image:
    """A CCTV still: low resolution, desaturated, noisy, with camera and time overlays."""
    image = Image.fromarray(base).convert("RGB")
    w, h = image.size
    scale = rng.uniform(0.6, 0.9)
    left, top = rng.randint(0, int(w * (1 - scale))), rng.randint(0, int(h * (1 - scale)))
    image = image.crop((left, top, left + int(w * scale), top + int(h * scale))).resize((640, 480))
    pixels = np.asarray(image, dtype=np.float64)
    grey = pixels.mean(axis=2, keepdims=True)
    saturation = rng.choice([0.0, 0.0, 0.3, 0.6])
    pixels = grey + (pixels - grey) * saturation
    pixels = pixels * rng.uniform(0.6, 1.0) + np.random.default_rng(rng.randint(0, 2**31)).normal(
        0, rng.uniform(4, 14), pixels.shape
    )
    yy, xx = np.mgrid[0:480, 0:640]
    vignette = 1 - 0.35 * (((xx - 320) / 320) ** 2 + ((yy - 240) / 240) ** 2)
    pixels = pixels * vignette[..., None]
    frame = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize((320, 240)).resize((640, 480))
    draw = ImageDraw.Draw(frame)
    mono = [f for f in fonts if "Mono" in f.name] or fonts
    font = ImageFont.truetype(str(rng.choice(mono)), rng.randint(16, 24))
    stamp = f"20{rng.randint(18, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    corner = rng.choice([(10, 10), (10, 445), (330, 10), (330, 445)])
    draw.text(corner, stamp, fill=(255, 255, 255), font=font)
    draw.text(
        (10 if corner[0] > 100 else 480, corner[1]), f"CAM {rng.randint(1, 16):02d}", fill=(255, 255, 255), font=font
    )
    if rng.random() < 0.5:
        draw.text((560, 445 if corner[1] < 100 else 10), "REC", fill=(255, 40, 40), font=font)
    return frame


def surveillance(count: int, rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    photos, fonts = _photos(), _fonts()
    for i in range(count):
        base = SURVEILLANCE_BASES[i % len(SURVEILLANCE_BASES)]
        yield f"{base}__cctv-{i}", _cctv(photos[base], rng, fonts)


def personal(rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    from skimage import data as skdata

    photos, fonts = _photos(), _fonts()
    faces = skdata.lfw_subset()[:100]  # 100 faces, 25x25 grey
    for i, face in enumerate(faces[:60:2]):
        portrait = Image.fromarray(_stretch(face)).resize((300, 300), Image.Resampling.BICUBIC).convert("RGB")
        yield f"lfw-portrait-{i}__0", portrait
    for name in ("astronaut", "grace_hopper"):
        source = skdata.astronaut() if name == "astronaut" else photos[name]
        for i, variant in enumerate(_variants(Image.fromarray(source), rng, 4)):
            yield f"{name}__{i}", variant
    for i, face in enumerate(faces[61:100:3]):
        card = Image.new("RGB", (860, 540), (rng.randint(200, 245), rng.randint(200, 245), rng.randint(200, 245)))
        card.paste(Image.fromarray(_stretch(face)).resize((220, 280)).convert("RGB"), (40, 170))
        draw = ImageDraw.Draw(card)
        font = ImageFont.truetype(str(rng.choice(fonts)), 26)
        small = ImageFont.truetype(str(rng.choice(fonts)), 20)
        title = rng.choice(["PASSPORT", "DRIVING LICENCE", "IDENTITY CARD", "RESIDENCE PERMIT"])
        draw.text((40, 40), title, fill=(20, 20, 80), font=font)
        for row, text in enumerate([f"Surname: {rng.choice(NAMES).split()[1].upper()}", f"Given names: {rng.choice(NAMES).split()[0]}", f"Date of birth: {rng.randint(1, 28):02d} {rng.choice(['JAN', 'MAR', 'JUL', 'OCT'])} 19{rng.randint(50, 99)}", f"Nationality: {rng.choice(['UTOPIAN', 'EREWHONIAN', 'FREEDONIAN'])}", f"Sex: {rng.choice('MF')}   No. {rng.randint(10**8, 10**9)}"]):  # fmt: skip
            draw.text((300, 170 + 45 * row), text, fill=(10, 10, 10), font=small)
        yield f"idcard-{i}__0", _scan_look(card.convert("L"), rng)


def none_class(rng: random.Random) -> Iterator[tuple[str, Image.Image]]:
    photos = _photos()
    for name in NONE_BASES:
        for i, variant in enumerate(_variants(Image.fromarray(photos[name]), rng, 3)):
            yield f"{name}__{i}", variant
    yield from charts(16, rng)


def build(out: Path, seed: int = 2026) -> dict[str, int]:
    rng = random.Random(seed)
    np.random.seed(seed)
    sources = {
        "medical": medical(rng),
        "finance": documents("finance", 40, rng),
        "legal": documents("legal", 40, rng),
        "surveillance": surveillance(56, rng),
        "personal": personal(rng),
        "none": none_class(rng),
    }
    counts = {}
    for domain, images in sources.items():
        folder = out / domain
        folder.mkdir(parents=True, exist_ok=True)
        counts[domain] = 0
        for name, image in images:
            buffer = io.BytesIO()
            image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(buffer, "PNG", optimize=False)
            (folder / f"{name}.png").write_bytes(buffer.getvalue())
            counts[domain] += 1
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    print(build(parser.parse_args().out))
