#!/usr/bin/env python3
"""Writes the sample documents parsed search is tested with, into OUTDIR.

  report.pdf    three pages (PDF 1.4, Helvetica text); "quarterly revenue" on page 2
  notes.docx    a Word document: paragraphs, a tab, a deleted (tracked) word
  budget.xlsx   two sheets, "Summary" then "Budget" (their files in the other
                order), shared and inline strings, numbers, a boolean
  deck.pptx     two slides, listed in the other order than their files
  broken.pdf, broken.docx, broken.xlsx   damaged documents (must be skipped)

Every document is built here from its format's rules, with nothing but the
Python standard library, so the tests need no office suite.
"""
import os
import sys
import zipfile


def pdf(pages):
    """A PDF whose pages hold the given lines of text."""
    objects = []  # bodies; object n is objects[n-1]

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(None)
    pages_obj = add(None)
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for lines in pages:
        ops = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                        b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                        % (pages_obj, font, content)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids) +
                              b"] /Count %d >>" % len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, xref)
    return bytes(out)


REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


def rels(items):
    body = "".join('<Relationship Id="%s" Type="%s/%s" Target="%s"/>' % (i, REL, t, target)
                   for i, t, target in items)
    return '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="%s">%s</Relationships>' % (
        PKG_REL, body)


def package(path, parts):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def docx(path):
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def para(*runs):
        return "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>%s</w:p>" % "".join(runs)

    body = "".join([
        para("<w:r><w:t>Project notes</w:t></w:r>"),
        para("<w:r><w:t xml:space=\"preserve\">The revenue </w:t></w:r>",
             "<w:r><w:t>forecast</w:t><w:tab/><w:t>holds</w:t></w:r>",
             "<w:del><w:r><w:delText>withdrawnword</w:delText></w:r></w:del>"),
        "<w:p/>",
        para("<w:r><w:t>Caf\u00e9 &amp; cr\u00e8me</w:t></w:r>"),
    ])
    package(path, {
        "[Content_Types].xml": "<?xml version=\"1.0\"?><Types/>",
        "_rels/.rels": rels([("rId1", "officeDocument", "word/document.xml")]),
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="%s"><w:body>%s'
                             "</w:body></w:document>" % (w, body),
    })


def xlsx(path):
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    shared = ["Item", "Amount", "revenue target", "costs"]
    sst = "".join("<si><t>%s</t></si>" % s for s in shared)
    # Budget's cells: shared strings, a number, an inline string, a boolean.
    budget = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
              '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1250.5</v></c></row>'
              '<row r="3"><c r="A3" t="inlineStr"><is><t>inline note</t></is></c>'
              '<c r="B3" t="b"><v>1</v></c></row>')
    summary = '<row r="1"><c r="A1" t="s"><v>3</v></c><c r="B1"><v>42</v></c></row>'

    def sheet(rows):
        return '<?xml version="1.0"?><worksheet xmlns="%s"><sheetData>%s</sheetData></worksheet>' % (main, rows)

    package(path, {
        "[Content_Types].xml": "<?xml version=\"1.0\"?><Types/>",
        "_rels/.rels": rels([("rId1", "officeDocument", "xl/workbook.xml")]),
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="%s" xmlns:r="%s"><sheets>'
                           '<sheet name="Summary" sheetId="2" r:id="rId2"/>'
                           '<sheet name="Budget" sheetId="1" r:id="rId1"/></sheets></workbook>' % (main, REL),
        "xl/_rels/workbook.xml.rels": rels([("rId1", "worksheet", "worksheets/sheet1.xml"),
                                            ("rId2", "worksheet", "worksheets/sheet2.xml"),
                                            ("rId3", "sharedStrings", "sharedStrings.xml")]),
        "xl/sharedStrings.xml": '<?xml version="1.0"?><sst xmlns="%s">%s</sst>' % (main, sst),
        "xl/worksheets/sheet1.xml": sheet(budget),
        "xl/worksheets/sheet2.xml": sheet(summary),
    })


def pptx(path):
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"

    def slide(*paragraphs):
        body = "".join("<a:p><a:r><a:t>%s</a:t></a:r></a:p>" % t for t in paragraphs)
        return ('<?xml version="1.0"?><p:sld xmlns:p="%s" xmlns:a="%s"><p:cSld><p:spTree><p:sp><p:txBody>'
                "%s</p:txBody></p:sp></p:spTree></p:cSld></p:sld>" % (p, a, body))

    package(path, {
        "[Content_Types].xml": "<?xml version=\"1.0\"?><Types/>",
        "_rels/.rels": rels([("rId1", "officeDocument", "ppt/presentation.xml")]),
        "ppt/presentation.xml": '<?xml version="1.0"?><p:presentation xmlns:p="%s" xmlns:r="%s"><p:sldIdLst>'
                                '<p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/>'
                                "</p:sldIdLst></p:presentation>" % (p, REL),
        "ppt/_rels/presentation.xml.rels": rels([("rId2", "slide", "slides/slide1.xml"),
                                                 ("rId3", "slide", "slides/slide2.xml")]),
        "ppt/slides/slide2.xml": slide("Agenda", "Welcome"),
        "ppt/slides/slide1.xml": slide("Results", "revenue slide with numbers"),
    })


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_documents.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.pdf"), "wb") as f:
        f.write(pdf([["Annual report", "Introduction"],
                     ["Results", "quarterly revenue grew by twelve percent"],
                     ["Closing remarks"]]))
    docx(os.path.join(out, "notes.docx"))
    xlsx(os.path.join(out, "budget.xlsx"))
    pptx(os.path.join(out, "deck.pptx"))
    with open(os.path.join(out, "broken.pdf"), "wb") as f:
        f.write(b"%PDF-1.4\nthis is not a revenue document\n")
    with open(os.path.join(out, "broken.docx"), "wb") as f:
        f.write(b"PK\x03\x04revenue and nothing else of a zip")
    with open(os.path.join(out, "broken.xlsx"), "wb") as f:
        f.write(b"not even a zip, but it says revenue")


if __name__ == "__main__":
    main()
