"""Build PDF and DOCX versions of a law's Markdown text inside the tests, as a person would by printing
it to PDF or pasting it into Word: page numbers and running headers included, long lines wrapped."""

from __future__ import annotations

import io

from benchmark.parsing import markdown_lines


def law_to_pdf(markdown: str, *, chars_per_line: int = 38, encrypt: str | None = None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # a CID font every PDF reader knows
    title, lines = markdown_lines(markdown)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt)
    state = {"y": 780.0, "page": 1}

    def start_page() -> None:
        pdf.setFont("STSong-Light", 10)
        pdf.drawString(220, 815, title)  # running header
        state["y"] = 780.0

    def end_page() -> None:
        pdf.drawString(280, 25, f"- {state['page']} -")  # page number
        pdf.showPage()
        state["page"] += 1

    start_page()
    for line in [title, *lines]:
        while line:
            chunk, line = line[:chars_per_line], line[chars_per_line:]
            pdf.drawString(50, state["y"], chunk)
            state["y"] -= 15
            if state["y"] < 50:
                end_page()
                start_page()
    end_page()
    pdf.save()
    return buffer.getvalue()


def law_to_docx(markdown: str) -> bytes:
    import docx

    title, lines = markdown_lines(markdown)
    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    for line in lines:
        if line.startswith("第") and ("章" in line[:6] or "节" in line[:6]):
            document.add_heading(line, level=1)
        elif line:
            document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
