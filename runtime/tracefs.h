// Where tracefs is, mounting it when nobody has (fresh machines often have
// neither /sys/kernel/tracing nor debugfs mounted, and we run as root).
#pragma once

#include <string>

namespace gt::tracefs {

// The tracefs root ("/sys/kernel/tracing" or "/sys/kernel/debug/tracing"),
// or "" with `error` set when it is not available and cannot be mounted.
std::string root(std::string &error);

// Contents of events/CATEGORY/EVENT/format, or "" with `error` set.
std::string read_event_format(const std::string &category, const std::string &event,
                              std::string &error);

}  // namespace gt::tracefs
