// AdditiveScores: what a recommender offers, besides Recommender::ScoreBatch, when its scores for
// a history are the sum of one row per history item and that sum is exact (issue #18, "serving
// real traffic"). Then the scores of a member whose history grew since training are their
// training row's sum (computed once, kept by the server) plus the rows of the new items, and
// they equal, bit for bit, what ScoreBatch computes for the whole history: the request reads a
// handful of rows instead of the member's whole history.
//
// The contract that makes it exact: Accumulate adds rows in double, and every row entry is a
// multiple of a grid fine enough and coarse enough that any sum of up to max_rows() rows is
// representable in double, so the order and grouping of the rows do not change the sum. EASE
// (float32) implements it (its B rounded to such a grid when it is fitted or loaded).
//
// A model implements it as a second base class; callers find it with dynamic_cast from
// Recommender (kinds/recommender/servable.cc does so once per loaded version).
//
// Thread-safety: const methods, any number of threads at once (as ScoreBatch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace marquee {

class AdditiveScores {
 public:
  virtual ~AdditiveScores() = default;

  // Doubles of an accumulator.
  virtual size_t accumulator_size() const = 0;
  // The most rows whose sum is exact (at least the number of items the model scores, so a
  // history of distinct items always is).
  virtual uint64_t max_rows() const = 0;
  // acc += the row of every item in `items` (indices below num_items(); items the model does
  // not score are skipped). `acc` holds accumulator_size() doubles.
  virtual void Accumulate(std::span<const uint32_t> items, double* acc) const = 0;
  // out (num_items() floats) = the scores of the history whose rows `acc` sums: the floats
  // ScoreBatch computes for that history.
  virtual void Finish(const double* acc, std::span<float> out) const = 0;
};

// The grid that makes such sums exact, for implementations (and their tests).
//
// SumGridBits(n): the t of RoundToSumGrid for sums of up to 2^(29 - t) = 2^(1 + ceil(log2 n))
// >= 2n values (n: the items a history can hold, so distinct items always fit).
int SumGridBits(uint32_t n);
// Rounds every finite value to the nearest multiple of g = 2^(E - 24 - t), where max|value| <
// 2^E and t = SumGridBits(n), so that a double sum of any up to 2^(29 - t) of them is exact:
// every partial sum is a multiple of g below 2^(E + 29 - t) = 2^53·g in magnitude, so no
// addition rounds, and the sum does not depend on the order or grouping of its terms. Values at
// least 2^-t of the largest keep all 24 bits (their ulp is not finer than g); smaller ones move
// by at most g/2 = 2^-(25 + t)·2^E (ML-100K's 1,682 items give t = 17: at most 5e-13 of the
// largest value). Each result is a float (at most 24 significant bits), and rounding twice is
// rounding once (the largest value is on the grid, so the grid stays).
void RoundToSumGrid(std::span<float> values, uint32_t n);

}  // namespace marquee
