#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstring>

#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/linalg.h"
#include "test_util.h"

namespace marquee {
namespace {

CsrMatrix SmallMatrix() {
  // 6 users x 5 items with overlapping tastes.
  std::vector<uint32_t> r = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5};
  std::vector<uint32_t> c = {0, 1, 2, 0, 1, 1, 2, 3, 3, 4, 0, 2, 4, 1, 3};
  return CsrMatrix::FromTriplets(6, 5, r, c, {});
}

// Independent closed form with Eigen: B = I - P diag(1/diag(P)), P = (XᵀX + λI)⁻¹.
Eigen::MatrixXd ReferenceB(const CsrMatrix& x, double lambda) {
  Eigen::MatrixXd dense = Eigen::MatrixXd::Zero(x.rows, x.cols);
  for (uint32_t u = 0; u < x.rows; ++u) {
    for (uint32_t i : x.row_indices(u)) dense(u, i) = 1.0;
  }
  Eigen::MatrixXd g = dense.transpose() * dense;
  g.diagonal().array() += lambda;
  Eigen::MatrixXd p = g.inverse();
  Eigen::MatrixXd b(x.cols, x.cols);
  for (int i = 0; i < b.rows(); ++i) {
    for (int j = 0; j < b.cols(); ++j) b(i, j) = i == j ? 0.0 : -p(i, j) / p(j, j);
  }
  return b;
}

std::vector<float> Scores(const Recommender& m, const CsrMatrix& h) {
  std::vector<float> out(static_cast<size_t>(h.rows) * m.num_items());
  Context ctx;
  m.ScoreBatch(h, out, ctx);
  return out;
}

TEST(Ease, MatchesClosedFormInBothPrecisions) {
  CsrMatrix x = SmallMatrix();
  Eigen::MatrixXd b = ReferenceB(x, 2.0);
  for (const char* precision : {"float32", "float64"}) {
    auto m = CreateRecommender("ease", {{"lambda", 2.0}, {"precision", precision}});
    Context ctx;
    ctx.threads = 2;
    m->Fit(x, ctx);
    // Scores of the history {0, 3} are rows 0 + 3 of B.
    CsrMatrix h;
    h.cols = 5;
    h.AppendRow(std::vector<uint32_t>{0, 3}, {});
    auto s = Scores(*m, h);
    // Scores are returned as float, so float64 models agree to float rounding.
    const double tol = std::string(precision) == "float32" ? 1e-5 : 1e-7;
    for (int k = 0; k < 5; ++k) EXPECT_NEAR(s[k], b(0, k) + b(3, k), tol) << precision << " " << k;
  }
}

TEST(Ease, MaxItemsKeepsMostPopularAndRanksOthersLast) {
  CsrMatrix x = SmallMatrix();
  auto m = CreateRecommender("ease", {{"lambda", 1.0}, {"max_items", 3}});
  Context ctx;
  m->Fit(x, ctx);
  CsrMatrix h;
  h.cols = 5;
  h.AppendRow(std::vector<uint32_t>{1}, {});
  auto s = Scores(*m, h);
  // Items 1 (4 users), 0 / 2 / 3 (3 users each, lower index wins ties) are kept: 4 is not.
  EXPECT_TRUE(std::isinf(s[4]) && s[4] < 0);
  EXPECT_FALSE(std::isinf(s[0]));
}

TEST(Ease, SaveLoadIsBitIdentical) {
  testing::TempDir dir;
  CsrMatrix x = SmallMatrix();
  for (const char* precision : {"float32", "float64"}) {
    auto m = CreateRecommender("ease", {{"lambda", 3.0}, {"precision", precision}});
    Context ctx;
    m->Fit(x, ctx);
    ArtifactWriter w("ease", {{"params", m->params()}});
    m->Save(w);
    const std::string path = dir.file(std::string("ease-") + precision + ".mqm");
    w.Write(path, Env::Default());
    auto r = ArtifactReader::Open(path, Env::Default());
    auto loaded = CreateRecommender("ease", r->header().at("params"));
    loaded->Load(*r);
    CsrMatrix h = x;  // every training user as a query
    auto a = Scores(*m, h), b = Scores(*loaded, h);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << precision;
  }
}

TEST(Ease, RejectsBadParams) {
  try {
    CreateRecommender("ease", {{"lamda", 3.0}});
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("lamda"), std::string::npos);
  }
  EXPECT_THROW(CreateRecommender("ease", {{"lambda", -1.0}}), Error);
  EXPECT_THROW(CreateRecommender("ease", {{"precision", "float16"}}), Error);
  EXPECT_THROW(CreateRecommender("ease", {{"lambda", "big"}}), Error);
  EXPECT_THROW(CreateRecommender("nope", {}), Error);
}

TEST(Linalg, InvertSpdMatchesEigenAndRejectsIndefinite) {
  const uint32_t n = 40;
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n);
  Eigen::MatrixXd spd = a * a.transpose() + n * Eigen::MatrixXd::Identity(n, n);
  std::vector<double> m(n * n);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < n; ++j) m[i * n + j] = spd(i, j);
  }
  InvertSpdInPlace<double>(m.data(), n, 2);
  Eigen::MatrixXd inv = spd.inverse();
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < n; ++j) EXPECT_NEAR(m[i * n + j], inv(i, j), 1e-12);
  }
  std::vector<double> bad = {1, 2, 2, 1};  // eigenvalues 3 and -1
  try {
    InvertSpdInPlace<double>(bad.data(), 2, 1);
    FAIL() << "indefinite matrix accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  }
}

TEST(Artifact, RejectsDamageAndFutureVersions) {
  testing::TempDir dir;
  std::vector<float> v = {1, 2, 3};
  ArtifactWriter w("popularity", {{"params", nlohmann::json::object()}});
  w.Add<float>("counts", v);
  const std::string path = dir.file("a.mqm");
  std::string sha = w.Write(path, Env::Default());
  EXPECT_EQ(sha.size(), 64u);
  auto ok = ArtifactReader::Open(path, Env::Default());
  EXPECT_EQ(ok->GetVector<float>("counts"), v);
  EXPECT_THROW(ok->Get<double>("counts"), Error);
  EXPECT_THROW(ok->Get<float>("missing"), Error);

  std::string bytes = Env::Default()->ReadFile(path);
  // Truncated: the tensor no longer fits.
  Env::Default()->WriteFileAtomic(dir.file("t.mqm"), bytes.substr(0, bytes.size() - 60));
  EXPECT_THROW(ArtifactReader::Open(dir.file("t.mqm"), Env::Default()), Error);
  // Future version.
  std::string future = bytes;
  future[8] = 9;
  Env::Default()->WriteFileAtomic(dir.file("f.mqm"), future);
  try {
    ArtifactReader::Open(dir.file("f.mqm"), Env::Default());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
    EXPECT_NE(std::string(e.what()).find("version 9"), std::string::npos);
  }
  // Not an artifact at all.
  Env::Default()->WriteFileAtomic(dir.file("x.mqm"), "hello world, not a model");
  EXPECT_THROW(ArtifactReader::Open(dir.file("x.mqm"), Env::Default()), Error);
}

}  // namespace
}  // namespace marquee
