/* -*- c++ -*- ----------------------------------------------------------
   FMP-LBS rules: pure functions with no LAMMPS dependency, so they can be
   unit-tested and mirrored one-to-one by pylbs/potential.py.

   - DBX N4(R, K): Dell, Bray, Xiao, J. Non-Cryst. Solids 58 (1983) 1.
   - Deng-Du A(R, K) for B-O: Deng & Du, J. Am. Ceram. Soc. 102 (2019) 2482,
     with the T3 of the erratum (doi 10.1111/jace.16897).
   - core solve: r0 = inner root of V''' of A exp(-r/rho) - C/r^6, then
     B/r^n + D r^2 matched in V, V', V'' at r0.
   - parser for the line-based parameter file (docs/fmp_file_format.md).
------------------------------------------------------------------------- */

#ifndef FMP_LBS_RULES_H
#define FMP_LBS_RULES_H

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace FMPLBS {

// Every problem with a parameter file or a rule evaluation; message names the fix.
class RuleError : public std::runtime_error {
 public:
  explicit RuleError(const std::string &msg) : std::runtime_error(msg) {}
};

struct DbxRule {
  double A1 = 0.0, A2 = 0.0, T1 = 0.0, T2 = 0.0;
  int line = 0;
};

// A(R, K) tabulated on a rectangular grid, values stored R-major: A[iR * nK + iK].
struct Table {
  std::vector<double> R, K, A;
  int line = 0;
};

struct CoreSpec {
  enum Kind { NONE, FIXED, AUTO } kind = NONE;
  double B = 0.0, n = 0.0, D = 0.0, r0 = 0.0;
};

struct PairSpec {
  std::string el1, el2;               // as written in the file
  enum ASource { FIXED, RULE, TABLE } asource = FIXED;
  double A = 0.0;                     // FIXED only
  std::string aname;                  // RULE / TABLE: the rule or table name
  double rho = 0.0, C = 0.0;
  CoreSpec core;
  int line = 0;
};

struct ParamFile {
  std::string name;                   // file name used in messages
  std::vector<std::string> elements;  // in order of their charge lines
  std::map<std::string, double> charge;
  std::vector<PairSpec> pairs;
  std::map<std::string, DbxRule> rules;
  std::map<std::string, Table> tables;

  // pair entry for the unordered element pair, or nullptr
  const PairSpec *find_pair(const std::string &a, const std::string &b) const;
};

// Resolved short-range numbers of one element pair.
struct Resolved {
  bool active = false;                // false: Coulomb only
  double A = 0.0, rho = 1.0, C = 0.0;
  bool has_core = false;
  double B = 0.0, n = 0.0, D = 0.0, r0 = 0.0;
};

ParamFile parse_parameter_text(const std::string &text, const std::string &name);

double dbx_n4(double R, double K);
double deng_du_A(double R, double K, const DbxRule &rule);
double table_A(const Table &table, double R, double K, const std::string &tname);

// r0 from V''' = 0 (inner root), B, n, D from continuity; throws if no root.
void solve_core(double A, double rho, double C, double &B, double &n, double &D, double &r0);

// A of one pair spec at composition (R, K); throws RuleError naming the problem.
double resolve_A(const ParamFile &pf, const PairSpec &ps, double R, double K);

// Full resolution of one pair spec (A and the core).
Resolved resolve_pair(const ParamFile &pf, const PairSpec &ps, double R, double K);

// Does any pair need R, K (rule or table)?
bool needs_composition(const ParamFile &pf);

}    // namespace FMPLBS

#endif
