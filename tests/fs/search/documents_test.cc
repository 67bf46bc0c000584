#include "fs/search/documents.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "fs/search/content_source.h"
#include "fs/search/search_index.h"
#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::Shell;
using testing::ShellQuote;
using testing::TempDir;

using Kind = DocumentPart::Kind;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The sample documents of integration/make_documents.py, written once.
const std::string& SampleDir() {
  static const TempDir* dir = [] {
    auto* d = new TempDir();
    Shell("python3 " + ShellQuote(std::string(NEXUS_SOURCE_DIR) + "/integration/make_documents.py") + " " +
          ShellQuote(d->path()));
    return d;
  }();
  return dir->path();
}
std::string Doc(const std::string& name) { return ReadAll(SampleDir() + "/" + name); }

std::vector<DocumentText> Extract(const std::string& name) {
  auto r = ExtractDocument(DocumentKindOfName(name), Doc(name));
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  return r.ok() ? *r : std::vector<DocumentText>{};
}

TEST(DocumentKindTest, ByNameAnyCase) {
  EXPECT_EQ(DocumentKindOfName("/a/report.PDF"), DocumentKind::kPdf);
  EXPECT_EQ(DocumentKindOfName("/a/notes.docx"), DocumentKind::kDocx);
  EXPECT_EQ(DocumentKindOfName("/a/b.Xlsx"), DocumentKind::kXlsx);
  EXPECT_EQ(DocumentKindOfName("deck.pptx"), DocumentKind::kPptx);
  EXPECT_EQ(DocumentKindOfName("/a/notes.doc"), DocumentKind::kNone);
  EXPECT_EQ(DocumentKindOfName("/pdf"), DocumentKind::kNone);
  EXPECT_EQ(PartKindName(Kind::kPage), "page");
  EXPECT_EQ(PartKindName(Kind::kNone), "");
}

TEST(DocumentsTest, PdfPagesInOrder) {
  auto parts = Extract("report.pdf");
  ASSERT_EQ(parts.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(parts[i].part.kind, Kind::kPage);
    EXPECT_EQ(parts[i].part.number, i + 1);
  }
  EXPECT_NE(parts[0].text.find("Annual report"), std::string::npos) << parts[0].text;
  EXPECT_NE(parts[1].text.find("quarterly revenue grew by twelve percent"), std::string::npos)
      << parts[1].text;
  EXPECT_EQ(parts[1].text.find("Closing"), std::string::npos);
  EXPECT_NE(parts[2].text.find("Closing remarks"), std::string::npos);
}

TEST(DocumentsTest, DocxParagraphsTabsAndNoDeletedText) {
  auto parts = Extract("notes.docx");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].part.kind, Kind::kNone);
  const std::string& t = parts[0].text;
  EXPECT_EQ(t, "Project notes\nThe revenue forecast\tholds\n\nCaf\u00e9 & cr\u00e8me\n");
  EXPECT_EQ(t.find("withdrawnword"), std::string::npos);
}

TEST(DocumentsTest, XlsxSheetsInWorkbookOrderWithTheirNames) {
  auto parts = Extract("budget.xlsx");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].part, (DocumentPart{Kind::kSheet, 1, "Summary"}));
  EXPECT_EQ(parts[1].part, (DocumentPart{Kind::kSheet, 2, "Budget"}));
  EXPECT_EQ(parts[0].text, "costs\t42\n");
  EXPECT_EQ(parts[1].text, "Item\tAmount\nrevenue target\t1250.5\ninline note\tTRUE\n");
}

TEST(DocumentsTest, PptxSlidesInPresentationOrder) {
  auto parts = Extract("deck.pptx");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].part, (DocumentPart{Kind::kSlide, 1, ""}));
  EXPECT_EQ(parts[0].text, "Agenda\nWelcome\n");
  EXPECT_EQ(parts[1].text, "Results\nrevenue slide with numbers\n");
}

TEST(DocumentsTest, DamagedDocumentsAreTypedErrors) {
  for (const char* name : {"broken.pdf", "broken.docx", "broken.xlsx"}) {
    auto r = ExtractDocument(DocumentKindOfName(name), Doc(name));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.code(), EBADMSG) << name << ": " << r.status().ToString();
    EXPECT_FALSE(r.status().message().empty());
  }
  // A docx that is a sound zip without a document part.
  auto r = ExtractDocument(DocumentKind::kDocx, Doc("budget.xlsx"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EBADMSG) << r.status().ToString();
  // Truncated: the first half of each good document.
  for (const char* name : {"report.pdf", "notes.docx", "budget.xlsx", "deck.pptx"}) {
    std::string d = Doc(name);
    auto t = ExtractDocument(DocumentKindOfName(name), d.substr(0, d.size() / 2));
    if (t.ok()) {
      // poppler may recover a truncated PDF's first page; never more text than there was.
      EXPECT_EQ(std::string(name), "report.pdf");
    } else {
      EXPECT_EQ(t.code(), EBADMSG) << name << ": " << t.status().ToString();
    }
  }
}

TEST(DocumentsTest, TooLargeIsRefused) {
  std::string big = "%PDF-1.4\n";
  big.resize(kMaxDocumentBytes + 1, ' ');
  auto r = ExtractDocument(DocumentKind::kPdf, big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EFBIG);
}

