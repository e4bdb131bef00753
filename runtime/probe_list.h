// tracerun -l / -lv: the probes that exist on this machine, as bpftrace lists
// them (one "type:target:name" a line).
//
//   uprobe:BIN:GLOB, uretprobe:BIN:GLOB  functions of BIN   (uprobe:/abs/bin:fn)
//   usdt:BIN[:GLOB[:GLOB]]               USDT probes of BIN (usdt:/abs/bin:provider:name)
//   tracepoint:CAT:NAME (globs)          tracefs events     (tracepoint:cat:name)
//   software:GLOB                        software events    (software:name:)
//   no pattern, or a pattern without a known type: tracepoints and software
//   events whose full name matches it (a pattern with no glob character
//   matches as "*PATTERN*").
// -lv adds a tracepoint's fields under it, as its format file declares them
// (without the common_ ones), indented by 4: "    const char * filename".
#pragma once

#include <string>
#include <vector>

namespace gt::rt {

// The listing, one entry a line (verbose: field lines follow their
// tracepoint). Returns false with `error` set when the pattern names
// something that does not exist (a binary that is not there, ...).
bool list_probes(const std::string &pattern, bool verbose, std::vector<std::string> &out,
                 std::string &error);

// The field lines of a tracepoint format file, as -lv prints them.
std::vector<std::string> tracepoint_fields(const std::string &format_file_text);

}  // namespace gt::rt
