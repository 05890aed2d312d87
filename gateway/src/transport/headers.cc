#include "transport/headers.h"

#include <algorithm>

namespace polymesh::gateway {

const HeaderString* HeaderList::Find(absl::string_view name) const {
  for (const Header& header : fields_) {
    if (header.name == name) return &header.value;
  }
  return nullptr;
}

void HeaderList::Remove(absl::string_view name) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [name](const Header& header) { return header.name == name; }),
                fields_.end());
}

bool IsHopByHopHeader(absl::string_view name) {
  return name == "connection" || name == "keep-alive" ||
         name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade" || name == "http2-settings" || name == "host";
}

}  // namespace polymesh::gateway
