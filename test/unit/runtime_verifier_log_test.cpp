// Extracting the reason and the script line from a verifier log.
#include <gtest/gtest.h>

#include "runtime/verifier_log.h"

using gt::rt::diagnose_verifier_log;

// The log kernel 6.18 wrote (log level 1) for a program dereferencing an
// unchecked map lookup.
static const char *kLog =
    "arg#0 reference type('UNKNOWN ') size cannot be determined: -22\n"
    "0: R1=ctx() R10=fp0\n"
    "; BEGIN { @x = 1; @ script.gt:1\n"
    "0: (b7) r1 = 0                        ; R1=0\n"
    "; printf(\"%d\\n\", @m[1]) @ script.gt:3\n"
    "4: (18) r1 = 0xffff8881043df800       ; R1=map_ptr(map=m,ks=8,vs=8)\n"
    "6: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=m,ks=8,vs=8)\n"
    "7: (79) r1 = *(u64 *)(r0 +0)\n"
    "R0 invalid mem access 'map_value_or_null'\n"
    "processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
    "mark_read 0\n";

TEST(RuntimeVerifierLog, ReasonAndLine) {
  auto d = diagnose_verifier_log(kLog);
  EXPECT_EQ(d.reason, "R0 invalid mem access 'map_value_or_null'");
  EXPECT_EQ(d.location, "script.gt:3: printf(\"%d\\n\", @m[1])");
}

TEST(RuntimeVerifierLog, MultiLineReason) {
  auto d = diagnose_verifier_log(
      "; x @ a.gt:2\n"
      "5: (61) r0 = *(u32 *)(r1 +8)\n"
      "invalid access to map value, value_size=8 off=8 size=4\n"
      "R1 min value is outside of the allowed memory range\n"
      "processed 6 insns (limit 1000000)\n\n");
  EXPECT_EQ(d.reason,
            "invalid access to map value, value_size=8 off=8 size=4\n"
            "R1 min value is outside of the allowed memory range");
  EXPECT_EQ(d.location, "a.gt:2: x");
}

TEST(RuntimeVerifierLog, NoLineInfo) {
  auto d = diagnose_verifier_log("back-edge from insn 3 to 1\n");
  EXPECT_EQ(d.reason, "back-edge from insn 3 to 1");
  EXPECT_EQ(d.location, "");
  EXPECT_EQ(diagnose_verifier_log("").reason, "");
}
