// The one Pareto filter for the areas that stay free of pagmo2 (hw/fpga's folding search, reports). The evolution
// (search/) uses pagmo's own utilities (pagmo::fast_non_dominated_sorting, pagmo::pareto_dominance).
//
// A sorted sweep, the textbook way to take the non-dominated subset of a set (Kung, Luccio and Preparata, "On
// finding the maxima of a set of vectors", JACM 22(4), 1975): order the points so that any point that can dominate
// another comes before it (e.g. by the first objective, ties by the others), then keep each point unless a point
// kept before it covers it. `covers(kept, p)` says what dominance means to the caller: weak dominance (no worse in
// every objective: ties go to the point sorted first) or strict (pagmo's pareto_dominance: no worse in every
// objective and better in one; equal points are all kept). With strict dominance the result is the non-dominated
// set whatever the order among equal points, because a kept point dominates everything its dominated ones do.
#pragma once
#include <utility>
#include <vector>

namespace nemokd {

// The points of `sorted` (in that order) that no earlier kept point covers and that `accept` takes (a caller may
// refuse a point for a reason of its own, e.g. it does not fit; a refused point covers nothing).
template <class T, class Covers, class Accept>
std::vector<T> sweep_front(std::vector<T> sorted, Covers covers, Accept accept) {
  std::vector<T> kept;
  for (auto& p : sorted) {
    bool covered = false;
    for (auto k = kept.rbegin(); k != kept.rend() && !covered; ++k) covered = covers(*k, p);  // newest first
    if (!covered && accept(p)) kept.push_back(std::move(p));
  }
  return kept;
}

template <class T, class Covers>
std::vector<T> sweep_front(std::vector<T> sorted, Covers covers) {
  return sweep_front(std::move(sorted), covers, [](const T&) { return true; });
}

}  // namespace nemokd
