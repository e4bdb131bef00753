// Making sense of a kernel verifier log for the user: the reason of a
// rejection and the script line the rejected code came from (codegen emits
// BTF line info with the script source, so the log has lines like
// `; printf("%d\n", x) @ script.gt:3`).
#pragma once

#include <string>

namespace gt::rt {

struct VerifierDiagnosis {
  // The verifier's message: the lines after the last instruction it printed,
  // without the "processed N insns ..." statistics. Several lines are joined
  // with '\n'. Empty when the log is empty.
  std::string reason;
  // "script.gt:3: printf(\"%d\\n\", x)" from the last source line annotation
  // before the error, or "" when the log has none.
  std::string location;
};

VerifierDiagnosis diagnose_verifier_log(const std::string &log);

}  // namespace gt::rt
