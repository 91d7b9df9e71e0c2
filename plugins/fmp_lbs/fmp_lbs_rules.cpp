/* ----------------------------------------------------------------------
   FMP-LBS rules (see fmp_lbs_rules.h). Mirrored by pylbs/potential.py;
   keep the two in step.
------------------------------------------------------------------------- */

#include "fmp_lbs_rules.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace FMPLBS {

namespace {

std::string where(const std::string &name, int line)
{
  return name + " line " + std::to_string(line) + ": ";
}

double to_number(const std::string &tok, const std::string &name, int line, const char *what)
{
  const char *s = tok.c_str();
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    throw RuleError(where(name, line) + "'" + tok + "' is not a number (" + what +
                    "); fix the value");
  return v;
}

std::string key(const std::string &a, const std::string &b)
{
  return a < b ? a + "-" + b : b + "-" + a;
}

}    // namespace

const PairSpec *ParamFile::find_pair(const std::string &a, const std::string &b) const
{
  for (const auto &p : pairs)
    if ((p.el1 == a && p.el2 == b) || (p.el1 == b && p.el2 == a)) return &p;
  return nullptr;
}

/* ---------------------------------------------------------------------- */

ParamFile parse_parameter_text(const std::string &text, const std::string &name)
{
  ParamFile pf;
  pf.name = name;
  std::map<std::string, int> seen_pair;
  std::istringstream in(text);
  std::string raw;
  int line = 0;

  while (std::getline(in, raw)) {
    ++line;
    auto hash = raw.find('#');
    if (hash != std::string::npos) raw.erase(hash);
    std::istringstream ls(raw);
    std::vector<std::string> t;
    for (std::string w; ls >> w;) t.push_back(w);
    if (t.empty()) continue;
    const std::string &kw = t[0];

    if (kw == "charge") {
      if (t.size() != 3)
        throw RuleError(where(name, line) + "expected 'charge <element> <q>'");
      if (pf.charge.count(t[1]))
        throw RuleError(where(name, line) + "second charge line for " + t[1] + "; keep one");
      pf.charge[t[1]] = to_number(t[2], name, line, "charge");
      pf.elements.push_back(t[1]);

    } else if (kw == "pair") {
      if (t.size() < 3)
        throw RuleError(where(name, line) +
                        "expected 'pair <el1> <el2> A <value|rule:NAME|table:NAME> rho <value> "
                        "C <value> [core auto|none|<B> <n> <D> <r0>]'");
      PairSpec ps;
      ps.el1 = t[1];
      ps.el2 = t[2];
      ps.line = line;
      bool hasA = false, hasRho = false, hasC = false;
      size_t i = 3;
      while (i < t.size()) {
        const std::string &k = t[i];
        if (k == "core") {
          if (i + 1 >= t.size())
            throw RuleError(where(name, line) + "'core' needs 'auto', 'none' or B n D r0");
          if (t[i + 1] == "auto") {
            ps.core.kind = CoreSpec::AUTO;
            i += 2;
          } else if (t[i + 1] == "none") {
            ps.core.kind = CoreSpec::NONE;
            i += 2;
          } else {
            if (i + 4 >= t.size())
              throw RuleError(where(name, line) + "'core' needs four numbers B n D r0 (or auto)");
            ps.core.kind = CoreSpec::FIXED;
            ps.core.B = to_number(t[i + 1], name, line, "core B");
            ps.core.n = to_number(t[i + 2], name, line, "core n");
            ps.core.D = to_number(t[i + 3], name, line, "core D");
            ps.core.r0 = to_number(t[i + 4], name, line, "core r0");
            if (ps.core.r0 <= 0.0)
              throw RuleError(where(name, line) + "core r0 must be > 0");
            i += 5;
          }
          continue;
        }
        if (i + 1 >= t.size())
          throw RuleError(where(name, line) + "keyword '" + k + "' has no value");
        const std::string &v = t[i + 1];
        if (k == "A") {
          hasA = true;
          if (v.rfind("rule:", 0) == 0) {
            ps.asource = PairSpec::RULE;
            ps.aname = v.substr(5);
          } else if (v.rfind("table:", 0) == 0) {
            ps.asource = PairSpec::TABLE;
            ps.aname = v.substr(6);
          } else {
            ps.asource = PairSpec::FIXED;
            ps.A = to_number(v, name, line, "A");
          }
        } else if (k == "rho") {
          hasRho = true;
          ps.rho = to_number(v, name, line, "rho");
          if (ps.rho <= 0.0) throw RuleError(where(name, line) + "rho must be > 0");
        } else if (k == "C") {
          hasC = true;
          ps.C = to_number(v, name, line, "C");
        } else {
          throw RuleError(where(name, line) + "unknown pair keyword '" + k +
                          "' (use A, rho, C, core)");
        }
        i += 2;
      }
      if (!hasA || !hasRho || !hasC)
        throw RuleError(where(name, line) + "pair " + ps.el1 + " " + ps.el2 +
                        " needs all of A, rho and C");
      std::string pk = key(ps.el1, ps.el2);
      if (seen_pair.count(pk))
        throw RuleError(where(name, line) + "pair " + pk + " already given on line " +
                        std::to_string(seen_pair[pk]) + "; keep one");
      seen_pair[pk] = line;
      pf.pairs.push_back(ps);

    } else if (kw == "rule") {
      if (t.size() < 2 || t[1] != "dbx")
        throw RuleError(where(name, line) + "only 'rule dbx A1 <v> A2 <v> T1 <v> T2 <v>' is known");
      if (t.size() != 10)
        throw RuleError(where(name, line) + "expected 'rule dbx A1 <v> A2 <v> T1 <v> T2 <v>'");
      DbxRule r;
      r.line = line;
      bool got[4] = {false, false, false, false};
      for (size_t i = 2; i + 1 < t.size(); i += 2) {
        double v = to_number(t[i + 1], name, line, t[i].c_str());
        if (t[i] == "A1") { r.A1 = v; got[0] = true; }
        else if (t[i] == "A2") { r.A2 = v; got[1] = true; }
        else if (t[i] == "T1") { r.T1 = v; got[2] = true; }
        else if (t[i] == "T2") { r.T2 = v; got[3] = true; }
        else throw RuleError(where(name, line) + "unknown rule keyword '" + t[i] + "' (A1 A2 T1 T2)");
      }
      if (!(got[0] && got[1] && got[2] && got[3]))
        throw RuleError(where(name, line) + "rule dbx needs each of A1 A2 T1 T2 once");
      pf.rules[t[1]] = r;

    } else if (kw == "table") {
      if (t.size() < 4 || (t[2] != "R" && t[2] != "K" && t[2] != "A"))
        throw RuleError(where(name, line) + "expected 'table <name> R|K|A <values...>'");
      Table &tb = pf.tables[t[1]];
      if (!tb.line) tb.line = line;
      std::vector<double> &dst = t[2] == "R" ? tb.R : (t[2] == "K" ? tb.K : tb.A);
      if (!dst.empty())
        throw RuleError(where(name, line) + "table " + t[1] + " " + t[2] + " given twice");
      for (size_t i = 3; i < t.size(); ++i) dst.push_back(to_number(t[i], name, line, "table value"));

    } else {
      throw RuleError(where(name, line) + "unknown keyword '" + kw +
                      "' (lines start with charge, pair, rule or table)");
    }
  }

  // cross-checks: every name used is defined, tables are complete and sorted
  for (const auto &p : pf.pairs) {
    for (const auto &el : {p.el1, p.el2})
      if (!pf.charge.count(el))
        throw RuleError(where(name, p.line) + "element " + el +
                        " has no charge line; add 'charge " + el + " <q>'");
    if (p.asource == PairSpec::RULE && !pf.rules.count(p.aname))
      throw RuleError(where(name, p.line) + "A uses rule:" + p.aname +
                      " but there is no 'rule " + p.aname + " ...' line");
    if (p.asource == PairSpec::TABLE && !pf.tables.count(p.aname))
      throw RuleError(where(name, p.line) + "A uses table:" + p.aname +
                      " but there are no 'table " + p.aname + " ...' lines");
  }
  for (const auto &kv : pf.tables) {
    const Table &tb = kv.second;
    if (tb.R.size() < 2 || tb.K.size() < 2 || tb.A.size() != tb.R.size() * tb.K.size())
      throw RuleError(where(name, tb.line) + "table " + kv.first +
                      " needs R and K lines with >= 2 values each and an A line with nR*nK "
                      "values (R-major)");
    for (const auto *ax : {&tb.R, &tb.K})
      for (size_t i = 1; i < ax->size(); ++i)
        if ((*ax)[i] <= (*ax)[i - 1])
          throw RuleError(where(name, tb.line) + "table " + kv.first +
                          " grid values must be strictly increasing");
  }
  return pf;
}

