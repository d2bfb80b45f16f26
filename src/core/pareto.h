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
#include <algorithm>
#include <array>
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

// Hypervolume of a set of 2-D points, both objectives minimised: the area dominated by the set and bounded by
// `reference` (the measure of Zitzler and Thiele, "Multiobjective optimization using evolutionary algorithms — a
// comparative case study", PPSN V, 1998). A point not strictly better than the reference in both objectives adds
// nothing (pagmo::hypervolume refuses such a set; here it is simply outside the box). One sort and a sweep: points by
// the first objective, each adding the strip between its second objective and the lowest one seen so far.
inline double hypervolume_2d(std::vector<std::array<double, 2>> points, std::array<double, 2> reference) {
  points.erase(std::remove_if(points.begin(), points.end(),
                              [&](const std::array<double, 2>& p) {
                                return !(p[0] < reference[0] && p[1] < reference[1]);  // NaN never counts
                              }),
               points.end());
  std::sort(points.begin(), points.end());
  double area = 0, lowest = reference[1];
  for (const auto& p : points)
    if (p[1] < lowest) {
      area += (reference[0] - p[0]) * (lowest - p[1]);
      lowest = p[1];
    }
  return area;
}

}  // namespace nemokd
