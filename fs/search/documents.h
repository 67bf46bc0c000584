// Documents: the text of PDF and Office files, for parsed search.
//
// A document is recognised by its name (.pdf, .docx, .xlsx, .pptx, any
// case) and confirmed by its first bytes (%PDF- or a zip archive); its text
// comes in parts, each named where it lies in the document: a PDF page
// (1-based), a spreadsheet sheet (1-based in workbook order, with its name)
// or a presentation slide (1-based in presentation order). A word-processing
// document is one part. Within a part, lines are separated by '\n':
// paragraphs (docx, pptx), text lines (PDF) or rows with cells separated by
// '\t' (xlsx).
//
// PDFs are read with poppler, Office files with libzip and libxml2 (no
// network, no entity expansion). Archives are bounded: an entry or a whole
// text above the limits is refused (EFBIG), not read, so a zip bomb cannot
// exhaust memory. A damaged or encrypted document is EBADMSG with the reason.
//
// Threading: every function may be called from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nexus::search {

enum class DocumentKind : uint8_t { kNone, kPdf, kDocx, kXlsx, kPptx };

// Where in a document a piece of text lies. kind kNone: a plain text file.
struct DocumentPart {
  enum class Kind : uint8_t { kNone = 0, kPage = 1, kSheet = 2, kSlide = 3 };
  Kind kind = Kind::kNone;
  uint32_t number = 0;  // 1-based page, sheet or slide number; 0 with kNone
  std::string name;     // the sheet's name; empty otherwise
  bool operator==(const DocumentPart&) const = default;
};

// "page", "sheet", "slide" or "" for kNone.
std::string_view PartKindName(DocumentPart::Kind kind);

struct DocumentText {
  DocumentPart part;
  std::string text;  // valid UTF-8
};

// The kind a file's name announces (kNone for anything else).
DocumentKind DocumentKindOfName(std::string_view path);

// The largest document read for its text, and the most text kept of one.
inline constexpr size_t kMaxDocumentBytes = 64 << 20;
inline constexpr size_t kMaxDocumentText = 16 << 20;

// The text of a document of `kind` whose bytes are `data`, in document
// order. EBADMSG for a damaged, encrypted or mislabelled document (the
// message says why), EFBIG past the limits above.
Result<std::vector<DocumentText>> ExtractDocument(DocumentKind kind, std::string_view data);

}  // namespace nexus::search