/* ---------------------------------------------------------------------- */

double dbx_n4(double R, double K)
{
  const double Rmax = K / 16.0 + 0.5;
  const double Rd1 = K / 4.0 + 0.5;
  const double Rd3 = 2.0 + K;
  double n4;
  if (R < Rmax) {
    n4 = R;
  } else if (R < Rd1) {
    n4 = Rmax;
  } else if (R < Rd3) {
    if (K == 0.0) {
      n4 = 1.0 - R;    // as in the reference rule; floored at 0 below
    } else {
      const double x = (2.0 - K / 4.0) / (K + K / 4.0);
      const double m1 = x / (1.0 + x) * (R - Rd1);
      const double m2 = R - Rd1 - m1;
      n4 = (0.5 - K / 16.0 - m1 / 3.0) + (K / 8.0 - 2.0 * m2 / 15.0);
    }
  } else {
    n4 = 0.0;
  }
  // N4 is a fraction of boron atoms
  return std::min(1.0, std::max(0.0, n4));
}

double deng_du_A(double R, double K, const DbxRule &r)
{
  const double Rmax = K / 16.0 + 0.5;
  const double n4 = dbx_n4(R, K);
  if (R <= Rmax) return r.A1 + r.T1 * (Rmax - (Rmax - n4) * (Rmax - n4) / Rmax) + r.T2 * K * K;
  const double T3 = (r.A1 + r.T2 * K * K - r.A2) / Rmax + r.T1;    // erratum form
  return r.A2 + T3 * n4 * Rmax / R;
}

