"""The PDF certificate (intyg) for a passed module, as the records service issued it.

Everything on it comes from the register (``POST api/learners/<user>/certificates/<module>``
of the records service): name, module, version, pass day, valid-until day, score, and the
verification code with its address. The address is printed and drawn as a QR code (segno,
drawn as vector squares), so a phone camera opens the public check page.

Text is set in DejaVu Sans where the system has it (every Latin letter, also the Sámi
ones: Á, Č, Đ, Ŋ, Š, Ŧ, Ž), else in Helvetica.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import segno
from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from omsorgslyft.dates import long_date

GREEN = HexColor("#0b5c4d")
INK = HexColor("#1b1b1b")
MUTED = HexColor("#3d4a45")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    oblique: str
    mono: str


def _fonts() -> Fonts:
    names = {
        "OlSans": "DejaVuSans.ttf",
        "OlSans-Bold": "DejaVuSans-Bold.ttf",
        "OlSans-Oblique": "DejaVuSans-Oblique.ttf",
        "OlMono-Bold": "DejaVuSansMono-Bold.ttf",
    }
    if all((DEJAVU / f).is_file() for f in names.values()):
        registered = set(pdfmetrics.getRegisteredFontNames())
        for name, file in names.items():
            if name not in registered:
                pdfmetrics.registerFont(TTFont(name, str(DEJAVU / file)))
        return Fonts("OlSans", "OlSans-Bold", "OlSans-Oblique", "OlMono-Bold")
    return Fonts("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier-Bold")


def draw_qr(pdf: canvas.Canvas, data: str, x: float, y: float, size: float) -> None:
    """``data`` as a QR code (error correction M, the quiet zone included) in a square of
    ``size`` points whose lower left corner is (x, y)."""
    qr = segno.make(data, error="m", micro=False)
    rows = [list(r) for r in qr.matrix]
    quiet = 4
    cell = size / (len(rows) + 2 * quiet)
    pdf.setFillColor(white)
    pdf.rect(x, y, size, size, stroke=0, fill=1)
    pdf.setFillColor(INK)
    top = y + size - quiet * cell
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            # one rectangle per run of dark modules (slightly overlapping: no hairlines)
            pdf.rect(
                x + (quiet + start) * cell,
                top - (r + 1) * cell,
                (c - start) * cell + 0.05,
                cell + 0.05,
                stroke=0,
                fill=1,
            )


def certificate_pdf(
    name: str,
    module_title: str,
    version: int,
    passed_on: date,
    valid_until: date,
    score: str,
    code: str,
    verify_url: str,
) -> bytes:
    fonts = _fonts()
    buffer = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    pdf.setTitle(f"Intyg: {module_title}")
    pdf.setAuthor("Omsorgslyft")
    pdf.setSubject(f"{name}, {module_title}, version {version}, kod {code}")
    pdf.setStrokeColor(GREEN)
    pdf.setLineWidth(6)
    pdf.rect(30, 30, width - 60, height - 60)
    middle = width / 2

    pdf.setFillColor(GREEN)
    pdf.setFont(fonts.bold, 34)
    pdf.drawCentredString(middle, height - 108, "Intyg")
    pdf.setFillColor(INK)
    pdf.setFont(fonts.regular, 15)
    pdf.drawCentredString(middle, height - 148, "Härmed intygas att")
    pdf.setFont(fonts.bold, 26)
    pdf.drawCentredString(middle, height - 188, name)
    pdf.setFont(fonts.regular, 15)
    pdf.drawCentredString(middle, height - 222, "har genomfört och blivit godkänd på utbildningen")
    pdf.setFont(fonts.bold, 19)
    lines = simpleSplit(module_title, fonts.bold, 19, width - 160)[:2]
    y = height - 256
    for line in lines:
        pdf.drawCentredString(middle, y, line)
        y -= 24
    pdf.setFont(fonts.regular, 13)
    facts = [
        f"Version {version}" + (f" · Resultat: {score}" if score else ""),
        f"Godkänd {long_date(passed_on)} · Giltigt till och med {long_date(valid_until)}",
    ]
    y -= 8
    for fact in facts:
        pdf.drawCentredString(middle, y, fact)
        y -= 20

    # verification: the code and the QR code of its page, bottom right
    pdf.setStrokeColor(HexColor("#c8d3cf"))
    pdf.setLineWidth(1)
    pdf.line(60, 200, width - 60, 200)
    qr_size = 128
    draw_qr(pdf, verify_url, width - 60 - qr_size, 58, qr_size)
    left = 64
    pdf.setFillColor(GREEN)
    pdf.setFont(fonts.bold, 14)
    pdf.drawString(left, 172, "Kontrollera att intyget gäller")
    pdf.setFillColor(INK)
    pdf.setFont(fonts.regular, 11.5)
    form_url = verify_url.rsplit("/", 1)[0]
    pdf.drawString(left, 152, "Skanna QR-koden med mobilens kamera, eller gå till")
    pdf.setFont(fonts.bold, 11.5)
    pdf.drawString(left, 136, form_url)
    pdf.setFont(fonts.regular, 11.5)
    pdf.drawString(left, 120, "och skriv koden:")
    pdf.setFont(fonts.mono, 22)
    pdf.drawString(left, 92, code)
    pdf.setFillColor(MUTED)
    pdf.setFont(fonts.oblique, 9.5)
    pdf.drawString(
        left,
        66,
        "Sidan visar om intyget gäller i dag, enligt kommunens kompetensregister.",
    )
    pdf.drawString(left, 53, "Utfärdat av Omsorgslyft.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
