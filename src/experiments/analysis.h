// Attribution and analysis of an online experiment from its exposure log and the event log
// (`marquee experiments analyze`).
//
// Attribution: a play (an event that ExperimentSpec::CountsAsPlay) of member u on item i at
// time t is credited to the latest exposure of u at time s with s <= t <= s + window whose list
// showed i; in interleaving, to the ranker that contributed i to that list. Plays that match no
// exposure (item not shown, before the first exposure, outside the window) are not credited.
// Each play is credited at most once.
//
// Analysis per cell: members (distinct exposed users), exposures, plays credited, plays per
// member and plays per exposure (per member: credited plays / exposures, averaged); in an A/B
// test, what its lists concentrate on ("concentration": impressions, distinct items, the Gini
// coefficient of impressions over every item any cell showed, and "head_share", the share of its
// impressions on the control's head: the control's most-shown items that together make half of
// the control's impressions, so the control's own share is about 0.5); for every
// cell against the control (the first cell): absolute and relative lift with 95% intervals
// (Welch), CUPED on plays per member with the member's plays before the experiment's first
// start as covariate, and the always-valid mSPRT p-value (100 looks in calendar time, each at the
// members exposed by then with the plays credited by then). A sample-ratio-mismatch chi-square test
// compares the members per cell with the weights and warns when p < 0.001. Interleaving: per
// member, the ranker whose items got more credited plays is preferred (ties are neither); the
// shares and an exact binomial test of the wins against 1/2.
//
// Memory: exposures are held in a compact table (ids interned, items pooled: about 100 bytes per
// exposure of 10 items); AnalyzeFromHome reads and credits one member's events at a time.
//
// Pure functions over in-memory data (AnalyzeExperiment) plus a reader of the logs; statistics
// that are undefined for the data (e.g. fewer than 2 members in a cell) appear as
// {"error": "..."} in their place rather than failing the whole report.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "experiments/experiment.h"
#include "experiments/exposure_log.h"

namespace marquee {

struct AnalysisInput {
  ExperimentSpec spec;
  std::string state;                // "draft" | "running" | "stopped" (reported only)
  int64_t first_started_at = 0;     // end of the CUPED pre-period (0: no covariate)
  std::vector<Exposure> exposures;  // any order
  std::vector<StoredEvent> events;  // events of the exposed members (others are ignored)
};

// The analysis as JSON (schema in docs/experiments.md).
nlohmann::json AnalyzeExperiment(const AnalysisInput& in);

// Reads the experiment's exposures from $home/experiments/exposures and the exposed members'
// events from $home/events (read-only views; allowed while a server runs) and analyses them.
// `progress` (optional) is called every 4096 exposures read (stage "exposures", total 0:
// unknown) and every 1024 members credited (stage "members", total = exposed members), and
// at the end of a stage it reported during (small analyses report nothing); on the calling
// thread.
using AnalyzeProgress = std::function<void(std::string_view stage, uint64_t done, uint64_t total)>;
nlohmann::json AnalyzeFromHome(const std::string& home, const Experiment& e,
                               const AnalyzeProgress& progress = {});

// The experiment day by day, for charts (GET /api/v1/experiments/{name}/timeseries): one entry
// per UTC calendar day from the first exposure's to the day of the latest exposure or credited
// play, with the exposures and the members first exposed that day per cell, and the always-valid
// mSPRT p-value at the end of the day (23:59:59 UTC):
//   {"experiment", "mode", "metric": "plays_per_member" | "preference", "control", "cells",
//    "days": [{"day": "2026-12-01", "exposures": {cell: n}, "new_members": {cell: n}}],
//    "sequential": [{"day", "p_value", "users", "p_values": {cell: p}}]}
// Interleaving counts are {"interleaved": n} (every exposure shows both rankers) and its p-value
// is that of "no preference". For an A/B test "p_value" is the second cell against the control
// and "p_values" has every non-control cell; "users" are the members exposed by the end of the
// day. The p-values come from the analysis's own sequential test (the same attribution, metric,
// SequentialTest options and look walk), looking once per day instead of at 100 evenly spaced
// times, so the last day's value may differ from the analysis's sequential_p_value (a running
// minimum over other looks). A p-value is null where its test failed; "sequential_errors"
// {cell: message} then says why. Cost: O(days x members + plays) after the reading.
nlohmann::json ExperimentTimeseries(const AnalysisInput& in);
// The same from the home's logs, read as AnalyzeFromHome reads them, plus the "state".
nlohmann::json TimeseriesFromHome(const std::string& home, const Experiment& e);

// The readable report of AnalyzeExperiment's JSON.
std::string FormatAnalysis(const nlohmann::json& analysis);

}  // namespace marquee