double table_A(const Table &tb, double R, double K, const std::string &tname)
{
  const double eps = 1e-12;
  if (R < tb.R.front() - eps || R > tb.R.back() + eps || K < tb.K.front() - eps ||
      K > tb.K.back() + eps) {
    std::ostringstream m;
    m << "composition R=" << R << " K=" << K << " is outside table " << tname << " (R "
      << tb.R.front() << ".." << tb.R.back() << ", K " << tb.K.front() << ".." << tb.K.back()
      << "): extend the table or fix R/K in pair_style";
    throw RuleError(m.str());
  }
  auto cell = [](const std::vector<double> &ax, double v, double &w) {
    v = std::min(std::max(v, ax.front()), ax.back());
    size_t i = std::upper_bound(ax.begin(), ax.end(), v) - ax.begin();
    if (i == 0) i = 1;
    if (i >= ax.size()) i = ax.size() - 1;
    w = (v - ax[i - 1]) / (ax[i] - ax[i - 1]);
    return i - 1;
  };
  double wr, wk;
  const size_t ir = cell(tb.R, R, wr), ik = cell(tb.K, K, wk);
  const size_t nk = tb.K.size();
  const double a00 = tb.A[ir * nk + ik], a01 = tb.A[ir * nk + ik + 1];
  const double a10 = tb.A[(ir + 1) * nk + ik], a11 = tb.A[(ir + 1) * nk + ik + 1];
  return (1 - wr) * ((1 - wk) * a00 + wk * a01) + wr * ((1 - wk) * a10 + wk * a11);
}