// The index: documents by their text, hits naming their part; parsed grep.
class DocumentSearchTest : public testing::IndexTest {
 protected:
  DocumentSearchTest() {
    for (const char* name :
         {"report.pdf", "notes.docx", "budget.xlsx", "deck.pptx", "broken.pdf", "broken.docx", "broken.xlsx"})
      Write(std::string("/docs/") + name, Doc(name));
    Write("/docs/plain.txt", "revenue in a text file\n");
    Open();
    EXPECT_TRUE(index_->Sync("/", false).ok());
  }
  std::vector<GrepMatch> Grep(const std::string& pattern, GrepOptions o) {
    auto r = index_->Grep(pattern, "/", o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<GrepMatch>{};
  }
};

TEST_F(DocumentSearchTest, ParsedGrepNamesThePart) {
  GrepOptions o;
  o.parsed = true;
  // A damaged document that is text (the samples are) is grepped as text.
  std::vector<GrepMatch> m;
  for (auto& x : Grep("revenue", o)) {
    if (x.path.find("broken") == std::string::npos) {
      m.push_back(std::move(x));
    } else {
      EXPECT_EQ(x.part.kind, Kind::kNone) << x.path;
    }
  }
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].path, "/docs/budget.xlsx");
  EXPECT_EQ(m[0].part, (DocumentPart{Kind::kSheet, 2, "Budget"}));
  EXPECT_EQ(m[0].line, 2u);
  EXPECT_EQ(m[0].text, "revenue target\t1250.5");
  EXPECT_EQ(m[1].path, "/docs/deck.pptx");
  EXPECT_EQ(m[1].part, (DocumentPart{Kind::kSlide, 2, ""}));
  EXPECT_EQ(m[1].line, 2u);
  EXPECT_EQ(m[2].path, "/docs/notes.docx");
  EXPECT_EQ(m[2].line, 2u);
  EXPECT_EQ(m[3].path, "/docs/plain.txt");
  EXPECT_EQ(m[3].part.kind, Kind::kNone);
  EXPECT_EQ(m[4].path, "/docs/report.pdf");
  EXPECT_EQ(m[4].part, (DocumentPart{Kind::kPage, 2, ""}));
  EXPECT_NE(m[4].text.find("quarterly revenue"), std::string::npos);
}

TEST_F(DocumentSearchTest, RawGrepSeesBytesOnly) {
  // Raw: the bytes of text files, as grep -r: the damaged documents are
  // text, and so is the sample PDF (its page streams are not compressed);
  // the Office files are zip archives, binary.
  auto m = Grep("revenue", {});
  std::set<std::string> paths;
  for (const auto& x : m) {
    paths.insert(x.path);
    EXPECT_EQ(x.part.kind, Kind::kNone);
  }
  EXPECT_EQ(paths, (std::set<std::string>{"/docs/broken.docx", "/docs/broken.pdf", "/docs/broken.xlsx",
                                          "/docs/plain.txt", "/docs/report.pdf"}));
}

TEST_F(DocumentSearchTest, FileGlobFilters) {
  GrepOptions o;
  o.parsed = true;
  o.file_glob = "**/*.pdf";
  auto m = Grep("revenue", o);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].path, "/docs/broken.pdf");  // text, grepped as text
  EXPECT_EQ(m[0].part.kind, Kind::kNone);
  EXPECT_EQ(m[1].path, "/docs/report.pdf");
  EXPECT_EQ(m[1].part, (DocumentPart{Kind::kPage, 2, ""}));
  o.file_glob = "*.pptx";  // relative: below the grep's root, one level
  EXPECT_TRUE(Grep("revenue", o).empty());
  o.file_glob = "docs/*.pptx";
  EXPECT_EQ(Grep("revenue", o).size(), 1u);
  o.files_only = true;
  o.file_glob.clear();
  auto files = Grep("revenue|Results", o);
  ASSERT_EQ(files.size(), 8u);
  for (const auto& f : files) EXPECT_EQ(f.part.kind, Kind::kNone);
  o.file_glob = "{unclosed";
  EXPECT_EQ(index_->Grep("x", "/", o).code(), EINVAL);
}

TEST_F(DocumentSearchTest, KeywordHitsNameThePart) {
  QueryOptions q;
  auto hits = index_->Query("quarterly", q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "/docs/report.pdf");
  EXPECT_EQ((*hits)[0].part, (DocumentPart{Kind::kPage, 2, ""}));
  EXPECT_EQ((*hits)[0].start_line, 1u);
  hits = index_->Query("costs", q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].part, (DocumentPart{Kind::kSheet, 1, "Summary"}));
  // Damaged documents are indexed as what they are: here, text.
  hits = index_->Query("document", q);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "/docs/broken.pdf");
  EXPECT_EQ((*hits)[0].part.kind, Kind::kNone);
}

TEST_F(DocumentSearchTest, ChangedDocumentIsReindexed) {
  Write("/docs/report.pdf", Doc("broken.pdf"));
  ASSERT_TRUE(index_->Apply(std::vector<Change>{{Change::Kind::kUpsert, "/docs/report.pdf", ""}}).ok());
  auto hits = index_->Query("quarterly", {});
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
  Write("/docs/report2.pdf", Doc("report.pdf"));
  ASSERT_TRUE(index_->Apply(std::vector<Change>{{Change::Kind::kUpsert, "/docs/report2.pdf", ""}}).ok());
  hits = index_->Query("quarterly", {});
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].path, "/docs/report2.pdf");
}

}  // namespace
}  // namespace nexus::search
