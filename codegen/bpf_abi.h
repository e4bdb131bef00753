// Kernel ABI numbers the generated code uses (from include/uapi/linux/bpf.h
// and arch/x86/include/asm/ptrace.h). Stable kernel ABI, so spelled out here
// rather than pulled from kernel headers at build time.
#pragma once

#include <cstdint>

namespace gt::codegen::bpf {

// Helper function ids.
inline constexpr int kMapLookupElem = 1;
inline constexpr int kMapUpdateElem = 2;
inline constexpr int kMapDeleteElem = 3;
inline constexpr int kKtimeGetNs = 5;
inline constexpr int kGetSmpProcessorId = 8;
inline constexpr int kGetCurrentPidTgid = 14;
inline constexpr int kGetCurrentUidGid = 15;
inline constexpr int kGetCurrentComm = 16;
inline constexpr int kProbeReadUser = 112;
inline constexpr int kProbeReadKernel = 113;
inline constexpr int kProbeReadUserStr = 114;
inline constexpr int kProbeReadKernelStr = 115;
inline constexpr int kGetPrandomU32 = 7;
inline constexpr int kGetStackid = 27;
inline constexpr int kTailCall = 12;
inline constexpr int kGetCurrentTask = 35;
inline constexpr int kGetCurrentCgroupId = 80;
inline constexpr int kSendSignal = 109;
inline constexpr int kRingbufReserve = 131;
inline constexpr int kRingbufSubmit = 132;
inline constexpr int kForEachMapElem = 164;
inline constexpr int kLoop = 181;
inline constexpr int kMapLookupPercpuElem = 195;

// Map types.
inline constexpr int kMapHash = 1;
inline constexpr int kMapPercpuHash = 5;
inline constexpr int kMapPercpuArray = 6;
inline constexpr int kMapStackTrace = 7;
inline constexpr int kMapProgArray = 3;
inline constexpr int kMapLruHash = 9;
inline constexpr int kMapRingbuf = 27;

// Flags.
inline constexpr uint32_t kNoPrealloc = 1;  // BPF_F_NO_PREALLOC
inline constexpr uint64_t kAny = 0;
inline constexpr uint64_t kRingbufNoWakeup = 1;
inline constexpr uint64_t kRingbufForceWakeup = 2;
inline constexpr uint64_t kUserStack = 1ull << 8;  // BPF_F_USER_STACK
inline constexpr uint32_t kMaxStackFrames = 127;

// struct pt_regs (x86-64) offsets.
inline constexpr uint64_t kPtRegsAx = 80;
inline constexpr uint64_t kPtRegsBp = 32;
inline constexpr uint64_t kPtRegsIp = 128;
inline constexpr uint64_t kPtRegsSp = 152;
// di, si, dx, cx, r8, r9: the System V argument registers.
inline constexpr uint64_t kPtRegsArgs[6] = {112, 104, 96, 88, 72, 64};

}  // namespace gt::codegen::bpf