/* ----------------------------------------------------------------------
   V''' of A exp(-r/rho) - C/r^6 is 336 C r^-9 - A/rho^3 exp(-r/rho).
   f(r) = log of the ratio of the two terms is convex with its minimum at
   r = 9 rho, so the inner root lies in (0, 9 rho): bisect f there.
------------------------------------------------------------------------- */

void solve_core(double A, double rho, double C, double &B, double &n, double &D, double &r0)
{
  if (A <= 0.0 || rho <= 0.0 || C <= 0.0)
    throw RuleError("core auto needs A > 0, rho > 0 and C > 0 (V''' has no root otherwise); "
                    "give 'core B n D r0' explicitly or 'core none'");
  auto f = [&](double r) {
    return std::log(336.0 * C) - 9.0 * std::log(r) - std::log(A / (rho * rho * rho)) + r / rho;
  };
  double hi = 9.0 * rho;
  if (f(hi) >= 0.0)
    throw RuleError("core auto: V''' of the Buckingham part has no root (the C/r^6 term "
                    "dominates everywhere); give 'core B n D r0' explicitly or 'core none'");
  double lo = hi;
  while (f(lo) < 0.0) lo *= 0.5;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (f(mid) > 0.0) lo = mid;
    else hi = mid;
  }
  r0 = 0.5 * (lo + hi);

  const double e = A * std::exp(-r0 / rho);
  const double r6 = std::pow(r0, -6.0);
  const double V0 = e - C * r6;
  const double V1 = -e / rho + 6.0 * C * r6 / r0;
  const double V2 = e / (rho * rho) - 42.0 * C * r6 / (r0 * r0);
  // U = b (r0/r)^n + D r^2 with b = B r0^-n; matching U, r U', r^2 U'' at r0
  n = (V2 * r0 * r0 - V1 * r0) / (2.0 * V0 - V1 * r0);
  const double b = (2.0 * V0 - V1 * r0) / (2.0 + n);
  B = b * std::pow(r0, n);
  D = (V0 - b) / (r0 * r0);
}

double resolve_A(const ParamFile &pf, const PairSpec &ps, double R, double K)
{
  if (ps.asource == PairSpec::FIXED) return ps.A;
  if (ps.asource == PairSpec::RULE) return deng_du_A(R, K, pf.rules.at(ps.aname));
  return table_A(pf.tables.at(ps.aname), R, K, ps.aname);
}

Resolved resolve_pair(const ParamFile &pf, const PairSpec &ps, double R, double K)
{
  Resolved r;
  r.active = true;
  r.A = resolve_A(pf, ps, R, K);
  r.rho = ps.rho;
  r.C = ps.C;
  if (ps.core.kind == CoreSpec::FIXED) {
    r.has_core = true;
    r.B = ps.core.B;
    r.n = ps.core.n;
    r.D = ps.core.D;
    r.r0 = ps.core.r0;
  } else if (ps.core.kind == CoreSpec::AUTO) {
    r.has_core = true;
    try {
      solve_core(r.A, r.rho, r.C, r.B, r.n, r.D, r.r0);
    } catch (RuleError &e) {
      throw RuleError(where(pf.name, ps.line) + "pair " + ps.el1 + "-" + ps.el2 + ": " + e.what());
    }
  }
  return r;
}

bool needs_composition(const ParamFile &pf)
{
  for (const auto &p : pf.pairs)
    if (p.asource != PairSpec::FIXED) return true;
  return false;
}

}    // namespace FMPLBS
