#include "fs/search/documents.h"

#include <libxml/xmlreader.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <spdlog/spdlog.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "fs/search/text.h"

namespace nexus::search {

namespace {

constexpr size_t kMaxEntryBytes = 64 << 20;  // one XML part of an Office file, uncompressed

Status Damaged(std::string_view what, std::string_view why) {
  return Status::Error(EBADMSG, std::string(what) + ": " + std::string(why));
}

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - suffix.size(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

// Keeps a growing text under kMaxDocumentText.
Status CheckTextSize(size_t bytes) {
  if (bytes > kMaxDocumentText) {
    return Status::Error(EFBIG, "text of more than " + std::to_string(kMaxDocumentText >> 20) + " MiB");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// PDF (poppler)

void QuietPoppler() {
  static std::once_flag once;
  std::call_once(once, [] {
    poppler::set_debug_error_function(
        [](const std::string& message, void*) { spdlog::debug("search: poppler: {}", message); }, nullptr);
  });
}

Result<std::vector<DocumentText>> ExtractPdf(std::string_view data) {
  if (data.substr(0, 5) != "%PDF-") return Damaged("PDF", "no %PDF- header");
  if (data.size() > static_cast<size_t>(INT32_MAX)) return Status::Error(EFBIG, "PDF too large");
  QuietPoppler();
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(data.data(), static_cast<int>(data.size())));
  if (!doc) return Damaged("PDF", "poppler cannot read it (damaged or truncated)");
  if (doc->is_locked()) return Damaged("PDF", "encrypted");
  std::vector<DocumentText> out;
  size_t total = 0;
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) return Damaged("PDF", "page " + std::to_string(i + 1) + " cannot be read");
    poppler::byte_array utf8 = page->text().to_utf8();
    std::string text;
    text.reserve(utf8.size());
    for (size_t k = 0; k < utf8.size(); ++k) {
      char c = utf8[k];
      if (c == '\f') continue;                                                // page break
      if (c == '\r' && k + 1 < utf8.size() && utf8[k + 1] == '\n') continue;  // CRLF
      text.push_back(c == '\r' ? '\n' : c);
    }
    total += text.size();
    NEXUS_RETURN_IF_ERROR(CheckTextSize(total));
    out.push_back({{DocumentPart::Kind::kPage, static_cast<uint32_t>(i + 1), {}}, SanitizeUtf8(text)});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Office Open XML: a zip of XML parts (libzip, libxml2)

class ZipArchive {
 public:
  static Result<std::unique_ptr<ZipArchive>> Open(std::string_view data, std::string_view what) {
    if (data.substr(0, 4) != std::string_view("PK\x03\x04", 4)) return Damaged(what, "not a zip archive");
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(data.data(), data.size(), 0, &err);
    if (src == nullptr) {
      Status st = Damaged(what, zip_error_strerror(&err));
      zip_error_fini(&err);
      return st;
    }
    zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (za == nullptr) {
      Status st = Damaged(what, std::string("zip: ") + zip_error_strerror(&err));
      zip_source_free(src);
      zip_error_fini(&err);
      return st;
    }
    zip_error_fini(&err);
    return std::unique_ptr<ZipArchive>(new ZipArchive(za, what));
  }
  ~ZipArchive() { zip_discard(za_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  bool Has(const std::string& name) const { return zip_name_locate(za_, name.c_str(), 0) >= 0; }

  // The uncompressed bytes of entry `name`. EBADMSG if missing or damaged.
  Result<std::string> Read(const std::string& name) const {
    zip_int64_t index = zip_name_locate(za_, name.c_str(), 0);
    if (index < 0) return Damaged(what_, "no " + name + " in the archive");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za_, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      return Damaged(what_, "cannot stat " + name);
    if (st.size > kMaxEntryBytes)
      return Status::Error(EFBIG, std::string(what_) + ": " + name + " expands to more than " +
                                      std::to_string(kMaxEntryBytes >> 20) + " MiB");
    zip_file_t* f = zip_fopen_index(za_, static_cast<zip_uint64_t>(index), 0);
    if (f == nullptr) return Damaged(what_, "cannot open " + name + ": " + zip_strerror(za_));
    std::string out(static_cast<size_t>(st.size), '\0');
    zip_int64_t n = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
    // A stored size that lies is caught by the CRC check at the end of the
    // entry: read one byte more to reach it.
    char extra;
    zip_int64_t more = n == static_cast<zip_int64_t>(out.size()) ? zip_fread(f, &extra, 1) : 0;
    zip_fclose(f);
    if (n != static_cast<zip_int64_t>(out.size()) || more != 0)
      return Damaged(what_, "cannot read " + name + " (damaged entry)");
    return out;
  }

 private:
  ZipArchive(zip_t* za, std::string_view what) : za_(za), what_(what) {}
  zip_t* za_;
  std::string what_;
};

// One pass over an XML document with libxml2's reader. `on_node` sees every
// node; the reader never reaches the network or expands external entities.
using NodeFn = std::function<void(xmlTextReaderPtr r, int type, std::string_view local_name)>;

Status WalkXml(std::string_view xml, std::string_view what, const NodeFn& on_node) {
  if (xml.size() > static_cast<size_t>(INT32_MAX))
    return Status::Error(EFBIG, std::string(what) + " too large");
  std::unique_ptr<xmlTextReader, void (*)(xmlTextReaderPtr)> r(
      xmlReaderForMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
      xmlFreeTextReader);
  if (!r) return Damaged(what, "cannot parse XML");
  int rc;
  while ((rc = xmlTextReaderRead(r.get())) == 1) {
    const xmlChar* name = xmlTextReaderConstLocalName(r.get());
    on_node(r.get(), xmlTextReaderNodeType(r.get()),
            name ? std::string_view(reinterpret_cast<const char*>(name)) : std::string_view());
  }
  if (rc != 0) return Damaged(what, "malformed XML");
  return Status::Ok();
}

bool IsTextNode(int type) {
  return type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
         type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE || type == XML_READER_TYPE_WHITESPACE;
}

std::string_view NodeValue(xmlTextReaderPtr r) {
  const xmlChar* v = xmlTextReaderConstValue(r);
  return v ? std::string_view(reinterpret_cast<const char*>(v)) : std::string_view();
}

// The value of the current element's attribute with this local name; with
// `namespaced`, only an attribute in some namespace (r:id, not id).
std::string Attribute(xmlTextReaderPtr r, std::string_view local_name, bool namespaced) {
  std::string out;
  if (xmlTextReaderMoveToFirstAttribute(r) != 1) return out;
  do {
    const xmlChar* n = xmlTextReaderConstLocalName(r);
    const bool has_ns = xmlTextReaderConstNamespaceUri(r) != nullptr;
    if (n != nullptr && reinterpret_cast<const char*>(n) == local_name && has_ns == namespaced) {
      out = NodeValue(r);
      break;
    }
  } while (xmlTextReaderMoveToNextAttribute(r) == 1);
  xmlTextReaderMoveToElement(r);
  return out;
}

// The directory of a part name ("xl/workbook.xml" -> "xl").
std::string DirOf(std::string_view part) {
  size_t slash = part.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(part.substr(0, slash));
}

// A relationship target resolved against the directory of its source part.
std::string ResolveTarget(const std::string& dir, std::string_view target) {
  if (!target.empty() && target[0] == '/') return std::string(target.substr(1));
  std::vector<std::string> parts;
  auto push_all = [&](std::string_view path) {
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string_view::npos) j = path.size();
      std::string_view c = path.substr(i, j - i);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.emplace_back(c);
      }
      i = j + 1;
    }
  };
  push_all(dir);
  push_all(target);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

// The relationships of `part`: id -> (type, resolved target).
struct Relationship {
  std::string type, target;
};
Result<std::map<std::string, Relationship>> Relationships(const ZipArchive& zip, const std::string& part,
                                                          std::string_view what) {
  const std::string dir = DirOf(part);
  const std::string base = part.substr(dir.empty() ? 0 : dir.size() + 1);
  const std::string rels = (dir.empty() ? "" : dir + "/") + "_rels/" + base + ".rels";
  std::map<std::string, Relationship> out;
  if (!zip.Has(rels)) return out;
  auto xml = zip.Read(rels);
  if (!xml.ok()) return xml.status();
  NEXUS_RETURN_IF_ERROR(WalkXml(*xml, what, [&](xmlTextReaderPtr r, int type, std::string_view name) {
    if (type != XML_READER_TYPE_ELEMENT || name != "Relationship") return;
    if (Attribute(r, "TargetMode", false) == "External") return;
    out[Attribute(r, "Id", false)] = {Attribute(r, "Type", false),
                                      ResolveTarget(dir, Attribute(r, "Target", false))};
  }));
  return out;
}

bool TypeEndsWith(const std::string& type, std::string_view tail) {
  return type.size() >= tail.size() && type.compare(type.size() - tail.size(), tail.size(), tail) == 0;
}

// The local name of the root element of `xml` ("" if there is none).
std::string RootElement(std::string_view xml) {
  if (xml.size() > static_cast<size_t>(INT32_MAX)) return "";
  std::unique_ptr<xmlTextReader, void (*)(xmlTextReaderPtr)> r(
      xmlReaderForMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
      xmlFreeTextReader);
  while (r && xmlTextReaderRead(r.get()) == 1) {
    if (xmlTextReaderNodeType(r.get()) != XML_READER_TYPE_ELEMENT) continue;
    const xmlChar* name = xmlTextReaderConstLocalName(r.get());
    return name ? reinterpret_cast<const char*>(name) : "";
  }
  return "";
}

// The main part of the package (word/document.xml, xl/workbook.xml, ...),
// whose root element must be `root` (a workbook is not a Word document).
Result<std::string> MainPart(const ZipArchive& zip, std::string_view root, std::string_view what) {
  auto rels = Relationships(zip, "", what);  // "_rels/.rels"
  if (!rels.ok()) return rels.status();
  for (const auto& [id, rel] : *rels) {
    if (!TypeEndsWith(rel.type, "/officeDocument")) continue;
    auto xml = zip.Read(rel.target);
    if (!xml.ok()) return xml.status();
    std::string found = RootElement(*xml);
    if (found != root)
      return Damaged(what, rel.target + " is a '" + found + "', not a '" + std::string(root) + "'");
    return rel.target;
  }
  return Damaged(what, "no main document part");
}

// Paragraph text of a docx body or a pptx slide: the text of `t` elements,
// a line per paragraph `p`; `tab` and `br` inside a run as '\t' and '\n'.
Result<std::string> ParagraphText(std::string_view xml, std::string_view what) {
  std::string out;
  std::vector<std::string> stack;  // open elements (local names)
  bool in_text = false;
  Status st = WalkXml(xml, what, [&](xmlTextReaderPtr r, int type, std::string_view name) {
    if (type == XML_READER_TYPE_ELEMENT) {
      const bool in_run = !stack.empty() && stack.back() == "r";
      if (in_run && name == "tab") out.push_back('\t');
      if (in_run && (name == "br" || name == "cr")) out.push_back('\n');
      if (xmlTextReaderIsEmptyElement(r) != 1) {
        stack.emplace_back(name);
        in_text = name == "t";
      } else if (name == "p") {
        out.push_back('\n');  // an empty paragraph: a blank line
      }
    } else if (type == XML_READER_TYPE_END_ELEMENT) {
      if (!stack.empty()) stack.pop_back();
      in_text = false;
      if (name == "p") out.push_back('\n');
    } else if (in_text && IsTextNode(type)) {
      out += NodeValue(r);
    }
  });
  NEXUS_RETURN_IF_ERROR(st);
  NEXUS_RETURN_IF_ERROR(CheckTextSize(out.size()));
  return out;
}

Result<std::vector<DocumentText>> ExtractDocx(std::string_view data) {
  constexpr std::string_view what = "Word document";
  auto zip = ZipArchive::Open(data, what);
  if (!zip.ok()) return zip.status();
  auto main = MainPart(**zip, "document", what);
  if (!main.ok()) return main.status();
  auto xml = (*zip)->Read(*main);
  if (!xml.ok()) return xml.status();
  auto text = ParagraphText(*xml, what);
  if (!text.ok()) return text.status();
  std::vector<DocumentText> out;
  out.push_back({{}, SanitizeUtf8(*text)});
  return out;
}

// The parts a main part lists in order through `list_element` elements'
// r:id attributes (sheets of a workbook, slides of a presentation), with the
// `name` attribute of each.
struct Listed {
  std::string part, name;
};
Result<std::vector<Listed>> ListedParts(const ZipArchive& zip, const std::string& main,
                                        std::string_view list_element, std::string_view what) {
  auto rels = Relationships(zip, main, what);
  if (!rels.ok()) return rels.status();
  auto xml = zip.Read(main);
  if (!xml.ok()) return xml.status();
  std::vector<Listed> out;
  Status bad;
  NEXUS_RETURN_IF_ERROR(WalkXml(*xml, what, [&](xmlTextReaderPtr r, int type, std::string_view name) {
    if (type != XML_READER_TYPE_ELEMENT || name != list_element) return;
    std::string id = Attribute(r, "id", true);
    auto it = rels->find(id);
    if (it == rels->end()) {
      if (bad.ok())
        bad = Damaged(what, std::string(list_element) + " with unknown relationship '" + id + "'");
      return;
    }
    out.push_back({it->second.target, Attribute(r, "name", false)});
  }));
  NEXUS_RETURN_IF_ERROR(bad);
  return out;
}

Result<std::vector<DocumentText>> ExtractPptx(std::string_view data) {
  constexpr std::string_view what = "presentation";
  auto zip = ZipArchive::Open(data, what);
  if (!zip.ok()) return zip.status();
  auto main = MainPart(**zip, "presentation", what);
  if (!main.ok()) return main.status();
  auto slides = ListedParts(**zip, *main, "sldId", what);
  if (!slides.ok()) return slides.status();
  std::vector<DocumentText> out;
  size_t total = 0;
  for (size_t i = 0; i < slides->size(); ++i) {
    auto xml = (*zip)->Read((*slides)[i].part);
    if (!xml.ok()) return xml.status();
    auto text = ParagraphText(*xml, what);
    if (!text.ok()) return text.status();
    total += text->size();
    NEXUS_RETURN_IF_ERROR(CheckTextSize(total));
    out.push_back({{DocumentPart::Kind::kSlide, static_cast<uint32_t>(i + 1), {}}, SanitizeUtf8(*text)});
  }
  return out;
}

// xl/sharedStrings.xml: the text of each `si`, phonetic runs left out.
Result<std::vector<std::string>> SharedStrings(const ZipArchive& zip, const std::string& workbook,
                                               std::string_view what) {
  auto rels = Relationships(zip, workbook, what);
  if (!rels.ok()) return rels.status();
  std::vector<std::string> out;
  for (const auto& [id, rel] : *rels) {
    if (!TypeEndsWith(rel.type, "/sharedStrings")) continue;
    auto xml = zip.Read(rel.target);
    if (!xml.ok()) return xml.status();
    size_t total = 0;
    int phonetic = 0;  // depth inside rPh
    bool in_text = false;
    NEXUS_RETURN_IF_ERROR(WalkXml(*xml, what, [&](xmlTextReaderPtr r, int type, std::string_view name) {
      if (type == XML_READER_TYPE_ELEMENT && xmlTextReaderIsEmptyElement(r) != 1) {
        if (name == "si") out.emplace_back();
        if (name == "rPh") ++phonetic;
        in_text = name == "t" && phonetic == 0 && !out.empty();
      } else if (type == XML_READER_TYPE_ELEMENT && name == "si") {
        out.emplace_back();
      } else if (type == XML_READER_TYPE_END_ELEMENT) {
        if (name == "rPh") --phonetic;
        in_text = false;
      } else if (in_text && IsTextNode(type)) {
        out.back() += NodeValue(r);
        total += NodeValue(r).size();
      }
    }));
    NEXUS_RETURN_IF_ERROR(CheckTextSize(total));
    break;
  }
  return out;
}

// A worksheet as rows of tab-separated cell values.
Result<std::string> SheetText(std::string_view xml, const std::vector<std::string>& shared,
                              std::string_view what) {
  std::string out, row, value, inline_text, cell_type;
  bool in_value = false, in_inline = false, row_has_cells = false;
  Status bad;
  Status st = WalkXml(xml, what, [&](xmlTextReaderPtr r, int type, std::string_view name) {
    if (type == XML_READER_TYPE_ELEMENT) {
      const bool empty = xmlTextReaderIsEmptyElement(r) == 1;
      if (name == "row") {
        row.clear();
        row_has_cells = false;
        if (empty) out.push_back('\n');
      } else if (name == "c") {
        cell_type = Attribute(r, "t", false);
        value.clear();
        inline_text.clear();
      } else if (name == "v" && !empty) {
        in_value = true;
      } else if (name == "t" && !empty) {
        in_inline = true;
      }
    } else if (type == XML_READER_TYPE_END_ELEMENT) {
      if (name == "v") in_value = false;
      if (name == "t") in_inline = false;
      if (name == "c") {
        std::string cell;
        if (cell_type == "s") {
          char* end = nullptr;
          unsigned long i = std::strtoul(value.c_str(), &end, 10);
          if (value.empty() || *end != '\0' || i >= shared.size()) {
            if (bad.ok()) bad = Damaged(what, "cell names shared string '" + value + "' that does not exist");
          } else {
            cell = shared[i];
          }
        } else if (cell_type == "inlineStr") {
          cell = inline_text;
        } else if (cell_type == "b") {
          cell = value == "1" ? "TRUE" : "FALSE";
        } else {
          cell = value;
        }
        // Line breaks inside a cell would split its row: keep a row a line.
        std::replace(cell.begin(), cell.end(), '\n', ' ');
        if (row_has_cells) row.push_back('\t');
        row += cell;
        row_has_cells = true;
      }
      if (name == "row") {
        out += row;
        out.push_back('\n');
      }
    } else if (IsTextNode(type)) {
      if (in_value) value += NodeValue(r);
      if (in_inline) inline_text += NodeValue(r);
    }
  });
  NEXUS_RETURN_IF_ERROR(st);
  NEXUS_RETURN_IF_ERROR(bad);
  NEXUS_RETURN_IF_ERROR(CheckTextSize(out.size()));
  return out;
}

Result<std::vector<DocumentText>> ExtractXlsx(std::string_view data) {
  constexpr std::string_view what = "spreadsheet";
  auto zip = ZipArchive::Open(data, what);
  if (!zip.ok()) return zip.status();
  auto main = MainPart(**zip, "workbook", what);
  if (!main.ok()) return main.status();
  auto shared = SharedStrings(**zip, *main, what);
  if (!shared.ok()) return shared.status();
  auto sheets = ListedParts(**zip, *main, "sheet", what);
  if (!sheets.ok()) return sheets.status();
  std::vector<DocumentText> out;
  size_t total = 0;
  for (size_t i = 0; i < sheets->size(); ++i) {
    auto xml = (*zip)->Read((*sheets)[i].part);
    if (!xml.ok()) return xml.status();
    auto text = SheetText(*xml, *shared, what);
    if (!text.ok()) return text.status();
    total += text->size();
    NEXUS_RETURN_IF_ERROR(CheckTextSize(total));
    out.push_back(
        {{DocumentPart::Kind::kSheet, static_cast<uint32_t>(i + 1), (*sheets)[i].name}, SanitizeUtf8(*text)});
  }
  return out;
}

}  // namespace

std::string_view PartKindName(DocumentPart::Kind kind) {
  switch (kind) {
    case DocumentPart::Kind::kPage:
      return "page";
    case DocumentPart::Kind::kSheet:
      return "sheet";
    case DocumentPart::Kind::kSlide:
      return "slide";
    case DocumentPart::Kind::kNone:
      break;
  }
  return "";
}

DocumentKind DocumentKindOfName(std::string_view path) {
  if (EndsWithNoCase(path, ".pdf")) return DocumentKind::kPdf;
  if (EndsWithNoCase(path, ".docx")) return DocumentKind::kDocx;
  if (EndsWithNoCase(path, ".xlsx")) return DocumentKind::kXlsx;
  if (EndsWithNoCase(path, ".pptx")) return DocumentKind::kPptx;
  return DocumentKind::kNone;
}

Result<std::vector<DocumentText>> ExtractDocument(DocumentKind kind, std::string_view data) {
  if (data.size() > kMaxDocumentBytes) {
    return Status::Error(EFBIG, "document of more than " + std::to_string(kMaxDocumentBytes >> 20) + " MiB");
  }
  switch (kind) {
    case DocumentKind::kPdf:
      return ExtractPdf(data);
    case DocumentKind::kDocx:
      return ExtractDocx(data);
    case DocumentKind::kXlsx:
      return ExtractXlsx(data);
    case DocumentKind::kPptx:
      return ExtractPptx(data);
    case DocumentKind::kNone:
      break;
  }
  return Status::Error(EINVAL, "not a document");
}

}  // namespace nexus::search
