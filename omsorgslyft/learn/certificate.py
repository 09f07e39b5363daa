"""The PDF certificate (intyg) for a passed module."""

from __future__ import annotations

import io
from datetime import date

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen import canvas

GREEN = HexColor("#0b5c4d")


def certificate_pdf(
    name: str, module_title: str, version: int, passed_on: date, valid_until: date, score: str
) -> bytes:
    buffer = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    pdf.setTitle(f"Intyg: {module_title}")
    pdf.setAuthor("Omsorgslyft")
    pdf.setSubject(f"{name}, {module_title}, version {version}")
    pdf.setStrokeColor(GREEN)
    pdf.setLineWidth(6)
    pdf.rect(30, 30, width - 60, height - 60)
    pdf.setFillColor(GREEN)
    pdf.setFont("Helvetica-Bold", 34)
    pdf.drawCentredString(width / 2, height - 130, "Intyg")
    pdf.setFillColor(HexColor("#1b1b1b"))
    pdf.setFont("Helvetica", 16)
    pdf.drawCentredString(width / 2, height - 180, "Härmed intygas att")
    pdf.setFont("Helvetica-Bold", 26)
    pdf.drawCentredString(width / 2, height - 225, name)
    pdf.setFont("Helvetica", 16)
    pdf.drawCentredString(
        width / 2, height - 270, "har genomfört och blivit godkänd på utbildningen"
    )
    pdf.setFont("Helvetica-Bold", 20)
    pdf.drawCentredString(width / 2, height - 310, module_title)
    pdf.setFont("Helvetica", 13)
    lines = [
        f"Version {version} · Resultat: {score}",
        f"Godkänd: {passed_on.isoformat()} · Giltigt till: {valid_until.isoformat()}",
    ]
    for i, line in enumerate(lines):
        pdf.drawCentredString(width / 2, height - 360 - 22 * i, line)
    pdf.setFont("Helvetica-Oblique", 10)
    pdf.drawCentredString(
        width / 2, 60, "Utfärdat av Omsorgslyft. Resultatet finns i kommunens kompetensregister."
    )
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
